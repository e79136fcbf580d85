"""What the two zoo end-to-end modules share (tests/core/test_zoo_e2e.py, tests/core/test_zoo_recurrent_e2e.py).

- `litesmith(...)`: a CLI command in this process, the engine's jobs in a thread (``Engine(isolated=False)``);
  `litesmith_process(...)`: the same as a real ``litesmith`` process (the engine's child included).
- `OptimizedRuns` / `AutoRuns`: one ``optimize`` run in every mode (exporting every variant) and one
  ``optimize --auto`` run per zoo kind, made on first use and shared by every test of the module
  (the expensive part of these modules: each converts a model several times).
- oracle helpers: `agreement`, `by_output`, `assert_close`.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest

import core.cli.auto_mode as auto_cli
import core.cli.bench as bench_cli
import core.cli.inspect as inspect_cli
import core.cli.optimize as optimize_cli
from core.cli.main import main
from core.engine import Engine
from tests import zoo

REPO = Path(__file__).resolve().parents[1]
MODES = ("fp32", "dynamic", "float16", "int8", "int16x8")


# ---------------------------------------------------------------------------------------------- running the CLI


@dataclass(frozen=True)
class Run:
    argv: tuple[str, ...]
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)

    def __str__(self) -> str:  # in assertion messages
        return f"litesmith {' '.join(self.argv)} -> exit {self.code}\nstderr:\n{self.err[-3000:]}"


def _inline_engine(args) -> Engine:
    return Engine(isolated=False)


def litesmith(*argv: Any, cache: Path | None = None) -> Run:
    """Run a litesmith command in this process, the engine's jobs in a thread; capture stdout and stderr.

    `cache`: the result cache folder for this command (LITESMITH_CACHE_DIR), else the session's.
    """
    argv = tuple(str(a) for a in argv)
    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as mp:
        for module in (optimize_cli, auto_cli, bench_cli, inspect_cli):
            mp.setattr(module, "make_engine", _inline_engine)
        if cache is not None:
            mp.setenv("LITESMITH_CACHE_DIR", str(cache))
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(list(argv))
    return Run(argv, int(code), out.getvalue(), err.getvalue())


def litesmith_process(*argv: Any, timeout: int = 300) -> subprocess.CompletedProcess:
    """A real ``litesmith`` process (``python -m gui.entry``) in the repository; output captured as text."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run(
        [sys.executable, "-m", "gui.entry", *map(str, argv)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


# ---------------------------------------------------------------------------------------------- shared runs


@dataclass(frozen=True)
class Optimized:
    run: Run
    summary: dict
    eval_path: Path
    exported: dict[str, Path]  # variant name -> exported .tflite


def cache_args(cache: Path | None) -> list[str]:
    return [] if cache is not None else ["--no-cache"]


class OptimizedRuns:
    """kind -> one ``optimize -q fp32,dynamic,float16,int8,int16x8 --out DIR/`` run that exports every variant.

    `case_of(kind)` gives the zoo case (it may skip), `eval_of(case)` the eval file to pass and
    `extra_of(case)` extra arguments (e.g. ``--custom-objects``). Made on first use, then kept.

    `cache`: a result cache folder shared with `AutoRuns` (else ``--no-cache``). Its key is the model's
    and data's bytes, the recipe, the options and the library versions, so auto reuses a conversion
    only when it would have made the same one; conversion itself is tested here, every mode, every kind.
    """

    def __init__(
        self,
        work: Path,
        case_of: Callable[[str], zoo.ZooCase],
        eval_of: Callable[[zoo.ZooCase], Path] = lambda case: case.eval,
        extra_of: Callable[[zoo.ZooCase], list[str]] = lambda case: [],
        cache: Path | None = None,
    ) -> None:
        self.work, self.case_of, self.eval_of, self.extra_of = work, case_of, eval_of, extra_of
        self.cache = cache
        self.done: dict[str, Optimized] = {}

    def __call__(self, kind: str) -> Optimized:
        if kind not in self.done:
            case = self.case_of(kind)
            out = self.work / f"optimize_{kind}"
            out.mkdir()
            evaluation = self.eval_of(case)
            run = litesmith(
                "optimize",
                case.model,
                "-q",
                ",".join(MODES),
                "--data",
                case.calib,
                "--eval-data",
                evaluation,
                "--out",
                f"{out}{os.sep}",
                "--json",
                *cache_args(self.cache),
                *self.extra_of(case),
                cache=self.cache,
            )
            assert run.code in (0, 4), run  # 4: a mode LiteRT cannot build (each test checks which)
            summary = run.json()
            exported = {e["variant"]: Path(e["tflite"]) for e in summary["exports"] if "tflite" in e}
            self.done[kind] = Optimized(run, summary, evaluation, exported)
        return self.done[kind]


class AutoRuns:
    """kind -> (the ``optimize --auto`` run, its exported .tflite or None); same arguments as `OptimizedRuns`
    (with the same `cache`, a candidate ``optimize`` already converted is served from the cache)."""

    def __init__(
        self,
        work: Path,
        case_of: Callable[[str], zoo.ZooCase],
        eval_of: Callable[[zoo.ZooCase], Path] = lambda case: case.eval,
        extra_of: Callable[[zoo.ZooCase], list[str]] = lambda case: [],
        cache: Path | None = None,
    ) -> None:
        self.work, self.case_of, self.eval_of, self.extra_of = work, case_of, eval_of, extra_of
        self.cache = cache
        self.done: dict[str, tuple[Run, Path | None]] = {}

    def __call__(self, kind: str) -> tuple[Run, Path | None]:
        if kind not in self.done:
            case = self.case_of(kind)
            out = self.work / f"auto_{kind}"
            out.mkdir()
            run = litesmith(
                "optimize",
                case.model,
                "--auto",
                "--data",
                case.calib,
                "--eval-data",
                self.eval_of(case),
                "--out",
                f"{out}{os.sep}",
                "--seconds",
                "0.1",
                "--no-prune",
                "--json",
                *cache_args(self.cache),
                *self.extra_of(case),
                cache=self.cache,
            )
            files = sorted(out.glob("*.tflite"))
            self.done[kind] = (run, files[0] if len(files) == 1 else None)
        return self.done[kind]


# ---------------------------------------------------------------------------------------------- oracles


def agreement(task: str, got: np.ndarray, ref: np.ndarray) -> float:
    """Fraction of the task's decisions two outputs share (cosine for regression and embedding)."""
    got, ref = np.asarray(got, np.float64), np.asarray(ref, np.float64)
    if task in ("binary", "multilabel"):
        return float(np.mean((got > 0.5) == (ref > 0.5)))
    if task in ("multiclass", "sequence", "segmentation"):
        return float(np.mean(got.argmax(-1) == ref.argmax(-1)))
    if task == "class_id":
        return float(np.mean(got == ref))
    a, b = got.reshape(-1), ref.reshape(-1)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def by_output(evaluation: dict) -> dict[str, dict]:
    return {o["output"]: o for o in evaluation["outputs"]}


def assert_close(got: Any, want: float, what: str, tol: float = 1e-6) -> None:
    assert got is not None, f"{what}: Litesmith reported nothing, the oracle says {want!r}"
    assert math.isclose(got, want, rel_tol=0, abs_tol=tol), f"{what}: Litesmith {got!r}, oracle {want!r}"
