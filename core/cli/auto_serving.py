"""`litesmith optimize --auto --rate R --p99-ms X`: choose the variant and the batching policy under load.

After the auto search, the candidates that meet the accuracy/size budget are rebuilt from the
result cache (`optimize_cached`: a hit when the search cached them, else built again in the
engine's child), written to a private temporary folder, and studied under load
(`core.serving.study_serving`, target rate R, p99 budget X). The variant with the highest
sustainable rate, i.e. the most headroom over R, and its batching policy are chosen; it is
the one exported. When none holds the budget at R, the search's own recommendation stays and
the report says so.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from core.cli.common import run_job

if TYPE_CHECKING:  # types only: the serving study and the optimizer load lazily
    from core.optimize.results import Variant
    from core.serving.api import ServingStudy


def add_arguments(group: argparse._ArgumentGroup) -> None:
    """Add `optimize --auto`'s serving options (`--rate`, `--p99-ms`, ...) to the auto mode's argument group."""
    from core.cli.bench import positive_float

    group.add_argument(
        "--rate",
        type=positive_float,
        default=None,
        metavar="R",
        help="with --p99-ms: the request rate to serve; the candidates within the budget are load-"
        "tested and the variant and batching policy with the most headroom are chosen",
    )
    group.add_argument(
        "--p99-ms",
        type=positive_float,
        default=None,
        metavar="X",
        help="with --rate: the p99 latency budget per request, in ms",
    )
    group.add_argument(
        "--serving-seconds",
        type=positive_float,
        default=2.0,
        metavar="S",
        help="with --rate: length of each real load test (default 2)",
    )


def check_arguments(args: argparse.Namespace) -> str | None:
    """A usage message when --rate and --p99-ms do not come together, else None."""
    rate, p99 = getattr(args, "rate", None), getattr(args, "p99_ms", None)
    if (rate is None) != (p99 is None):
        return "--rate and --p99-ms go together"
    return None


@dataclass(frozen=True)
class ServingChoice:
    """The serving study over the candidates and the variant it chose (None: none holds the budget at R)."""

    study: ServingStudy
    chosen: Variant | None


def choose_under_load(engine: Any, args: argparse.Namespace, result: Any, spec: Any) -> ServingChoice | None:
    """Study the budget-meeting candidates of `result` at --rate/--p99-ms; None without --rate or candidates."""
    if getattr(args, "rate", None) is None:
        return None
    from core.cache import ResultCache
    from core.cache_index import optimize_cached
    from core.serving.api import study_serving

    meeting = [c for c in result.candidates if c.meets_budget]
    if not meeting:
        return None
    built = run_job(
        engine,
        optimize_cached,
        args.model,
        [c.recipe for c in meeting],
        spec,
        subject=args.model,
        show_progress=not args.json,
        options=result.settings.session_options(),
        cache=None if args.no_cache else ResultCache(),
    )
    variants = {v.name: v for v in built.variants}
    data = args.eval_data or args.data
    samples = data if data and data.lower().endswith((".npz", ".npy", ".csv")) else None
    with tempfile.TemporaryDirectory(prefix="litesmith-serving-") as folder:
        models = []
        for name, variant in variants.items():
            path = os.path.join(folder, f"{name}.tflite")
            with open(path, "wb") as handle:
                handle.write(variant.tflite_bytes)
            models.append((name, path))
        study = run_job(
            engine,
            study_serving,
            models,
            subject=args.model,
            show_progress=not args.json,
            p99_ms=args.p99_ms,
            rates=[args.rate],
            seconds=args.serving_seconds,
            samples_path=os.path.abspath(samples) if samples else None,
        )
    chosen = variants.get(study.recommended_variant) if study.recommended_variant else None
    if chosen is not None and (study.headroom is None or study.headroom < 0):
        chosen = None  # the best one still falls short of the rate: keep the search's recommendation
    return ServingChoice(study, chosen)


def describe(choice: ServingChoice, rate: float) -> str:
    """The serving part of the auto report, as text."""
    from core.serving.report import format_study

    study = choice.study
    text = format_study(study)
    if choice.chosen is not None and study.recommended_policy is not None and study.headroom is not None:
        text += (
            f"\nunder load: exporting {choice.chosen.name} with {study.recommended_policy.label()}: "
            f"{study.headroom:+.0%} headroom over {rate:,.0f}/s at p99 <= {study.p99_budget_ms:g} ms"
        )
    else:
        text += (
            f"\nunder load: no candidate holds p99 <= {study.p99_budget_ms:g} ms at {rate:,.0f}/s "
            "(simulated); the search's recommendation is kept"
        )
    return text


__all__ = ["ServingChoice", "add_arguments", "check_arguments", "choose_under_load", "describe"]
