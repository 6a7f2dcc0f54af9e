"""Runs that end well when something goes wrong: a signal saves a checkpoint first; a NaN stops the run at its step."""

from __future__ import annotations

import logging
import math
import signal

from transformers import TrainerCallback

from honed.errors import UserError

log = logging.getLogger("honed")

# Exit codes of `honed train`, documented in README: 128 + the signal's number, as shells report a killed process.
EXIT_SIGINT = 130
EXIT_SIGTERM = 143
EXIT_NONFINITE = 3
SKIPS_IN_A_ROW = 3


class Interrupted(UserError):
    """Training stopped on a signal after saving a complete checkpoint."""

    stopped_by_signal = True

    def __init__(self, message: str, exit_code: int):
        super().__init__(message)
        self.exit_code = exit_code


class NonFinite(UserError):
    """The loss or the gradient norm stopped being a number."""

    exit_code = EXIT_NONFINITE


class SaveOnSignal(TrainerCallback):
    """SIGTERM/SIGINT finish the current optimizer step, save a checkpoint, and stop. A second signal while that
    happens is noted and ignored: the save is not cut short, so it cannot be left half written."""

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self):
        self.received: int | None = None
        self.previous: dict = {}

    def on_train_begin(self, args, state, control, **kwargs):
        for signum in self.SIGNALS:
            try:
                self.previous[signum] = signal.signal(signum, self._handle)
            except ValueError:  # not the main thread (e.g. a notebook's worker): leave signals alone
                return

    def on_train_end(self, args, state, control, **kwargs):
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)
        self.previous.clear()

    def _handle(self, signum, frame):
        if self.received is None:
            self.received = signum
            log.warning("%s received: finishing this step, saving a checkpoint, then stopping",
                        signal.Signals(signum).name)
        else:
            log.warning("%s received again: still saving the checkpoint; it will stop right after",
                        signal.Signals(signum).name)

    def on_step_end(self, args, state, control, **kwargs):
        self.received = agreed_signal(self.received)
        if self.received is not None:
            control.should_save = True
            control.should_training_stop = True
        return control

    def exit_code(self) -> int:
        return EXIT_SIGINT if self.received == signal.SIGINT else EXIT_SIGTERM


def agreed_signal(received: int | None) -> int | None:
    """The signal any process has received by the end of this step, the same answer in every process. torchrun
    passes a Ctrl-C on to each process in turn: without agreeing, one may stop at step N while another starts step
    N+1 and waits in its all-reduce for ever. One tiny all-reduce a step is the price."""
    import torch
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return received
    device = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else "cpu"
    flag = torch.tensor([received or 0], device=device)
    dist.all_reduce(flag, op=dist.ReduceOp.MAX)
    return int(flag.item()) or None


class NonFiniteGuard(TrainerCallback):
    """Checked once per optimizer step, before the optimizer runs (the Trainer's on_pre_optimizer_step, after
    clipping). `abort` raises; `skip` drops the step's gradients (so neither weights nor optimizer state move) and
    aborts after SKIPS_IN_A_ROW skips in a row. `last_checkpoint` is a function, called only when there is
    something to report."""

    def __init__(self, policy: str, last_checkpoint=lambda: None):
        self.policy = policy
        self.last_checkpoint = last_checkpoint
        self.loss_finite = None  # a device tensor: read once per optimizer step, not once per micro-batch
        self.in_a_row = 0
        self.skipped = 0

    def on_pre_optimizer_step(self, args, state, control, model=None, **kwargs):
        self.check(state.global_step + 1, gradient_norm(model), model, self.last_checkpoint)

    def saw_loss(self, loss) -> None:
        import torch

        finite = torch.isfinite(loss.detach()).all()
        self.loss_finite = finite if self.loss_finite is None else self.loss_finite & finite

    def check(self, step: int, grad_norm, model, last_checkpoint) -> None:
        """`last_checkpoint` is a function, called only when there is something to report."""
        norm = float(grad_norm) if grad_norm is not None else 0.0
        loss_finite = True if self.loss_finite is None else bool(self.loss_finite)
        self.loss_finite = None
        if loss_finite and math.isfinite(norm):
            self.in_a_row = 0
            return
        what = "gradient norm" if loss_finite else "loss"
        latest = last_checkpoint()
        kept = f"the last good checkpoint, {latest}, is untouched" if latest else "no checkpoint was saved"
        if self.policy == "abort":
            raise NonFinite(f"step {step}: {what} is not finite ({norm}); stopped (training.nonfinite: abort); {kept}")
        self.in_a_row += 1
        self.skipped += 1
        if self.in_a_row >= SKIPS_IN_A_ROW:
            raise NonFinite(f"step {step}: {what} not finite for {self.in_a_row} steps in a row; stopped "
                            f"(training.nonfinite: skip allows {SKIPS_IN_A_ROW - 1}); {kept}")
        log.warning("step %d: %s is not finite (%s); step skipped (training.nonfinite: skip)", step, what, norm)
        for parameter in model.parameters():
            parameter.grad = None


def gradient_norm(model):
    """The norm of all gradients as they stand (clipped, if clipping is on: a NaN stays NaN, an inf becomes NaN).
    Under FSDP a gradient is a DTensor shard whose norm is gathered across processes; adapters added after
    sharding keep plain, replicated gradients: the two kinds are measured apart and combined."""
    import torch
    from torch.distributed.tensor import DTensor

    grads = [p.grad for p in model.parameters() if p.grad is not None]
    if not grads:
        return None
    sharded = [g for g in grads if isinstance(g, DTensor)]
    plain = [g for g in grads if not isinstance(g, DTensor)]
    parts = [torch.nn.utils.get_total_norm(plain)] if plain else []
    if sharded:
        parts.append(torch.nn.utils.get_total_norm(sharded).full_tensor())
    return torch.linalg.vector_norm(torch.stack([part.float().cpu() for part in parts]))
