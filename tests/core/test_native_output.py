"""core.native_output: what native code writes to fds 1 and 2 is captured, filtered, and never lost on errors."""

from __future__ import annotations

import os
import re

import pytest

from core.native_output import captured_fds, captured_stderr, drop_stderr_lines, quiet_native


def test_captured_fds_takes_what_is_written_to_the_descriptors_themselves(capfd):
    with captured_fds(1, 2) as captured:
        os.write(1, b"out line\n")  # below Python's sys.stdout, as C++ logging writes
        os.write(2, b"err line\n")
    assert captured.text == "out line\nerr line\n"
    os.write(2, b"after\n")  # the descriptors are back where they were
    assert capfd.readouterr().err == "after\n"


def test_tail_keeps_the_last_characters():
    with captured_fds(2, tail=4) as captured:
        os.write(2, b"abcdefgh")
    assert captured.text == "efgh"


def test_captured_stderr_gives_lines_even_when_the_block_raises():
    lines: list[str] = []
    with pytest.raises(RuntimeError):
        with captured_stderr() as lines:
            os.write(2, b"first\nsecond\n")
            raise RuntimeError("boom")
    assert lines == ["first", "second"]


def test_drop_stderr_lines_drops_the_noise_and_writes_the_rest_on(capfd):
    dropped: list[str] = []
    with pytest.raises(ValueError):
        with drop_stderr_lines(re.compile(r"^I\d{4} "), dropped):
            os.write(2, b"I0000 chatter\nreal error\nI0001 more chatter\n")
            raise ValueError("the import failed")
    assert capfd.readouterr().err == "real error\n"  # the error still reaches the user
    assert dropped == ["I0000 chatter", "I0001 more chatter"]


def test_quiet_native_nests_and_keeps_native_output_off_stdout(capfd):
    with quiet_native() as outer:
        os.write(1, b"outer\n")
        with quiet_native() as inner:
            os.write(2, b"inner\n")
    assert inner.text == "inner\n" and outer.text == "outer\n"
    assert capfd.readouterr() == ("", "")
