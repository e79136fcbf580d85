"""What a Keras model config is checked for without running anything: how deeply its JSON
nests (`json_nesting_depth`, counted without recursion) and which Lambda layers carry
Python bytecode (`find_code_lambdas`; `_refuse_lambdas` refuses them with `LAMBDA_ADVICE`).

`core.models.safety.parse_model_json` parses such a config within its depth limit.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterator

from core.models.read_guard import _bad


LAMBDA_ADVICE = (
    "Lambda layers store Python code, and loading them would run arbitrary code from the file. "
    "Replace the Lambda with a custom layer registered with @keras.saving.register_keras_serializable() "
    "(or rebuild the model without it) and save it again"
)


# -- JSON from model files ---------------------------------------------------------

# Strings (so brackets inside names don't count) and the structural brackets.
_JSON_TOKENS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]')


def json_nesting_depth(text: str, stop_above: int | None = None) -> int:
    """How deeply `text` nests arrays and objects, without recursion.

    Stops counting as soon as the depth passes `stop_above` (that depth is returned).
    """
    depth = deepest = 0
    for match in _JSON_TOKENS.finditer(text):
        token = match.group(0)
        if token in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if stop_above is not None and deepest > stop_above:
                    return deepest
        elif token in "]}":
            depth -= 1
    return deepest


# -- Keras configs ---------------------------------------------------------------


def _walk_json(node: Any) -> Iterator[dict]:
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            yield item
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def find_code_lambdas(config: Any) -> list[str]:
    """Names of the Lambda layers in a Keras model config whose function is Python bytecode.

    Keras 3 writes such a function as ``{"class_name": "__lambda__", "config": {"code": ...}}``;
    tf.keras 2 wrote ``"function": [code, defaults, closure]`` with ``"function_type": "lambda"``.
    A Lambda that names a registered function carries no code and is left to Keras.
    """
    names = []
    for obj in _walk_json(config):
        if obj.get("class_name") != "Lambda" or not isinstance(obj.get("config"), dict):
            continue
        cfg = obj["config"]
        fn = cfg.get("function")
        carries_code = (
            (isinstance(fn, dict) and fn.get("class_name") == "__lambda__")
            or isinstance(fn, (list, tuple))
            or cfg.get("function_type") == "lambda"
        )
        if carries_code:
            names.append(str(cfg.get("name") or obj.get("name") or "?"))
    return names


def _refuse_lambdas(path: str | Path, config: Any) -> None:
    names = find_code_lambdas(config)
    if names:
        listed = ", ".join(repr(n) for n in names[:5]) + (" ..." if len(names) > 5 else "")
        raise _bad(path, f"refused: the model has a Lambda layer with Python code ({listed}). {LAMBDA_ADVICE}.")
