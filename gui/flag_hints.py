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
    """ "In the app: Recipe → Input sizes (--input-shape)." for a message naming flags; "" for none."""
    flags = flags_named(text)
    if not flags:
        return ""
    return "In the app: " + "; ".join(f"{FLAG_CONTROLS[f]} ({f})" for f in flags) + "."


# Flags only notes and warnings name (no error hint needed): where the app sets the same thing.
_MORE_CONTROLS = {"--selective": "Recipe → Quantization → Selective", "--min-agreement": "Recipe → Auto → Agreement ≥"}
_IN_WORDS = (  # (pattern, replacement) for the phrasings with a value, tried before the plain flags
    (re.compile(r"(?<![\w-])--task\s+([^\s=,;()]+)=(\w+)"), r'Recipe → Model outputs → Scored as "\2" for \1'),
    (
        re.compile(r"(?<![\w-])--input-shape\s+([^\s=,;()]+)=([^\s;()]+?)(?=[\s;()]|[.,]?$|[.,]\s)"),
        r"Recipe → Input sizes (\1: \2)",
    ),
    (re.compile(r"\bgive --data\b"), "choose data in " + FLAG_CONTROLS["--data"]),
)
# A flag, and the CLI placeholder after it (OUTPUT, NAME, FILE.py): the control's name replaces both.
_FLAG_AND_PLACEHOLDER = re.compile(r"(?<![\w-])(--[a-z][a-z0-9-]*)(?![\w-])(\s+[A-Z][A-Z0-9_]*(?:\.[a-z]+)?\b)?")


def gui_words(text: str | None) -> str:
    """`text` (a core note, warning or reason, written for both faces) with the CLI flags it names replaced by
    where the app sets the same thing: "use --task probs=multiclass if these are logits" becomes "use Recipe →
    Model outputs → Scored as "multiclass" for probs if these are logits". Unknown flags stay; None gives ""."""
    if not text:
        return ""
    for pattern, replacement in _IN_WORDS:
        text = pattern.sub(replacement, text)
    controls = {**FLAG_CONTROLS, **_MORE_CONTROLS}

    def control(match: re.Match) -> str:
        flag = match.group(1)
        return controls[flag] if flag in controls else match.group(0)

    return _FLAG_AND_PLACEHOLDER.sub(control, text)


__all__ = ["FLAG_CONTROLS", "app_hint", "flags_named", "gui_words"]
