"""A multi-process run's failure as one line: which process's line, and what it says of the cause."""

from __future__ import annotations


def test_the_line_shown_is_the_error_that_caused_the_others(tmp_path):
    """torchrun stops the other processes once one fails; their 'stopped by a signal' lines come after the cause,
    whichever rank and whenever it wrote."""
    from honed.failures import ERROR, KILLED, STOPPED, first_failure, write_failure

    write_failure(tmp_path, STOPPED, 0, 143, "stopped at step 2 by a signal; checkpoint saved in x")
    write_failure(tmp_path, KILLED, 0, 137, "the process was killed by SIGKILL")
    write_failure(tmp_path, ERROR, 1, 1, "at step 3: ValueError: bad")
    assert first_failure(tmp_path, 1) == ("rank 1: at step 3: ValueError: bad (2 processes failed)", 1)
    (tmp_path / "silent").mkdir()
    line, code = first_failure(tmp_path / "silent", 1)
    assert code == 1 and "--debug" in line


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
