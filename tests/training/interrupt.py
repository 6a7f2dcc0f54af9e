"""Run honed.train in this process with a fault injected at a step; the tests start it as a subprocess.

    python interrupt.py CONFIG.json [kill|term|term-twice|int|nan-grad] [STEP]
"""

from __future__ import annotations

import json
import os
import signal
import sys

from transformers import TrainerCallback


class Fault(TrainerCallback):
    def __init__(self, kind: str, step: int):
        self.kind, self.step = kind, step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.step and self.kind == "kill":
            os.kill(os.getpid(), signal.SIGKILL)  # after the step, before its log line and any save

    def on_step_begin(self, args, state, control, **kwargs):
        if state.global_step + 1 == self.step and self.kind in ("term", "int"):  # arrives during the step
            os.kill(os.getpid(), signal.SIGTERM if self.kind == "term" else signal.SIGINT)


class SignalDuringSave(TrainerCallback):
    """A second SIGTERM, sent by a watcher thread the moment the checkpoint's partial folder appears."""

    def __init__(self, checkpoints: str):
        self.checkpoints = checkpoints

    def on_train_begin(self, args, state, control, **kwargs):
        import threading

        threading.Thread(target=self._watch, daemon=True).start()

    def _watch(self):
        import glob
        import time

        while not glob.glob(os.path.join(self.checkpoints, ".step-*.partial")):
            time.sleep(0.0005)
        os.kill(os.getpid(), signal.SIGTERM)


class NanGradient(TrainerCallback):
    """The gradient of every trainable weight turns NaN during one optimizer step."""

    def __init__(self, step: int):
        self.step = step
        self.hooks = []

    def on_step_begin(self, args, state, control, model=None, **kwargs):
        if state.global_step + 1 == self.step:
            self.hooks = [p.register_hook(lambda g: g * float("nan")) for p in model.parameters() if p.requires_grad]

    def on_step_end(self, args, state, control, **kwargs):
        for hook in self.hooks:
            hook.remove()
        self.hooks = []


def main() -> int:
    from honed.console import configure_output
    from honed.errors import UserError
    from honed.training import fit

    config = json.loads(open(sys.argv[1]).read())
    kind = sys.argv[2] if len(sys.argv) > 2 else "none"
    step = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    checkpoints = os.path.join(config["output"], "checkpoints")
    callbacks = {"nan-grad": [NanGradient(step)], "term-twice": [Fault("term", step), SignalDuringSave(checkpoints)]}
    callbacks = callbacks.get(kind, [Fault(kind, step)])
    configure_output(debug=False)
    try:
        fit(config, callbacks=callbacks)
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
