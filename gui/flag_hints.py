"""The command line's flags, as the window's controls: a one-line hint under a core error that names a flag.

The engine's messages are written for both faces; where one names a CLI flag
("give --input-shape frames=LEN,6"), the error dialog keeps the message as it is
and adds where the same thing is set in the app.
"""

from __future__ import annotations

import re

# flag -> where the app sets the same thing
FLAG_CONTROLS = {
    "--input-shape": "Recipe → Input sizes",
    "--task": "Recipe → Model outputs → Scored as",
    "--primary-output": "Recipe → Model outputs → Primary output",
    "--signature": "Recipe → Model outputs → Signature",
    "--custom-objects": "File → Load Custom Layer Code…",
    "--data": "Recipe → Data for calibration and evaluation",
    "--label-column": "Recipe → Label column",
}
_FLAG = re.compile(r"(?<![\w-])(--[a-z][a-z0-9-]*)(?![\w-])")


def flags_named(text: str) -> list[str]:
    """The mapped flags `text` names, each once, in the order they appear."""
    found: list[str] = []
    for flag in _FLAG.findall(text or ""):
        if flag in FLAG_CONTROLS and flag not in found:
            found.append(flag)
    return found


def app_hint(text: str) -> str:
    """"In the app: Recipe → Input sizes (--input-shape)." for a message naming flags; "" for none."""
    flags = flags_named(text)
    if not flags:
        return ""
    return "In the app: " + "; ".join(f"{FLAG_CONTROLS[f]} ({f})" for f in flags) + "."


__all__ = ["FLAG_CONTROLS", "app_hint", "flags_named"]
