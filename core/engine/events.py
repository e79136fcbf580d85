"""The typed events a job streams to whoever runs it.

Every event is a frozen dataclass so it pickles across the process boundary and
cannot be changed on the way. A job's stream always ends with exactly one
`ResultEvent` or `ErrorEvent`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Union

from core.errors import JobError


@dataclass(frozen=True)
class ProgressEvent:
    """How far the job is. `fraction` is in [0, 1], or None when unknown."""

    fraction: float | None
    stage: str = ""
    message: str = ""


@dataclass(frozen=True)
class LogEvent:
    """A message from the job for the log: `level` is "debug", "info", "warning" or "error"."""

    level: str  # "debug" | "info" | "warning" | "error"
    message: str


@dataclass(frozen=True)
class PartialEvent:
    """A piece of a result that is ready before the job ends (latency samples, one variant).

    `kind` tells the receiver how to read `payload`, e.g. "latency_samples" or "variant".
    """

    kind: str
    payload: Any


@dataclass(frozen=True)
class ResultEvent:
    """The job's last event when it succeeded: `value` is what the job function returned."""

    value: Any


@dataclass(frozen=True)
class ErrorEvent:
    """The job's last event when it failed or was cancelled: the JobError (kind, one-line message, path)."""

    error: JobError


Event = Union[ProgressEvent, LogEvent, PartialEvent, ResultEvent, ErrorEvent]
TERMINAL_EVENTS = (ResultEvent, ErrorEvent)
