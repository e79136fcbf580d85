"""Adapters over the version-sensitive parts of upstream libraries (issue 13, item 2).

Every use of a private or undocumented attribute of an upstream library lives in
one module here, one module per library:

* `core.adapters.litert`: ai_edge_litert's Interpreter internals (the native
  wrapper, the node list, per-subgraph tensor details, delegate partitions);
* `core.adapters.keras_internals`: Keras's functional-graph internals (nodes by
  depth, a Sequential's functional graph, a tensor's producing layer);
* `core.adapters.tf_converter`: TensorFlow's TFLite calibrator and quantizer
  (calibrate a .tflite once, write int8/16x8 from it);
* `core.adapters.ai_edge_quantizer`: every call into ai-edge-quantizer (a 0.x
  API: recipes, the Quantizer, its validation results).

An adapter uses the public API where one exists. Where none does, it makes the
private call and, when the attribute has gone or changed shape, raises
`UpstreamChanged` naming the library, its version and what moved. Callers turn
that into an explicit "unknown (reason)", never a 0 and never a failed job: at
worst the one step (one variant) that needs it fails with that reason.
"""

from __future__ import annotations

import importlib
from importlib import metadata
from typing import Any

from core.errors import ConversionError


class UpstreamChanged(RuntimeError):
    """A private API of an upstream library is missing or changed shape.

    `library` is the distribution name ("ai-edge-litert", "keras"), `what` the
    private name that moved; str(self) is one line for the user, e.g.
    "LiteRT's op details API changed: Interpreter has no _get_ops_details (ai-edge-litert 2.3.0)".
    """

    def __init__(self, library: str, label: str, what: str, detail: str = "", *, missing: str = "") -> None:
        self.library = library
        self.what = what
        self.missing = missing  # the dotted name that is gone ("module.Class.attr"); "" when one changed shape
        self.version = package_version(library)
        extra = f": {detail}" if detail else ""
        super().__init__(f"{label} changed: {what}{extra} ({library} {self.version})")


class UpstreamFallback(ConversionError):
    """A private route failed only because an upstream API moved (`changed`): the caller takes the public route.

    Raised by the optimize-side wrappers of `tf_converter` and `ai_edge_quantizer`; the caller that falls
    back puts `core.optimize.variant_warnings.upstream_fallback(...)` on the variant it builds, so the
    fallback is never silent.
    """

    def __init__(self, message: str, changed: UpstreamChanged, *, details: str = "") -> None:
        super().__init__(message, details=details)
        self.changed = changed


def package_version(distribution: str, *, missing: str = "version unknown") -> str:
    """The installed version of `distribution` from its package metadata (nothing is imported), else `missing`.

    The one package-version lookup: reports ("not installed"), the cache key ("absent"), the About box.
    """
    try:
        return metadata.version(distribution)
    except Exception:  # noqa: BLE001 - a vendored or renamed distribution: the message still names it
        return missing


def resolve_symbol(spec: str, library: str, label: str) -> Any:
    """The object `spec` names: "package.module:attribute" or "package.module:Class.attribute".

    Raises `UpstreamChanged(library, label, ...)` naming the module, or the owner and the
    attribute, that is gone.
    """
    module_name, _, path = spec.partition(":")
    try:
        value: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise UpstreamChanged(
            library, label, f"no module {module_name}", f"{type(exc).__name__}: {exc}"[:200], missing=module_name
        ) from exc
    parts = path.split(".") if path else []
    for depth, attribute in enumerate(parts):
        value = getattr(value, attribute, None)
        if value is None:
            raise UpstreamChanged(
                library,
                label,
                f"{'.'.join([module_name] + parts[:depth])} has no {attribute}",
                missing=".".join([module_name] + parts[: depth + 1]),
            )
    return value


__all__ = ["UpstreamChanged", "UpstreamFallback", "package_version", "resolve_symbol"]
