"""The frame around a command's output run through ``docker exec`` (``ctlplane.drivers.exec_frame``): the
framing script run by the real ``sh``, and any loss at either end read as lost, never as an answer."""

from __future__ import annotations

import subprocess

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ctlplane.drivers.exec_frame import frame, framed, unframed


@pytest.mark.parametrize(("argv", "code", "output"), [
    (["sh", "-c", "echo out; echo err >&2; exit 3"], 3, "out\nerr\n"),
    (["printf", "no newline"], 0, "no newline"),
    (["true"], 0, ""),
    (["sh", "-c", "exit 126"], 126, ""),
])
def test_the_framed_command_run_by_sh_gives_back_its_exit_code_and_output(argv: list[str], code: int,
                                                                          output: str) -> None:
    done = subprocess.run(framed(argv), capture_output=True, text=True, check=False)
    assert done.returncode == code and done.stderr == ""  # stderr joins stdout inside the frame
    assert unframed(done.stdout) == (code, output)
    assert done.stdout == frame(code, output)  # what the fakes answer is what sh prints


@given(st.integers(0, 255), st.text())
def test_a_whole_frame_gives_back_exactly_what_was_framed(code: int, output: str) -> None:
    assert unframed(frame(code, output)) == (code, output)


@given(st.integers(0, 255), st.text(), st.data())
def test_output_cut_at_either_end_is_lost_never_an_answer(code: int, output: str, data: st.DataObject) -> None:
    whole = frame(code, output)
    cut = data.draw(st.integers(1, len(whole)))
    assert unframed(whole[cut:]) is None  # the beginning lost
    assert unframed(whole[:-cut]) is None  # the end lost
    assert unframed("") is None
