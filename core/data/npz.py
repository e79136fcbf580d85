"""`.npz` and `.npy` data files, matched to the model's inputs and outputs by name.

The rules are in `core.data.loaders`' docstring. Files are read with
``allow_pickle=False``: object arrays are refused.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from core.data.dataset import Dataset, as_input_dtype, bad, quoted
from core.errors import BadInputError
from core.models.interface import ModelInterface, numeric_key

POSITIONAL = re.compile(r"x_(\d+)\Z")
LABEL_PREFIX = "y_"


def _is_label(name: str) -> bool:
    return name == "y" or name.startswith(LABEL_PREFIX)


def match_inputs(
    path: str | Path, names: list[str], interface: ModelInterface
) -> tuple[dict[str, str], str | None, str]:
    """Pair each model input with an array of the file; never by position except the x_0.. rule.

    Returns ({input name: array name}, legacy label array or None, a note saying how).
    Raises BadInputError naming the file, its arrays and the names it needed.
    """
    inputs = interface.input_names
    count = len(inputs)

    def refuse(why: str) -> BadInputError:
        wanted = f"arrays named {quoted(inputs)}" + (
            f" (or x_0..x_{count - 1} in that order)" if count > 1 else " (or 'x')"
        )
        return bad(
            path,
            f"cannot match the arrays to the model's inputs: {why}. The file has arrays "
            f"{quoted(names)}; the model's inputs need {wanted}",
        )

    by_name = [n for n in inputs if n in names]
    if by_name:
        if len(by_name) < count:
            raise refuse(f"arrays for {quoted(by_name)} but none for {quoted(n for n in inputs if n not in names)}")
        return {n: n for n in inputs}, None, "inputs matched by name: " + quoted(inputs)
    positional = sorted((n for n in names if POSITIONAL.match(n)), key=numeric_key)
    if positional:
        expected = [f"x_{i}" for i in range(count)]
        if positional != expected:
            raise refuse(
                f"arrays {quoted(positional)} are not exactly x_0..x_{count - 1} for {count} "
                f"input{'s' if count > 1 else ''}"
            )
        if "x" in names:
            raise refuse("both 'x' and x_0.. arrays: which feeds the model is ambiguous")
        if count > 1 and not interface.ordered_inputs:
            raise refuse(
                "this model's inputs have no order of their own (a SavedModel or .tflite signature "
                "lists them by name), so x_0.. would be a guess; name the arrays after the inputs"
            )
        mapping = dict(zip(inputs, positional))
        return (
            mapping,
            None,
            (
                "inputs from x_0..x_{} in the model's input order: ".format(count - 1)
                + ", ".join(f"{a} -> {i!r}" for i, a in mapping.items())
            ),
        )
    if "x" in names:
        if count == 1:
            return {inputs[0]: "x"}, None, f"array 'x' feeds input {inputs[0]!r}"
        raise refuse(f"one array 'x' for a model with {count} inputs")
    if count == 1:
        candidates = [n for n in names if not _is_label(n)]
        if not candidates:
            raise refuse("no input array (only labels)")
        legacy = candidates[1] if len(candidates) > 1 and not any(_is_label(n) for n in names) else None
        note = (
            f"legacy layout (no 'x'): first array {candidates[0]!r} feeds input {inputs[0]!r}"
            + (f", second array {legacy!r} holds the labels" if legacy else "")
            + "; name the arrays x and y to be explicit"
        )
        return {inputs[0]: candidates[0]}, legacy, note
    raise refuse("no array is named after an input, and there are no x_0.. arrays")


def match_labels(
    path: str | Path,
    names: list[str],
    used: set[str],
    interface: ModelInterface,
    primary: str | None,
    legacy: str | None,
) -> tuple[dict[str, str], list[str]]:
    """Pair outputs with label arrays: `y_<output>` per output, `y` for the primary output.

    Returns ({output name: array name}, notes); every array left over gets a note.
    """
    outputs = interface.output_names
    plan = {o: LABEL_PREFIX + o for o in outputs if LABEL_PREFIX + o in names and LABEL_PREFIX + o not in used}
    notes = []
    if "y" in names and "y" not in used:
        if primary is None:
            notes.append(UNORDERED_Y if len(interface.outputs) > 1 else "array 'y' ignored: the model has no outputs")
        elif primary in plan:
            raise bad(path, f"both 'y' and {plan[primary]!r} label the primary output {primary!r}; keep one")
        else:
            plan[primary] = "y"
    elif legacy is not None and primary is not None:
        plan[primary] = legacy
    plan = {o: plan[o] for o in outputs if o in plan}  # the model's output order
    for name in names:
        if name in used or name in plan.values() or (name == "y" and primary is None):
            continue
        if name.startswith(LABEL_PREFIX):
            notes.append(f"array {name!r} names no output (outputs: {', '.join(outputs)}); ignored")
        else:
            notes.append(f"array {name!r} is neither an input nor labels; ignored")
    if plan:
        notes.insert(
            0,
            "labels: "
            + ", ".join(f"{a} -> {o!r}" + (" (the primary output)" if o == primary else "") for o, a in plan.items()),
        )
    else:
        notes.insert(0, "no labels (arrays y or y_<output name>): unlabelled")
    return plan, notes


UNORDERED_Y = (
    "array 'y' ignored: the model has several outputs and no output order of its own (a signature "
    "lists them by name), so which one 'y' labels would be a guess; name it with --primary-output "
    "OUTPUT, or store the labels as y_<output>"
)


def load_npz(path: str | Path, interface: ModelInterface, primary: str | None) -> Dataset:
    """Inputs {input name: (n, ...)} and labels {output name: (n, ...)} from an `.npz` file."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            names = list(archive.files)
            if not names:
                raise bad(path, "the .npz file holds no arrays")
            inputs, legacy, how = match_inputs(path, names, interface)
            labels, notes = match_labels(path, names, set(inputs.values()), interface, primary, legacy)
            x = {i: as_input_dtype(archive[a], interface.input(i), path, f"array {a!r}") for i, a in inputs.items()}
            y = {o: archive[a] for o, a in labels.items()}
    except BadInputError:
        raise
    except ValueError as exc:  # object arrays need pickle: refused
        raise bad(path, f"cannot read this .npz without unpickling ({exc}); save plain numeric arrays") from None
    except (OSError, EOFError) as exc:
        raise bad(path, f"not a readable .npz file: {exc}") from None
    return Dataset(x=x, y=y or None, source=str(path), format="npz", notes=[how] + notes, primary=primary)


def load_npy(path: str | Path, interface: ModelInterface, primary: str | None) -> Dataset:
    """One input array (n, ...) from a `.npy` file: single-input models only, no labels."""
    if len(interface.inputs) != 1:
        raise bad(
            path,
            f"a .npy file holds one array, but the model has {len(interface.inputs)} inputs "
            f"({quoted(interface.input_names)}); use an .npz with one array named after each input",
        )
    try:
        x = np.load(path, allow_pickle=False)
    except ValueError as exc:
        raise bad(path, f"cannot read this .npy without unpickling ({exc}); save a plain numeric array") from None
    except (OSError, EOFError) as exc:
        raise bad(path, f"not a readable .npy file: {exc}") from None
    if not isinstance(x, np.ndarray):
        raise bad(path, "the .npy file does not hold an array")
    spec = interface.inputs[0]
    x = as_input_dtype(x, spec, path, "the array")
    return Dataset(
        x={spec.name: x},
        y=None,
        source=str(path),
        format="npy",
        notes=["inputs only (.npy has no labels)"],
        primary=primary,
    )
