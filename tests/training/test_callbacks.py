"""The training progress bar shows what is known: no loss until one has been logged, then the latest."""

from __future__ import annotations

from types import SimpleNamespace

from honed.training.callbacks import ProgressBar, TokenTally


def _state(step: int) -> SimpleNamespace:
    return SimpleNamespace(is_world_process_zero=True, max_steps=4, global_step=step)


def test_the_bar_shows_no_loss_until_the_first_is_logged_then_the_latest():
    bar = ProgressBar(TokenTally())
    bar.on_train_begin(None, _state(0), None)
    bar.on_step_end(None, _state(1), None)
    assert "loss" not in bar.bar.postfix and "tok_s" in bar.bar.postfix

    bar.on_log(None, _state(1), None, logs={"loss": 2.5})
    bar.on_step_end(None, _state(2), None)
    assert "loss=2.5000" in bar.bar.postfix

    bar.on_log(None, _state(2), None, logs={"loss": float("nan")})  # a real NaN loss stays visible
    bar.on_step_end(None, _state(3), None)
    assert "loss=nan" in bar.bar.postfix
    bar.close()
