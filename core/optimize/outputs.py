"""Decisions about a model's named outputs in an optimize session: the primary output, each output's task
(the user's ``--task`` override, checked, else inferred from the evidence) and the non-finite check.

Used by `core.optimize.session.OptimizeSession`; raises BadInputError naming the model (or labels) file.
"""

from __future__ import annotations

import numpy as np

from core.errors import BadInputError, UsageError
from core.evaluation import infer_task, nonfinite_samples
from core.evaluation.tasks import check_task
from core.models.interface import ModelInterface
from core.optimize.results import OutputTask


def choose_primary(interface: ModelInterface, requested: str | None, path: str) -> str:
    """The primary output: `requested` (BadInputError naming `path` when no output has that name), else the first."""
    names = interface.output_names
    if requested is None:
        return names[0]
    if requested not in names:
        raise UsageError(f"--primary-output {requested!r} names no output (outputs: {', '.join(names)})", path=path)
    return requested


def choose_tasks(
    interface: ModelInterface,
    reference: dict[str, np.ndarray],
    labels: dict[str, np.ndarray] | None,
    overrides: tuple[tuple[str, str], ...],
    path: str,
    label_path: str | None = None,
) -> tuple[OutputTask, ...]:
    """Each output's task: the user's override (checked), else inferred from the evidence.

    Labels that fit no task are a BadInputError naming `label_path` (the file the labels came from).
    """
    chosen = dict(overrides)
    if "" in chosen:  # `--task TASK` without a name: the model's only output
        if len(interface.outputs) != 1:
            raise UsageError(
                f"--task {chosen['']} needs an output name: the model has "
                f"{len(interface.outputs)} outputs ({', '.join(interface.output_names)}); "
                "write --task OUTPUT=TASK",
                path=path,
            )
        chosen[interface.output_names[0]] = chosen.pop("")
    unknown = [name for name in chosen if name not in interface.output_names]
    if unknown:
        raise UsageError(
            f"--task names no output {', '.join(map(repr, unknown))} (outputs: {', '.join(interface.output_names)})",
            path=path,
        )
    tasks = []
    for spec in interface.outputs:
        y = None if labels is None else labels.get(spec.name)
        if spec.name in chosen:
            try:  # a task the output's shape cannot have is the command line's error ...
                check_task(chosen[spec.name], spec, reference[spec.name])
            except ValueError as exc:
                raise UsageError(f"--task {spec.name}={chosen[spec.name]}: {exc}", path=path) from None
            try:  # ... labels that do not fit it are the data file's
                check_task(chosen[spec.name], spec, reference[spec.name], y)
            except ValueError as exc:
                raise BadInputError(f"--task {spec.name}={chosen[spec.name]}: {exc}", path=label_path or path) from None
            tasks.append(OutputTask(spec.name, chosen[spec.name], "set with --task"))
        else:
            try:
                choice = infer_task(spec, reference[spec.name], y)
            except ValueError as exc:
                raise BadInputError(
                    f"the labels do not fit the model's outputs: {exc}", path=label_path or path
                ) from None
            tasks.append(OutputTask(spec.name, choice.task, choice.reason))
    return tuple(tasks)


def nonfinite_message(outputs: dict[str, np.ndarray], what: str) -> str | None:
    """ "outputs NaN or Inf for N of M samples" when any output is not finite, else None."""
    bad = nonfinite_samples(outputs)
    if not bad:
        return None
    total = int(np.asarray(next(iter(outputs.values()))).shape[0])
    names = [
        n for n, y in outputs.items() if np.issubdtype(np.asarray(y).dtype, np.floating) and not np.all(np.isfinite(y))
    ]
    return f"{what} outputs NaN or Inf for {bad} of {total} samples (output {', '.join(map(repr, names))})"
