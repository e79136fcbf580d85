"""What a benchmark feeds its runners: batches from a data file or arrays, matched to the
inputs by name (`load_feed`), and the per-sample shape every runner is set to, free
dimensions resolved from the data or --input-shape, with notes saying which shape is
measured (`plan_inputs` -> `InputPlan`).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Mapping, Sequence

import numpy as np

from core.benchmark.results import MeasuredInput
from core.benchmark.runners import Runner
from core.benchmark.sweep import DataFeed
from core.errors import BadInputError, Cancelled, UsageError
from core.models.interface import ModelInterface

if TYPE_CHECKING:
    from core.data.dataset import Dataset

DataSource = str | os.PathLike[str] | Mapping[str, np.ndarray] | Sequence[np.ndarray] | np.ndarray | None


def _label_note(note: str) -> bool:
    return note.startswith("labels:") or note.startswith("no labels") or "names no output" in note


def _dataset_from_arrays(
    data: Mapping[str, np.ndarray] | Sequence[np.ndarray] | np.ndarray, interface: ModelInterface
) -> Dataset:
    """In-memory arrays matched to the inputs by the .npz rules: names, else x_0.. in input order, else x."""
    from core.data.dataset import Dataset
    from core.data.npz import match_inputs

    if isinstance(data, Mapping):
        arrays = {str(k): np.asarray(v) for k, v in data.items()}
    elif isinstance(data, np.ndarray):
        arrays = {"x": data}
    else:
        items = [np.asarray(a) for a in data]
        arrays = {"x": items[0]} if len(items) == 1 else {f"x_{i}": a for i, a in enumerate(items)}
    mapping, _, how = match_inputs("<arrays>", list(arrays), interface)
    return Dataset(
        x={name: arrays[key] for name, key in mapping.items()}, y=None, source="<arrays>", format="arrays", notes=[how]
    )


def load_feed(data: DataSource, interface: ModelInterface) -> DataFeed | None:
    """Benchmark batches by input NAME from `data`, fitted to `interface`'s inputs.

    A file goes through `core.data.loaders.load_data(path, interface=...)` (arrays
    named after the inputs, else ``x_0, x_1, ...`` in input order, else ``x``;
    .npz, .npy, .csv) and `check_inputs`; arrays in memory (a dict by name, one
    array, or a list in input order) follow the same rules. BadInputError names
    the file and the input when the data does not fit.
    """
    if data is None:
        return None
    from core.data.loaders import check_inputs, load_data

    start = time.perf_counter()
    if isinstance(data, (str, os.PathLike)):
        source = os.fspath(data)
        dataset = load_data(source, interface=interface)
    else:
        source = None
        dataset = _dataset_from_arrays(data, interface)
    fitted = check_inputs(dataset, interface, source if source is not None else "<arrays>")
    feed = DataFeed(dict(fitted.x), source=source, notes=[n for n in fitted.notes if not _label_note(n)])
    feed.load_ms = (time.perf_counter() - start) * 1000
    return feed


@dataclass
class InputPlan:
    """What the runners were set to measure: per-input shapes, and notes saying so."""

    inputs: tuple[MeasuredInput, ...] = ()
    notes: list[str] = field(default_factory=list)


def _shape_text(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(["batch"] + [str(d) for d in shape]) + ")"


def plan_inputs(
    runners: Sequence[Runner], feed: DataFeed | None, input_shapes: dict[str, tuple[int, ...]] | None = None
) -> InputPlan:
    """Set every runner's per-sample input shapes, free dimensions resolved; say which shape is measured.

    With data, a free dimension takes the data's size; without, the documented
    synthetic length (`core.data.synth.synthetic_shape`), never 1. A runner that
    cannot be set up (it cannot load, or the data does not fit it) keeps the
    error as `plan_error`: its configurations report it, the others still run.
    """
    from core.data.loaders import check_fits

    plan = InputPlan()
    seen: dict[str, tuple[int, ...]] = {}
    for runner in runners:
        try:
            interface = runner.feed_interface()
            if feed is not None:
                missing = [n for n in interface.input_names if n not in feed.arrays]
                if missing:
                    raise BadInputError(
                        f"no data for input{'s' if len(missing) > 1 else ''} {', '.join(map(repr, missing))} of "
                        f"{runner.variant}; the data has {', '.join(map(repr, feed.arrays)) or 'none'}",
                        path=feed.source,
                    )
                runner.set_sample_shapes(
                    {
                        spec.name: check_fits(feed.arrays[spec.name][:1], spec, feed.source or "").shape[1:]
                        for spec in interface.inputs
                    }
                )
            else:
                runner.set_sample_shapes(input_shapes or {})
            shapes = runner.sample_shapes()
        except (Cancelled, MemoryError, UsageError):
            raise
        except Exception as exc:  # noqa: BLE001 - reported per configuration by measure_config
            runner.plan_error = exc
            continue
        runner.plan_error = None
        measured = []
        for spec in interface.inputs:
            shape = shapes[spec.name]
            free = spec.free_dims
            source = "model" if not free else ("data" if feed is not None else "--input-shape")
            measured.append(MeasuredInput(spec.name, shape, spec.dtype, free, source))
            if spec.name in seen:
                if seen[spec.name] != shape:
                    plan.notes.append(
                        f"{runner.variant} measured input {spec.name!r} at {_shape_text(shape)}, "
                        f"not {_shape_text(seen[spec.name])} (its fixed shape differs)"
                    )
                continue
            seen[spec.name] = shape
            if not free:
                continue
            axes = ", ".join(str(a) for a in free)
            plural = "es" if len(free) > 1 else "is"
            if source == "data":
                plan.notes.append(
                    f"measured input {spec.name!r} at {_shape_text(shape)}: its free ax{plural} "
                    f"{axes} take{'s' if len(free) == 1 else ''} the data's size"
                )
            else:
                plan.notes.append(
                    f"measured input {spec.name!r} at {_shape_text(shape)}: its free ax{plural} {axes} "
                    f"take{'s' if len(free) == 1 else ''} the sizes given with --input-shape"
                )
        if not plan.inputs:
            plan.inputs = tuple(measured)
    return plan
