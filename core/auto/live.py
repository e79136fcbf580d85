"""Auto mode's opened model: the optimize session, opened only when something must be built.

A warm run (everything in the result cache) never opens the model; `LiveSession.ensure`
opens `core.optimize.session.OptimizeSession` the first time a candidate is built or the
setup is not cached.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from core.data.loaders import DataSpec
from core.engine.context import CancelToken, Reporter
from core.optimize.recipes import Recipe
from core.optimize.results import Variant

if TYPE_CHECKING:  # the session pulls in TensorFlow-side modules: imported when first needed
    from core.optimize.passes import PipelineContext
    from core.optimize.session import OptimizeSession, SessionOptions


class LiveSession:
    """The opened session (model, data, references): made only when something must be built."""

    def __init__(
        self, model_path: str, data: DataSpec, options: SessionOptions, progress: Reporter, cancel: CancelToken
    ) -> None:
        self.model_path, self.data, self.options = model_path, data, options
        self.progress, self.cancel = progress, cancel
        self.session: OptimizeSession | None = None

    @property
    def ctx(self) -> PipelineContext | None:
        """The opened session's pipeline context; None while the model has not been opened."""
        return None if self.session is None else self.session.ctx

    def ensure(self) -> OptimizeSession:
        """The opened session, opening it (model, data, reference outputs) on the first call.

        Raises what `OptimizeSession.open` raises (`BadInputError` for a model or data that does not load).
        """
        if self.session is None:
            from core.optimize.session import OptimizeSession

            session = OptimizeSession(self.model_path, self.data, self.options, self.progress, self.cancel)
            try:
                session.open()
            except BaseException:
                session.close()
                raise
            self.session = session
        return self.session

    def flops(self) -> int | None:
        """FLOPs per sample at the shapes the data was evaluated at; None unless every layer was counted.

        A partial or per-time-step figure is never returned, so no reason or decision quotes it.
        """
        session = self.ensure()
        source = session.source
        if source.keras_model is None:
            return None
        try:
            from core.models.flops import count_keras_macs

            description = getattr(getattr(session, "prepared", None), "description", None)
            shapes = dict(getattr(description, "input_shapes", ()) or ())
            count = count_keras_macs(source.keras_model, shapes or None)
            return count.flops if count.complete else None
        except Exception:  # noqa: BLE001 - FLOPs are informative only
            return None

    def build(self, recipe: Recipe, progress: Reporter, baseline_size: int | None) -> Variant:
        """Build, convert and evaluate `recipe` (opens the session first); raises `ConversionError` on failure."""
        return self.ensure().build(recipe, progress, baseline_size)

    def close(self) -> None:
        """Close the session if one was opened."""
        if self.session is not None:
            self.session.close()
