"""A multi-process run's failure as one line: which process's line, and what it says of the cause."""

from __future__ import annotations


def test_the_line_shown_is_the_one_that_caused_the_others(tmp_path):
    """torchrun stops the other processes once one fails, and a process killed from outside makes its peers fail in
    their collectives: the kill comes first, then errors, then stops, whichever rank and whenever it wrote."""
    from honed.failures import ERROR, KILLED, STOPPED, first_failure, write_failure

    write_failure(tmp_path, STOPPED, 0, 143, "stopped at step 2 by a signal; checkpoint saved in x")
    write_failure(tmp_path, ERROR, 1, 1, "at step 3: ValueError: bad")
    assert first_failure(tmp_path, 1) == ("rank 1: at step 3: ValueError: bad", 1)  # a stopped one did not fail
    write_failure(tmp_path, ERROR, 0, 1, "at step 3: DistBackendError: Connection closed by peer")
    assert first_failure(tmp_path, 1) == ("rank 1: at step 3: ValueError: bad (2 processes failed)", 1)
    write_failure(tmp_path, KILLED, 2, 137, "the process was killed by SIGKILL")
    assert first_failure(tmp_path, 1) == ("rank 2: the process was killed by SIGKILL (3 processes failed)", 137)
    (tmp_path / "silent").mkdir()
    line, code = first_failure(tmp_path / "silent", 1)
    assert code == 1 and "--debug" in line


def test_a_line_that_cannot_be_written_goes_to_stderr(tmp_path, capsys, monkeypatch):
    from honed.failures import FAILURES, report_failure

    monkeypatch.setenv(FAILURES, str(tmp_path / "gone"))  # the launcher's folder no longer exists
    monkeypatch.setenv("RANK", "1")
    assert report_failure(ValueError("bad"), 1) == 1
    assert capsys.readouterr().err == "error: rank 1: ValueError: bad\n"


def test_a_checkpoint_failure_names_the_step_and_the_cause_inside_torchs_wrapper():
    """torch.distributed.checkpoint wraps each rank's error; its own first line names only the ranks."""
    from torch.distributed.checkpoint.api import CheckpointException, _wrap_exception

    from honed.failures import STEP_NOTE, describe

    try:
        raise RuntimeError("\n            Some tensors share memory: [{'lm_head.weight', 'embed_tokens.weight'}].\n")
    except RuntimeError as inner:
        error = CheckpointException("save", {0: _wrap_exception(inner), 1: _wrap_exception(inner)})
    error.add_note(f"{STEP_NOTE}2 (saving its checkpoint)")
    assert describe(error) == ("at step 2 (saving its checkpoint): RuntimeError: Some tensors share memory: "
                               "[{'lm_head.weight', 'embed_tokens.weight'}].")
    assert describe(ValueError("plain")) == "ValueError: plain"
