"""Build the Hugging Face Trainer from the schema: one training path for every technique and objective (honed's
behaviours are one mixin, on transformers' Trainer for supervised runs and on TRL's trainers for preference ones)."""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from honed.config.schema import RunConfig, TrainingConfig
from honed.errors import UserError
from honed.failures import STEP_NOTE
from honed.training.attention import plan_attention
from honed.training.callbacks import EarlyStopping, MetricsLogger, ProgressBar, StatusKeeper, TokenTally
from honed.training.guards import NonFiniteGuard, SaveOnSignal
from honed.precision import Precision

log = logging.getLogger("honed")


def optimizer_steps(batches: int, training: TrainingConfig, world_size: int = 1) -> int:
    """Optimizer steps the Trainer will run from this many micro-batches an epoch, computed as it does, so
    AdaLoRA's budget can be set up front."""
    if training.max_steps:
        return training.max_steps
    batches = math.ceil(batches / world_size)
    per_epoch = max(batches // training.grad_accum + int(batches % training.grad_accum > 0), 1)
    return math.ceil(training.epochs * per_epoch)


def check_optional_packages(config: RunConfig) -> None:
    """Fail before anything is loaded or written when an option needs a package that is not installed."""
    import importlib.util

    if config.training.tensorboard and not any(importlib.util.find_spec(n) for n in ("tensorboard", "tensorboardX")):
        raise UserError("training.tensorboard: needs the tensorboard package (pip install tensorboard)")
    if config.training.deepspeed is not None and importlib.util.find_spec("deepspeed") is None:
        raise UserError("training.deepspeed: needs the deepspeed package (pip install 'honed[deepspeed]', on a "
                        "machine with GPUs); without it, --nproc N trains with plain DDP")


def deepspeed_config(setting: str | int | None):
    """A file is handed over as is; a bare ZeRO stage becomes the usual config with the Trainer's 'auto' values,
    so batch size, accumulation, clipping and precision stay defined in one place: honed's config."""
    if setting is None or isinstance(setting, str):
        return setting
    zero = {"stage": setting, "overlap_comm": True, "contiguous_gradients": True}
    if setting == 3:
        zero["stage3_gather_16bit_weights_on_model_save"] = True
    return {
        "zero_optimization": zero, "bf16": {"enabled": "auto"}, "fp16": {"enabled": "auto"},
        "train_micro_batch_size_per_gpu": "auto", "train_batch_size": "auto",
        "gradient_accumulation_steps": "auto", "gradient_clipping": "auto",
    }


def fsdp_loading(setting: bool | dict, processes: int) -> dict:
    """FSDP2 as transformers applies it while loading (from_pretrained's distributed_config): each process holds
    its share of every weight. Not the Trainer's `fsdp` flag: accelerate (1.15) gives that flag to FSDP only on
    GPU-like devices, and on a CPU silently trains plain DDP instead (measured: AcceleratorState is MULTI_CPU with
    no fsdp_plugin, every parameter whole)."""
    if not setting:
        return {}
    if processes < 2:
        raise UserError("training.fsdp: shards the model across processes; launch with --nproc N (N >= 2)")
    from transformers.distributed import DistributedConfig

    options = setting if isinstance(setting, dict) else {}
    replicas = options.get("dp_replicate_size", 1)
    return {"distributed_config": DistributedConfig(fsdp_size=processes // replicas, **options)}


def fsdp_arguments(setting: bool | dict) -> dict:
    """The Trainer refuses to checkpoint a model sharded at load time unless it saves the model only; honed writes
    every checkpoint itself (sharded state through torch.distributed.checkpoint, `resume.py`)."""
    return {"save_only_model": True} if setting else {}


def training_arguments(config: RunConfig, precision: Precision, output_dir: Path, learning_rate: float, has_eval: bool,
                       kind=None, **extra):
    """The Trainer's arguments from honed's config, as `kind` (TrainingArguments, or TRL's DPOConfig/KTOConfig,
    which subclass it), with `extra` values of that class."""
    from transformers import TrainingArguments

    t = config.training
    evaluating = bool(t.eval_steps and has_eval)
    values = dict(
        output_dir=str(output_dir),
        per_device_train_batch_size=t.batch_size,
        per_device_eval_batch_size=t.batch_size,
        gradient_accumulation_steps=t.grad_accum,
        learning_rate=learning_rate,
        lr_scheduler_type=t.scheduler,
        warmup_steps=t.warmup if t.warmup < 1 else int(t.warmup),
        weight_decay=t.weight_decay,
        max_grad_norm=t.max_grad_norm,
        num_train_epochs=t.epochs,
        max_steps=t.max_steps or -1,
        seed=t.seed,
        data_seed=t.seed,
        gradient_checkpointing=t.gradient_checkpointing,
        gradient_checkpointing_kwargs={"use_reentrant": False} if t.gradient_checkpointing else None,
        logging_steps=t.logging_steps,
        logging_first_step=True,
        eval_strategy="steps" if evaluating else "no",
        eval_steps=t.eval_steps if evaluating else None,
        save_strategy="steps" if t.save_steps else "no",
        save_steps=t.save_steps,
        deepspeed=deepspeed_config(t.deepspeed),
        **fsdp_arguments(t.fsdp),
        ddp_find_unused_parameters=False,  # every trainable weight is used each step; True costs a graph walk
        report_to=["tensorboard"] if t.tensorboard else [],
        include_num_input_tokens_seen="no",  # counted by honed: the Trainer miscounts packed rows (pad == eos)
        optim=t.optimizer,
        torch_compile=t.compile,
        remove_unused_columns=False,
        train_sampling_strategy="group_by_length" if t.group_by_length is not False else "random",
        disable_tqdm=True,
        **precision_arguments(precision, t),
    )
    return (kind or TrainingArguments)(**{**values, **extra})


def honed_autocasts(precision: Precision, training: TrainingConfig) -> bool:
    """bf16 autocast is honed's own, except under FSDP and DeepSpeed, whose mixed-precision settings read the
    Trainer's bf16 flag."""
    return precision.name == "bf16" and not training.fsdp and training.deepspeed is None


def precision_arguments(precision: Precision, training: TrainingConfig) -> dict:
    """fp16 keeps the Trainer's path (its GradScaler does the loss scaling fp16 needs)."""
    return {"bf16": precision.name == "bf16" and not honed_autocasts(precision, training),
            "fp16": precision.name == "fp16", "use_cpu": precision.device == "cpu"}


@dataclass(frozen=True)
class LossPlan:
    labelled_only: bool  # logits at labelled positions only, chunked cross-entropy (models/loss.py)
    prepended: int  # virtual-token positions before the input (prompt tuning)
    extra: Callable | None  # a technique's training-only penalty
    reason: str


def plan_loss(model, method, training: TrainingConfig) -> LossPlan:
    """Logits only where labels are, when the model is checked to honour a boolean logits_to_keep."""
    from honed.models.loss import selects_logits

    prepended = method.prepended_positions(model)
    if training.logits == "all":
        return LossPlan(False, prepended, None, "loss over logits at every position (training.logits: all)")
    if selects_logits(model, prepended):
        return LossPlan(True, prepended, method.training_penalty, "loss on labelled positions only (chunked)")
    log.warning("this model ignores a boolean logits_to_keep; computing logits at every position")
    return LossPlan(False, prepended, None, "loss over logits at every position")


class HonedBehaviours:
    """honed's behaviours for any transformers Trainer: its own, or TRL's DPOTrainer and KTOTrainer, which subclass
    it (one training path for every objective, not a copy per trainer). Token tally and NaN guard per step,
    checkpoints as safetensors + JSON with verify-then-rename and exact resume, the progress bar's clean close,
    honed's bf16 autocast, and generation metrics at each evaluation. Mixed in before the Trainer class:
    `class X(HonedBehaviours, Trainer)`; `equip` sets the attributes below."""

    generation_eval = None
    batch_plan = None
    tally = None
    checkpoints: Path | None = None  # where checkpoints go; the Trainer's own pickled ones are never written
    keep_checkpoints = 2
    guard = None
    signals = None
    loss_plan = None  # LossPlan: labelled positions only, or the plain path
    autocast_dtype = None  # set when honed, not accelerate, runs half-precision autocast
    attention = None  # AttentionByWidth: the attention kernel per line width, when one was measured faster

    def training_step(self, model, inputs, num_items_in_batch=None):
        self.tally.add(inputs)
        loss = super().training_step(model, inputs, num_items_in_batch)
        self.guard.saw_loss(loss)
        return loss

    def close_progress(self) -> None:
        for callback in self.callback_handler.callbacks:
            if isinstance(callback, ProgressBar):
                callback.close()

    def latest_checkpoint(self) -> str | None:
        from honed.training.checkpoint import list_checkpoints

        found = list_checkpoints(self.checkpoints) if self.checkpoints else []
        return str(found[-1]) if found else None

    def _save_checkpoint(self, model, trial):
        from honed.training.resume import save_checkpoint

        try:
            path = save_checkpoint(self)
        except BaseException as error:  # torch.distributed.checkpoint's CheckpointException is a BaseException
            error.add_note(f"{STEP_NOTE}{self.state.global_step} (saving its checkpoint)")
            raise
        if path is not None:
            log.info("checkpoint saved: %s", path)

    def _load_from_checkpoint(self, resume_from_checkpoint, model=None):
        from honed.training.resume import load_technique_state, load_weights

        load_weights(self.model, Path(resume_from_checkpoint))
        load_technique_state(self.callback_handler.callbacks, Path(resume_from_checkpoint))

    def _load_optimizer_and_scheduler(self, checkpoint):
        from honed.training.resume import load_optimizer, load_scheduler

        if checkpoint is not None:
            load_optimizer(self.optimizer, Path(checkpoint), self.model)
            load_scheduler(self.lr_scheduler, Path(checkpoint))

    def _load_rng_state(self, checkpoint):
        from honed.training.resume import load_rng

        if checkpoint is not None:
            load_rng(Path(checkpoint))

    def evaluation_loop(self, dataloader, description, prediction_loss_only=None, ignore_keys=None,
                        metric_key_prefix="eval"):
        output = super().evaluation_loop(dataloader, description, prediction_loss_only, ignore_keys,
                                         metric_key_prefix)
        if self.generation_eval is not None:
            with self.autocast_smart_context_manager():
                scores = self.generation_eval(self.model)
            for name, value in scores.items():
                output.metrics[f"{metric_key_prefix}_{name}"] = value
        return output

    def autocast_smart_context_manager(self, cache_enabled: bool | None = True):
        """bf16 autocast by honed rather than accelerate, whose wrapper upcasts every output (all the logits)
        to fp32. peft would cast each adapted layer's bf16 input to its fp32 adapter weights (a copy per layer,
        which autocast then casts back for the matmul); under autocast that cast is switched off."""
        if self.autocast_dtype is None:
            return super().autocast_smart_context_manager(cache_enabled)
        import torch

        stack = contextlib.ExitStack()
        stack.enter_context(torch.autocast(self.args.device.type, dtype=self.autocast_dtype,
                                           cache_enabled=cache_enabled))
        stack.enter_context(_adapter_inputs_uncast(self.model))
        return stack


def _trainer_class():
    from transformers import Trainer

    from honed.data import IGNORE_INDEX
    from honed.training.batching import PackedLinesCollator
    from honed.models.loss import labelled_nll, token_nll

    class HonedTrainer(HonedBehaviours, Trainer):
        """Supervised fine-tuning: packed batches, and the loss at labelled positions only. Evaluation loss is the
        plain next-token loss for every technique (AdaLoRA's `.loss` carries its orthogonality regulariser even in
        eval mode, which would make its validation loss incomparable)."""

        def get_train_dataloader(self):
            if not self.batch_plan.packing:
                return super().get_train_dataloader()
            from torch.utils.data import DataLoader

            lengths = [len(ids) for ids in self.train_dataset["input_ids"]]
            loader = DataLoader(
                self.train_dataset.with_format(columns=["input_ids", "labels"]),
                batch_sampler=self.batch_plan.sampler(lengths, self.args.seed),
                collate_fn=PackedLinesCollator(
                    self.processing_class.pad_token_id, IGNORE_INDEX, self.tally, attention_scale=_attention_scale(self.model)
                ),
            )
            return self.accelerator.prepare(loader)

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            if self.attention is not None:
                self.attention.apply(self.model, inputs["input_ids"].shape[-1])
            if self.loss_plan is None or not self.loss_plan.labelled_only:
                if model.training:
                    return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
                return self._plain_eval_loss(model, inputs, return_outputs)
            labels = inputs["labels"]
            features = {k: v for k, v in inputs.items() if k != "labels"}
            nll, count, outputs = labelled_nll(model, features, labels, self.loss_plan.prepended)
            if not model.training:
                loss = nll / max(count, 1)
            else:
                loss = self._training_loss(model, nll, count, num_items_in_batch)
            return (loss, outputs) if return_outputs else loss

        def _training_loss(self, model, nll, count, num_items_in_batch):
            """Normalised as the Trainer normalises a model's own loss: over the tokens of the whole accumulated
            (and, with average_tokens_across_devices, gathered) batch when it counted them, else per micro-batch."""
            denominator = num_items_in_batch if num_items_in_batch is not None else max(count, 1)
            loss = nll / denominator
            if self.loss_plan.extra is not None:
                loss = loss + self.loss_plan.extra(model)
            if self.args.average_tokens_across_devices and num_items_in_batch is not None:
                loss = loss * self.accelerator.num_processes
            return loss

        def _plain_eval_loss(self, model, inputs, return_outputs):
            labels = inputs["labels"]
            outputs = model(**{k: v for k, v in inputs.items() if k != "labels"})
            nll, count = token_nll(outputs.logits, labels)
            loss = nll / max(count, 1)
            return (loss, outputs) if return_outputs else loss

    return HonedTrainer


@contextlib.contextmanager
def _adapter_inputs_uncast(model):
    """peft's LoRA-family layers without their input cast (peft.helpers.disable_input_dtype_casting does this too,
    but raises on layers that lack the switch, such as IA3's)."""
    layers = [m for m in model.modules() if getattr(m, "cast_input_dtype_enabled", False)]
    for layer in layers:
        layer.cast_input_dtype_enabled = False
    try:
        yield
    finally:
        for layer in layers:
            layer.cast_input_dtype_enabled = True


def _attention_scale(model) -> int:
    """Row width at which a token's attention FLOPs match its matmul FLOPs: about 6 x the hidden size."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return 6 * getattr(base.config, "hidden_size", 576)


def build_supervised_trainer(setup, extra_callbacks: list):
    """The supervised Trainer for a training.runner.Setup, with honed's callbacks, loader, loss and autocast."""
    from transformers import DataCollatorForSeq2Seq

    from honed.data import IGNORE_INDEX

    config, data, tokenizer = setup.config, setup.data, setup.tokenizer
    args = training_arguments(config, setup.precision, setup.run_dir / "trainer", setup.learning_rate,
                              data.validation is not None)
    callbacks, tally, signals = honed_callbacks(setup, extra_callbacks)
    trainer = _trainer_class()(
        model=setup.model,
        args=args,
        train_dataset=data.train,
        eval_dataset=data.validation,
        # Padded batches for evaluation (and for training when not packing); packing has its own loader.
        data_collator=DataCollatorForSeq2Seq(tokenizer, padding="longest", label_pad_token_id=IGNORE_INDEX),
        processing_class=tokenizer,
        callbacks=callbacks,
    )
    trainer.attention = plan_attention(setup.model, setup.precision)
    return equip(trainer, setup, tally, signals)


def honed_callbacks(setup, extra_callbacks: list) -> tuple[list, TokenTally, SaveOnSignal]:
    """metrics.jsonl, the progress bar and the signal handler (sharing one token tally), then the caller's."""
    from honed import rundir

    tally, signals = TokenTally(), SaveOnSignal()
    callbacks = [MetricsLogger(setup.run_dir / rundir.METRICS_FILE, tally), StatusKeeper(setup.run_dir),
                 ProgressBar(tally), signals,
                 *extra_callbacks]
    return callbacks, tally, signals


def equip(trainer, setup, tally: TokenTally, signals: SaveOnSignal):
    """Switch on HonedBehaviours for a trainer of any objective: the attributes its methods read, the NaN guard,
    checkpoints, generation metrics during evaluation and early stopping."""
    from transformers import PrinterCallback

    from honed.training.checkpoint import CHECKPOINTS_DIR

    config, data = setup.config, setup.data
    trainer.remove_callback(PrinterCallback)
    trainer.batch_plan, trainer.tally, trainer.loss_plan = setup.plan, tally, setup.loss_plan
    trainer.autocast_dtype = setup.precision.dtype if honed_autocasts(setup.precision, config.training) else None
    trainer.guard, trainer.signals = NonFiniteGuard(config.training.nonfinite, trainer.latest_checkpoint), signals
    trainer.add_callback(trainer.guard)
    trainer.checkpoints, trainer.keep_checkpoints = setup.run_dir / CHECKPOINTS_DIR, config.training.keep_checkpoints
    if config.eval.during_training and data.validation_rows is not None:
        from honed.evaluation.in_training import GenerationEval

        trainer.generation_eval = GenerationEval(data.validation_rows.rows, setup.tokenizer, config.eval)
    if config.training.early_stopping_metric:
        trainer.add_callback(EarlyStopping(config.training.early_stopping_metric, config.training.early_stopping_patience))
    return trainer
