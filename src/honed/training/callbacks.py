"""Trainer callbacks: metrics.jsonl for every later command, and a progress bar people can read."""

from __future__ import annotations

import json
import logging
from collections import deque
import math
import time
from pathlib import Path

from transformers import TrainerCallback

from honed.hardware import peak_memory_mb
from honed.metrics import score
from honed.rundir import write_status

log = logging.getLogger("honed")


class TokenTally:
    """Real (non-pad) tokens and all positions fed to training, counted when a micro-batch is trained on."""

    def __init__(self):
        self.real = 0
        self.positions = 0
        self.pending: deque[tuple[int, int]] = deque()

    def collated(self, real: int, positions: int) -> None:
        """A packed batch's counts, noted by its collator; the Trainer fetches batches ahead of training on them."""
        self.pending.append((real, positions))

    def add(self, inputs) -> None:
        if isinstance(inputs, list):  # GRPO's rows, before their answers exist: its rollout counts them
            return
        mask = inputs.get("attention_mask")
        if mask is not None:
            real, positions = int(mask.sum()), mask.numel()
        elif self.pending:
            real, positions = self.pending.popleft()
        else:
            real = positions = inputs["input_ids"].numel()
        self.real += real
        self.positions += positions

    @property
    def padding_share(self) -> float:
        return 1 - self.real / self.positions if self.positions else 0.0


class MetricsLogger(TrainerCallback):
    """Appends every log event (loss, lr, grad norm, eval loss, real tokens/s) to metrics.jsonl as it happens."""

    def __init__(self, path: Path, tally: TokenTally):
        self.path = path
        self.tally = tally
        self.start = time.perf_counter()
        self.last_tokens = 0
        self.last_time = self.start

    def on_train_begin(self, args, state, control, **kwargs):
        self.start = self.last_time = time.perf_counter()

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero or not logs:
            return
        now = time.perf_counter()
        tokens = self.tally.real
        row = {"step": state.global_step, "epoch": round(state.epoch or 0, 4), "time_s": round(now - self.start, 3)}
        row.update(logs)
        if "loss" in logs:
            row["real_tokens"] = tokens
            row["tokens_per_s"] = round((tokens - self.last_tokens) / max(now - self.last_time, 1e-9), 1)
            row["padding_share"] = round(self.tally.padding_share, 4)
            self.last_tokens, self.last_time = tokens, now
        with self.path.open("a") as out:
            out.write(json.dumps(row, allow_nan=True) + "\n")  # NaN stays visible, never hidden


class StatusKeeper(TrainerCallback):
    """The step reached, in the run's status.json, after every optimizer step (rundir.recording keeps the state)."""

    def __init__(self, run_dir: Path):
        self.run_dir = run_dir

    def on_step_end(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            write_status(self.run_dir, "running", step=state.global_step, max_steps=state.max_steps, **peak_memory_mb())


class ProgressBar(TrainerCallback):
    """One tqdm bar with loss, real (non-pad) tokens/s and ETA, in place of the Trainer's raw log dicts."""

    def __init__(self, tally: TokenTally):
        self.tally = tally
        self.bar = None
        self.start = 0.0
        self.loss: float | None = None  # None until the first logged loss: the bar shows none rather than nan

    def on_train_begin(self, args, state, control, **kwargs):
        from tqdm.auto import tqdm

        if state.is_world_process_zero:
            self.bar = tqdm(total=state.max_steps, desc="train", unit="step", dynamic_ncols=True)
            self.start = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        if self.bar is None:
            return
        elapsed = max(time.perf_counter() - self.start, 1e-9)
        loss = {} if self.loss is None else {"loss": f"{self.loss:.4f}"}
        self.bar.set_postfix(
            **loss, tok_s=f"{self.tally.real / elapsed:.0f}", pad=f"{self.tally.padding_share:.0%}"
        )
        self.bar.update(state.global_step - self.bar.n)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs and "loss" in logs:
            self.loss = logs["loss"]
        if self.bar is not None and logs and "eval_loss" in logs:
            self.bar.write(f"step {state.global_step}: eval_loss {logs['eval_loss']:.4f}")

    def on_train_end(self, args, state, control, **kwargs):
        self.close()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class EarlyStopping(TrainerCallback):
    """Stops training when a validation metric has not improved for `patience` evaluations.

    transformers' EarlyStoppingCallback needs checkpoints and load_best_model_at_end; this one only watches.
    """

    def __init__(self, metric: str, patience: int):
        self.metric = metric
        self.patience = patience
        # The Trainer's loss, or a score whose direction the metrics table gives (the schema admits no other).
        self.lower_is_better = metric == "eval_loss" or not score(metric.removeprefix("eval_")).higher_is_better
        self.best: float | None = None
        self.bad_evaluations = 0

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        value = (metrics or {}).get(self.metric)
        if value is None or not math.isfinite(value):
            return
        improved = self.best is None or (value < self.best if self.lower_is_better else value > self.best)
        self.best, self.bad_evaluations = (value, 0) if improved else (self.best, self.bad_evaluations + 1)
        if self.bad_evaluations >= self.patience and state.global_step < state.max_steps:
            log.info("early stopping at step %d: %s has not improved on %.4f for %d evaluations",
                     state.global_step, self.metric, self.best, self.patience)
            control.should_training_stop = True
