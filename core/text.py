"""Making text from a model file safe to show on a terminal, in a log or in a dialog.

A model file is untrusted: its layer names, tensor names, configs and the
messages of exceptions that quote them can hold newlines (a forged
"Traceback (most recent call last):" on the next line), ANSI escape sequences
(colours, cursor moves, terminal title changes, hyperlinks), carriage returns
that overwrite what was printed, or Unicode bidi controls that reorder what a
reader sees. Every path that shows such text goes through `escape_line` (one
line: errors, log events, table cells) or `escape_text` (several lines: the
folded-away details of an error).

Control characters become visible escapes in the style of Python string
literals: ``\\n``, ``\\r``, ``\\t``, ``\\x1b``, ``\\x7f``, ``\\u202e``.
Backslashes are left as they are, so Windows paths stay readable.
"""

from __future__ import annotations

import re

_SHORT = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}

# C0 controls, DEL, C1 controls; Unicode line/paragraph separators; bidi embeddings,
# overrides and isolates; zero-width and BOM characters that hide text; lone surrogates
# (JSON can spell them, file names that aren't UTF-8 decode to them, and a strict
# UTF-8 stdout can't print them).
_CLASS = "\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\u200b-\u200f\u061c\ufeff\ud800-\udfff"
_UNSAFE = re.compile(f"[\x00-\x0a{_CLASS}]")
_UNSAFE_KEEP_NEWLINES = re.compile(f"[\x00-\x09{_CLASS}]")


def _visible(match: re.Match) -> str:
    char = match.group(0)
    if char in _SHORT:
        return _SHORT[char]
    code = ord(char)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def escape_line(value: object, limit: int | None = None) -> str:
    """`value` as one line with every control character shown as a visible escape.

    With `limit`, the result is cut to at most that many characters (an ellipsis
    marks the cut), never in the middle of an escape.
    """
    text = value if isinstance(value, str) else str(value)
    escaped = _UNSAFE.sub(_visible, text)
    if limit is not None and len(escaped) > limit:
        cut = escaped[: max(limit - 1, 0)]
        tail = cut.rfind("\\")
        if tail >= 0 and tail >= len(cut) - 6:  # don't leave half of "\u202e"
            cut = cut[:tail]
        escaped = cut + "…"
    return escaped


def escape_text(value: object) -> str:
    """Several lines: each line escaped like `escape_line`, the line breaks kept.

    ``\\r\\n`` counts as a line break; a lone ``\\r`` (which would overwrite a
    line on a terminal) is shown as ``\\r``.
    """
    text = value if isinstance(value, str) else str(value)
    return _UNSAFE_KEEP_NEWLINES.sub(_visible, text.replace("\r\n", "\n"))


def first_line(value: object, limit: int = 300) -> str:
    """The first non-empty line of an exception or text, escaped and cut to `limit` characters."""
    text = value if isinstance(value, str) else str(value)
    if isinstance(value, BaseException):
        text = str(value).strip() or type(value).__name__
    for line in text.strip().splitlines():
        if line.strip():
            return escape_line(line.strip(), limit)
    return escape_line(text, limit)
