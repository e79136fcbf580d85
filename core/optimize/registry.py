"""The one step registry: each recipe step kind is declared once, where its pass is implemented.

A pass registers itself with its name (the step's ``kind`` in recipe JSON), its
config dataclass, its parser (the step's JSON ``config`` object -> a config) and
its run function, Olive style::

    @register_pass("convert", config=ConvertConfig)
    class ConvertPass(Pass):
        def run(self, state, config, ctx): ...

    @register_pass("toy_offset", config=ToyConfig, parse=toy_from_dict)
    def toy_offset(state, config, ctx): ...

Everything that knows step kinds reads this registry and nothing else: recipe
parsing and checking (`core.optimize.recipes.Step.from_dict`, hence recipe files
and the CLI's ``--recipe``), the desktop app's compression controls
(`gui.recipe.compression_kinds`) and the session that runs a recipe's steps
(`core.optimize.session.OptimizeSession.build_state`).

The built-in passes (`BUILTIN_MODULES`) are imported on first use of `get`,
`lookup`, `kinds` or `is_registered`, not when this module is imported: they
import this module to register themselves. Importing them needs no TensorFlow
(passes import it when they run), so recipes are still parsed and checked
without it, in the engine's parent too. No Qt.

A pass outside `BUILTIN_MODULES` (a plugin) should register at import of the
module that defines its config class: the engine's child imports that module to
unpickle the recipe it is sent, and so learns the pass too.
"""

from __future__ import annotations

import dataclasses
import importlib
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from core.optimize.recipes import RecipeError
from core.plain_data import from_plain

if TYPE_CHECKING:
    from core.optimize.pass_context import PipelineContext, WorkState

__all__ = [
    "BUILTIN_MODULES",
    "Pass",
    "RegisteredPass",
    "RegistryError",
    "RunFunction",
    "dataclass_parser",
    "get",
    "is_registered",
    "kinds",
    "lookup",
    "register_pass",
    "unregister_pass",
]

# The modules whose passes ship with Litesmith, imported on first use (in this order: it is the order
# `kinds()` lists them in, and so the order of "known: ..." in error messages).
BUILTIN_MODULES = ("core.optimize.passes", "core.optimize.compress_passes")

RunFunction = Callable[["WorkState", Any, "PipelineContext"], None]
Parser = Callable[[Mapping[str, Any]], Any]
T = TypeVar("T")


class RegistryError(RuntimeError):
    """A pass that cannot be registered: its kind is taken already, or the registration is malformed.

    A programming error (raised when the registering module is imported), not bad user input.
    """


@dataclass(frozen=True)
class RegisteredPass:
    """One step kind: what the registry knows about it.

    kind: the step's name in recipes (``{"kind": "convert", ...}``).
    config_class: its frozen config dataclass (a `Step`'s ``config`` is one).
    parse: the step's JSON ``config`` object (a mapping; ``{}`` when absent) -> a
        config_class instance. Raises `RecipeError`, `ValueError`, `TypeError` or
        `core.errors.BadInputError` for a bad one (`Step.from_dict` words them).
    run: ``run(state, config, ctx)`` changes the variant in the making
        (`core.optimize.pass_context.WorkState`) in place; raises
        `core.errors.ConversionError` for a variant that cannot be made.
    origin: the module and name that registered it (for messages).
    """

    kind: str
    config_class: type
    parse: Parser
    run: RunFunction
    origin: str


class Pass:
    """Base of the class-style passes: `register_pass` sets `kind` and `config_class` and registers `run`
    of one instance (so a pass instance may keep state across the variants of a process)."""

    kind: ClassVar[str] = ""
    config_class: ClassVar[type] = object

    def run(self, state: "WorkState", config: Any, ctx: "PipelineContext") -> None:
        """Apply the step to `state` (in place). Raises ConversionError when this variant cannot be made."""
        raise NotImplementedError


_PASSES: dict[str, RegisteredPass] = {}
_LOCK = threading.RLock()
_loaded = False


def register_pass(kind: str, *, config: type, parse: Parser | None = None) -> Callable[[T], T]:
    """Decorator: register a `Pass` subclass (one instance's `run`) or a ``run(state, config, ctx)`` function.

    `config` is the step's config dataclass; `parse` (default `dataclass_parser(config)`)
    reads the step's JSON ``config`` object into one. Returns the decorated object
    unchanged (a class also gets its `kind` and `config_class` set).
    Raises RegistryError when `kind` is registered already (by any module, this
    one included), is not a non-empty string, or `config` is not a dataclass.
    """
    if not isinstance(kind, str) or not kind:
        raise RegistryError(f"a step kind must be a non-empty string, got {kind!r}")
    if not (isinstance(config, type) and dataclasses.is_dataclass(config)):
        raise RegistryError(f"step {kind!r}: config must be a dataclass, got {config!r}")
    parser = parse if parse is not None else dataclass_parser(config)

    def decorate(target: T) -> T:
        origin = f"{getattr(target, '__module__', '?')}.{getattr(target, '__qualname__', repr(target))}"
        run: RunFunction
        if isinstance(target, type) and issubclass(target, Pass):
            target.kind = kind
            target.config_class = config
            run = target().run
        elif callable(target) and not isinstance(target, type):
            run = target
        else:
            raise RegistryError(
                f"step {kind!r}: register a Pass subclass or a run(state, config, ctx) function, not {target!r}"
            )
        with _LOCK:
            taken = _PASSES.get(kind)
            if taken is not None:
                raise RegistryError(f"step kind {kind!r} is registered twice: by {taken.origin} and by {origin}")
            _PASSES[kind] = RegisteredPass(kind=kind, config_class=config, parse=parser, run=run, origin=origin)
        return target

    return decorate


def unregister_pass(kind: str) -> RegisteredPass:
    """Remove `kind` from the registry and return its entry (a plugin's or a test's own pass).

    Raises KeyError when it is not registered.
    """
    _ensure_loaded()
    with _LOCK:
        return _PASSES.pop(kind)


def get(kind: str) -> RegisteredPass | None:
    """The registered pass of `kind`, or None."""
    _ensure_loaded()
    return _PASSES.get(kind)


def lookup(kind: str) -> RegisteredPass:
    """The registered pass of `kind`; RecipeError "unknown step kind 'x'; known: ..." when there is none."""
    entry = get(kind)
    if entry is None:
        raise RecipeError(f"unknown step kind {kind!r}; known: {', '.join(kinds())}")
    return entry


def is_registered(kind: str) -> bool:
    """True when a pass of `kind` is registered."""
    return get(kind) is not None


def kinds() -> tuple[str, ...]:
    """Every registered step kind, in registration order (the built-ins first, in `BUILTIN_MODULES` order)."""
    _ensure_loaded()
    return tuple(_PASSES)


def dataclass_parser(config_class: type, nested: Mapping[str, type] | None = None) -> Parser:
    """The default parser: a JSON object -> `config_class(**fields)`.

    Unknown fields are refused (RecipeError naming them), JSON arrays become tuples,
    missing fields keep their defaults, and a field named in `nested` (field -> a
    dataclass) is parsed the same way when it is not null. Values are checked by the
    config's own `validate()` (called by `Recipe.validate`), not here. The reading is
    `core.plain_data.from_plain` (the one dict -> dataclass converter).
    """
    inner = dict(nested or {})

    def parse(data: Mapping[str, Any]) -> Any:
        return from_plain(config_class, data, nested=inner, error=RecipeError)

    return parse


def _ensure_loaded() -> None:
    """Import the built-in pass modules once (they register on import); a no-op afterwards."""
    global _loaded
    if _loaded:
        return
    with _LOCK:
        if _loaded:
            return
        for name in BUILTIN_MODULES:
            importlib.import_module(name)
        _loaded = True  # only once all are in: another thread must never see half the built-ins
