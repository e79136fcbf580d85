"""Run jobs in a supervised child process; stream typed events back.

Public names: `Engine`, `JobHandle`, `CancelToken`, `Reporter` and the events.
"""

from core.engine.context import CancelToken, InlineChild, Reporter, null_reporter, runs_in_parent
from core.engine.events import ErrorEvent, Event, LogEvent, PartialEvent, ProgressEvent, ResultEvent
from core.engine.jobs import JobHandle
from core.engine.supervisor import Engine

__all__ = [
    "CancelToken",
    "Engine",
    "ErrorEvent",
    "Event",
    "InlineChild",
    "JobHandle",
    "LogEvent",
    "PartialEvent",
    "ProgressEvent",
    "Reporter",
    "ResultEvent",
    "null_reporter",
    "runs_in_parent",
]
