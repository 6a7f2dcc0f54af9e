"""The run's schema: YAML and flags are validated into this once, and the typed object travels into the run.

Each field is documented once, by the docstring under it; `honed config --help-fields` and the docs read them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from honed.methods import all_methods, get_method
from honed.metrics import metric_names, stopping_scores

DEFAULT_MODEL = "smollm2-135m"
DEFAULT_BETA = 0.1  # TRL's default for DPOTrainer and KTOTrainer
# A technique's default learning rate is for supervised training; preference objectives start from a model that
# already answers well and push on whole-answer log-probability ratios, so by default they take a fiftieth of it.
# Measured (docs/results.md, DPO from the demo's LoRA run): at a tenth (1e-4) the DPO loss reached 0 halfway through
# the epoch and ROUGE-L fell 2.1 points below the SFT run; at 2e-5 it rose 0.2, with held-out reward accuracy 100%.
PREFERENCE_LR_SCALE = 0.02
# GRPO pushes on the log-probabilities of the model's own sampled answers, weighted by their advantage within a
# group; not yet measured here (issue: GRPO defaults sweep), a tenth of the technique's rate to start.
GRPO_LR_SCALE = 0.1
OBJECTIVE_LR_SCALE = {"sft": 1.0, "dpo": PREFERENCE_LR_SCALE, "kto": PREFERENCE_LR_SCALE, "grpo": GRPO_LR_SCALE}
GRPO_BETA = 0.0  # TRL's GRPO default: no KL term, so no reference pass

MethodSpec = Annotated[Union[tuple(m.config_cls for m in all_methods())], Field(discriminator="name")]


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)


class DataConfig(Section):
    train: str | None = None
    """Training data: a .jsonl/.json/.csv/.parquet/.txt file, a `save_to_disk` folder, or a datasets hub name."""
    validation: str | None = None
    """Validation data in the same forms; when absent, `val_fraction` of train is held out instead."""
    test: str | None = None
    """Held-out test data for `honed eval` and the before/after table."""
    val_fraction: float = Field(0.0, ge=0, lt=1)
    """Share of train held out (seeded) for validation loss when no validation file is given."""
    format: Literal["auto", "text", "prompt_completion", "alpaca", "messages", "preference",
                    "unpaired_preference"] = "auto"
    """Record shape; 'auto' detects it from the fields and reports what it found. 'preference' (prompt + chosen +
    rejected, or chosen/rejected conversations) and 'unpaired_preference' (prompt + completion + label) are for
    training.objective dpo and kto."""
    fields: dict[str, str] = Field(default_factory=dict)
    """Map honed's field names to yours, e.g. {prompt: question, completion: answer}."""
    split: str = "train"
    """Split to read from a hub dataset or a DatasetDict folder."""
    max_length: int = Field(1024, ge=8)
    """Longest row in tokens; longer rows are truncated and counted."""
    train_on: Literal["completion", "all"] = "completion"
    """Compute the loss on the completion/assistant tokens only (default) or on every token."""
    system_prompt: str | None = None
    """System message added to rows that have none (chat models only)."""

    @field_validator("fields")
    @classmethod
    def _known_field_names(cls, value: dict[str, str]) -> dict[str, str]:
        known = {"text", "prompt", "completion", "instruction", "input", "output", "messages", "chosen", "rejected",
                 "label"}
        unknown = sorted(set(value) - known)
        if unknown:
            raise ValueError(f"unknown field name(s) {unknown}; map any of {sorted(known)} to your column names")
        return value


class RewardSpec(Section):
    """One reward: a registry name (`honed eval --help` lists them) or 'python: module:function', with its weight and
    the one option it needs (json_schema: schema; regex: pattern; length: max_words; field_match: schema, optional)."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True, populate_by_name=True,
                              serialize_by_alias=True)
    name: str
    """The reward: json_valid, json_schema, field_match, exact_match, regex, rougeL, length, or 'python: mod:fn'."""
    weight: float = 1.0
    """Its share of the total reward in training; evaluation reports each reward on its own."""
    schema_file: str | None = Field(None, alias="schema")
    """A JSON Schema file (json_schema; field_match takes its closed fields from it)."""
    pattern: str | None = None
    """regex: the pattern the completion must match."""
    max_words: int | None = Field(None, ge=1)
    """length: the word count past which the reward falls."""

    @model_validator(mode="before")
    @classmethod
    def _a_name_alone(cls, value):
        return {"name": value} if isinstance(value, str) else value

    @model_validator(mode="after")
    def _what_the_reward_needs(self) -> RewardSpec:
        from honed.rewards import check_settings

        check_settings(self.name, self.options())
        return self

    def options(self) -> dict:
        return {"schema": self.schema_file, "pattern": self.pattern, "max_words": self.max_words}


class TrainingConfig(Section):
    objective: Literal["sft", "dpo", "kto", "grpo"] = "sft"
    """What the run learns from: 'sft' (supervised: the loss on reference answers), 'dpo' (preference pairs:
    prompt, chosen, rejected; TRL's DPOTrainer), 'kto' (completions labelled desirable or not; TRL's KTOTrainer) or
    'grpo' (the model's own answers to the prompts, scored by `rewards`; TRL's GRPOTrainer). Same techniques, run
    directory, checkpoints and policies for all."""
    beta: float | None = Field(None, ge=0)
    """dpo/kto/grpo: how strongly the tuned model is held to its starting point (higher: closer); null is TRL's
    default (0.1 for dpo and kto, 0 for grpo: no reference pass)."""
    rewards: list[RewardSpec] = Field(default_factory=list)
    """grpo: the rewards its answers are scored by, each with a weight (`honed eval --help` lists them)."""
    generations: int = Field(4, ge=2)
    """grpo: answers sampled per prompt; each is scored against the others of its group."""
    completion_tokens: int = Field(128, ge=1)
    """grpo: most tokens per sampled answer (room for the whole answer: a cut one scores as what it is)."""
    temperature: float = Field(1.0, gt=0)
    """grpo: sampling temperature of its answers."""
    epochs: float = Field(1.0, gt=0)
    """Passes over the training data (ignored when max_steps is set)."""
    max_steps: int | None = Field(None, ge=1)
    """Stop after this many optimizer steps."""
    batch_size: int = Field(4, ge=1)
    """Rows per device per forward pass."""
    grad_accum: int = Field(1, ge=1)
    """Forward passes per optimizer step; the effective batch is batch_size x grad_accum x devices."""
    learning_rate: float | None = Field(None, gt=0)
    """Peak learning rate; null takes the technique's default (see `honed methods`)."""
    scheduler: Literal[
        "linear", "cosine", "constant", "constant_with_warmup", "cosine_with_restarts", "polynomial", "inverse_sqrt"
    ] = "cosine"
    """Learning-rate schedule after warmup."""
    warmup: float = Field(0.05, ge=0)
    """Warmup: a fraction of the steps when below 1, else a number of steps."""
    weight_decay: float = Field(0.0, ge=0)
    """AdamW weight decay."""
    max_grad_norm: float = Field(1.0, gt=0)
    """Clip the gradient norm to this."""
    seed: int = 42
    """Seed for initialisation, data order and the validation split."""
    packing: bool | None = None
    """Padding-free packing: a micro-batch's rows become one sequence with position ids restarting per row (no row
    sees another, no token is padding). null: on wherever the technique and model allow it (checked on the model)."""
    batch_tokens: int | None = Field(None, ge=8)
    """Token budget of a packed micro-batch; null: batch_size x the mean row length, so steps match unpacked ones."""
    group_by_length: bool | None = None
    """Without packing, batch rows of similar length together, so less of each batch is padding. null: on, except
    for objective kto, whose KL term needs rows in order."""
    threads: int | None = Field(None, ge=1)
    """CPU threads for torch; null: one per physical core (more only makes OpenMP threads fight)."""
    optimizer: Literal["adamw_torch", "adamw_torch_fused"] = "adamw_torch_fused"
    """AdamW implementation: the fused kernel (default; 1.28x the tokens/s of full fine-tuning on a 2-core CPU,
    same loss) or the per-tensor loop, which is what the Trainer's 'adamw_torch' runs on a CPU."""
    compile: bool = False
    """torch.compile the model before training (measured slower on small CPU runs; see docs/performance.md)."""
    gradient_checkpointing: bool = False
    """Recompute activations in the backward pass: less memory, about a third more time."""
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"
    """'auto' picks what the hardware runs fast, measured once per machine: bf16 where its matmul runs at least 1.5x
    fp32 (GPUs with bf16; CPUs with AMX or AVX512-BF16 where timing says so), fp16 with loss scaling on GPUs without
    bf16, else fp32. In half precision, frozen weights are held in it; trainable weights and AdamW stay fp32."""
    logits: Literal["labelled", "all"] = "labelled"
    """Where the LM head runs in training and validation: 'labelled' computes logits only at positions that carry a
    label, with a chunked cross-entropy (same loss, less time and memory; checked on the model, else 'all'); 'all'
    is the plain path over every position."""
    eval_steps: int | None = Field(None, ge=1)
    """Compute validation loss every this many steps (needs validation data)."""
    early_stopping_metric: str | None = None
    """Stop when this validation metric stops improving: 'eval_loss', or with eval.during_training e.g. 'eval_rougeL'."""
    early_stopping_patience: int = Field(3, ge=1)
    """Evaluations without improvement before stopping."""
    logging_steps: int = Field(5, ge=1)
    """Log loss, learning rate and tokens/s every this many steps."""
    tensorboard: bool = False
    """Also write TensorBoard logs under the run directory (needs the tensorboard package)."""
    save_steps: int | None = Field(None, ge=1)
    """Save a checkpoint (safetensors + JSON, written atomically) every this many optimizer steps."""
    keep_checkpoints: int = Field(2, ge=1)
    """How many of the newest checkpoints to keep."""
    resume: str | None = None
    """Continue from a checkpoint: 'auto' (the newest intact one in the run directory, or a fresh start if there is
    none) or a checkpoint folder."""
    nonfinite: Literal["abort", "skip"] = "abort"
    """When the loss or gradient norm is NaN/inf: 'abort' stops at that step; 'skip' drops the step and stops after
    3 in a row. Checkpoints already saved are never touched."""
    deepspeed: str | Literal[2, 3] | None = None
    """DeepSpeed ZeRO: a JSON config file (the chapter's `deepspeed="ds_config.json"`), or 2 or 3 for honed's ZeRO
    stage config with the Trainer's 'auto' values. Needs the deepspeed package and GPUs; launch with --nproc."""
    fsdp: bool | dict[str, Any] = False
    """PyTorch FSDP2, applied by transformers as the model loads: true (each process holds its share of parameters,
    gradients and optimizer state; checkpoints are sharded), or options of transformers' DistributedConfig as a
    mapping, e.g. {fsdp_cpu_offload: true}. Launch with --nproc N (N >= 2); GPUs or CPUs."""

    @field_validator("resume")
    @classmethod
    def _resume_point_exists(cls, value: str | None) -> str | None:
        if value is not None and value != "auto" and not Path(value).is_dir():
            raise ValueError("no such checkpoint folder; use 'auto' or a path to runs/<run>/checkpoints/step-...")
        return value

    @field_validator("deepspeed", mode="before")
    @classmethod
    def _deepspeed_file_or_stage(cls, value: Any) -> Any:
        import json

        if value is None or value in (2, 3) or (isinstance(value, str) and value in ("2", "3")):
            return int(value) if value is not None else None
        if isinstance(value, int):
            raise ValueError("ZeRO stage must be 2 or 3 (or give a DeepSpeed JSON config file)")
        if not isinstance(value, str) or not Path(value).is_file():
            raise ValueError("no such DeepSpeed config file; give a JSON file or a ZeRO stage, 2 or 3")
        try:
            json.loads(Path(value).read_text())
        except ValueError as error:
            raise ValueError(f"not valid JSON ({error})") from None
        return value

    @field_validator("fsdp")
    @classmethod
    def _fsdp_options(cls, value: bool | dict) -> bool | dict:
        known = {"fsdp_plan", "fsdp_cpu_offload", "fsdp_mixed_precision", "dp_replicate_size"}
        unknown = sorted(set(value) - known) if isinstance(value, dict) else []
        if unknown:
            raise ValueError(f"unknown FSDP option(s) {unknown}; known: {', '.join(sorted(known))}")
        return value

    @model_validator(mode="after")
    def _one_sharding_engine(self) -> TrainingConfig:
        if self.deepspeed is not None and self.fsdp:
            raise ValueError("deepspeed and fsdp both set: choose one sharding engine")
        if self.deepspeed is not None and (self.save_steps or self.resume):
            # honed's checkpoints hold the module's own tensors; ZeRO partitions weights and optimizer state inside
            # its engine, and no GPU test yet proves a resumed DeepSpeed run equals an uninterrupted one.
            raise ValueError("deepspeed with save_steps or resume: checkpoints of DeepSpeed runs are not supported "
                             "yet; drop save_steps/--resume, or shard with fsdp: true instead")
        if self.batch_tokens is not None and self.packing is False:
            raise ValueError("batch_tokens is the budget of packed micro-batches, but packing is false: "
                             "drop batch_tokens or set packing: true")
        return self

    @property
    def beta_value(self) -> float:
        if self.beta is not None:
            return self.beta
        return GRPO_BETA if self.objective == "grpo" else DEFAULT_BETA

    def learning_rate_or(self, technique_default: float) -> float:
        """learning_rate, else the technique's default, scaled for the objective (OBJECTIVE_LR_SCALE)."""
        if self.learning_rate:
            return self.learning_rate
        return technique_default * OBJECTIVE_LR_SCALE[self.objective]

    @model_validator(mode="after")
    def _keys_of_the_objective(self) -> TrainingConfig:
        """A key the objective does not use is refused, never silently ignored: preference batches are TRL's padded
        pairs (no packing, no SFT loss path), and beta exists only for preference objectives."""
        grpo_keys = [key for key in ("rewards", "generations", "completion_tokens", "temperature")
                     if getattr(self, key) != type(self).model_fields[key].get_default(call_default_factory=True)]
        if self.objective != "grpo" and grpo_keys:
            raise ValueError(f"{', '.join(grpo_keys)}: used by objective grpo only (training.objective is "
                             f"{self.objective})")
        if self.objective == "grpo" and not self.rewards:
            raise ValueError("rewards: objective grpo needs at least one reward, e.g. rewards: [json_valid, "
                             "field_match] (`honed eval --help` lists them)")
        if self.objective == "sft":
            if self.beta is not None:
                raise ValueError("beta: used by objective dpo, kto or grpo only (training.objective is sft)")
            return self
        # Checked by value, not by whether the key was written: a run's saved config.yaml writes every key.
        unused = [key for key, used in (("packing: true", self.packing), ("batch_tokens", self.batch_tokens is not None),
                                        ("logits: all", self.logits == "all")) if used]
        if self.objective == "kto" and self.group_by_length:
            unused.append("group_by_length: true (kto batches rows in order: its KL term pairs neighbouring rows)")
        if unused:
            raise ValueError(f"{', '.join(unused)}: not used by objective {self.objective} (TRL batches its rows "
                             "padded, and computes log-probabilities at completion tokens only); remove it")
        if self.objective == "kto" and self.batch_size < 2:
            raise ValueError("batch_size: objective kto needs at least 2 rows per batch (TRL estimates its KL term "
                             "from the other rows of the batch)")
        return self

    @field_validator("warmup")
    @classmethod
    def _whole_steps_above_one(cls, value: float) -> float:
        if value >= 1 and value != int(value):
            raise ValueError("a warmup of 1 or more is a number of steps and must be whole (or give a fraction < 1)")
        return value


class GenerationConfig(Section):
    max_new_tokens: int = Field(128, ge=1)
    """Most tokens generated per answer."""
    temperature: float = Field(0.0, ge=0)
    """0 is greedy decoding (reproducible); above 0 samples."""
    top_p: float = Field(1.0, gt=0, le=1)
    """Nucleus sampling mass (only when temperature > 0)."""
    top_k: int = Field(0, ge=0)
    """Sample only from the k likeliest tokens (only when temperature > 0); 0 for no limit."""
    seed: int | None = None
    """Seed of the sampling, so sampled answers can be reproduced (only when temperature > 0)."""
    stop: list[str] = Field(default_factory=list)
    """Extra stop strings; generation always stops at the end-of-turn/EOS token."""
    batch_size: int = Field(16, ge=1)
    """Answers generated together (a finished one's place goes to the next prompt)."""
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    """The weights' dtype while generating: 'auto' is bf16 where this machine runs it fast (measured, as training's
    precision: auto), else fp32; 'fp32' gives answers identical to transformers' fp32 ones."""


MetricName = Literal[tuple(metric_names())]  # the names in honed.metrics' table, as methods' names in the registry


class EvalConfig(Section):
    metrics: list[MetricName] = Field(default_factory=metric_names)
    """Metrics to compute (`honed eval --help` says what each measures); drop any you do not want."""
    limit: int | None = Field(None, ge=1)
    """Evaluate only the first N test rows."""
    during_training: bool = False
    """At every training.eval_steps, also generate answers for a sample of the validation set and log the metrics."""
    sample: int = Field(16, ge=1)
    """Validation rows generated for during_training (the first N, same each time)."""
    bootstrap: int = Field(1000, ge=0)
    """Resamples of the test prompts for the paired 95% interval on each delta against a baseline (0: no intervals).
    A delta is marked better or worse only where its interval excludes zero."""
    rewards: list[RewardSpec] = Field(default_factory=list)
    """Rewards to report on the test answers, each as its mean (the ones GRPO trains on, or any other)."""
    drift: Literal["auto", "off", "sample", "full"] = "auto"
    """How far the tuned model moved on general prompts outside its domain: 'sample' scores 40 of the general set's
    prompts (16 answered), 'full' all of them; 'auto' is 'sample' when the baseline is the run's base model."""
    general: str | None = None
    """The general prompts for drift (JSONL rows with 'prompt', or a .txt file, one per line); default: the bundled
    set of 200."""
    generation: GenerationConfig = Field(default_factory=GenerationConfig)


class CompareEntry(Section):
    """One contestant of `honed compare`: a technique with its own settings and, if wanted, its own learning rate."""

    method: MethodSpec
    """The technique and its settings, as in a run's `method:` (a name alone is enough)."""
    label: str | None = Field(None, pattern=r"^[A-Za-z0-9._-]+$")
    """Name in the table and of its folder; defaults to the technique's name. Needed when a technique appears twice."""
    learning_rate: float | None = Field(None, gt=0)
    """Learning rate for this entry; defaults to the technique's own default (see `honed methods`)."""
    objective: Literal["sft", "dpo", "kto", "grpo"] = "sft"
    """A later stage: 'dpo' or 'kto' trains on `data` (preference rows), 'grpo' on the config's prompts (or `data`)
    with `rewards`, starting from the run of the contestant `start_from`, so SFT and SFT+DPO or SFT+GRPO sit in one
    table."""
    start_from: str | None = None
    """Label of an earlier contestant whose trained run this one starts from (its `--from`)."""
    data: str | None = None
    """Training data of this contestant alone (a preference file for dpo/kto); default: the config's data.train."""
    beta: float | None = Field(None, ge=0)
    """dpo/kto/grpo only: as training.beta."""
    rewards: list[RewardSpec] = Field(default_factory=list)
    """grpo only: as training.rewards; default: the config's eval.rewards (what every contestant is scored by)."""

    @model_validator(mode="after")
    def _preference_stage_is_complete(self) -> CompareEntry:
        if self.objective in ("dpo", "kto") and not self.data:
            raise ValueError(f"objective {self.objective} needs `data`: the preference file this stage trains on")
        if self.objective == "sft" and self.beta is not None:
            raise ValueError("beta: used by objective dpo, kto or grpo only")
        if self.objective != "grpo" and self.rewards:
            raise ValueError("rewards: used by objective grpo only")
        return self

    @field_validator("method", mode="before")
    @classmethod
    def _name_alone_is_enough(cls, value: Any) -> Any:
        return {"name": value} if isinstance(value, str) else value

    @property
    def name(self) -> str:
        return self.label or self.method.name


class CompareConfig(Section):
    """What `honed compare` measures; `honed train` ignores this section."""

    techniques: list[CompareEntry] | None = None
    """Contestants: names (`[full, lora, prompt]`) or entries (`{method: {name: lora, r: 32}, label: lora-r32}`).
    Default: every registered technique with its defaults."""
    budget: Literal["quick", "standard"] = "standard"
    """Same steps, batch and evaluation for every technique: 'quick' to try the comparison, 'standard' to decide."""
    timeout_minutes: float | None = Field(None, gt=0)
    """Stop a technique that runs longer than this and mark it failed (the others go on)."""

    @field_validator("techniques", mode="before")
    @classmethod
    def _names_are_entries(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [{"method": item} if isinstance(item, str) else item for item in value]
        return value

    @model_validator(mode="after")
    def _labels_are_unique(self) -> CompareConfig:
        names = [entry.name for entry in self.techniques or []]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"techniques lists {', '.join(repeated)} twice; give each a distinct `label`")
        for position, entry in enumerate(self.techniques or []):
            if entry.start_from is not None and entry.start_from not in names[:position]:
                raise ValueError(f"{entry.name}: start_from {entry.start_from!r} must be the label of a contestant "
                                 "listed before it (it is trained first)")
        return self


class RunConfig(Section):
    model: str = DEFAULT_MODEL
    """Base model: 'smollm2-135m' (bundled, offline), a local folder or .gguf file, or a hub name."""
    method: MethodSpec = Field(default_factory=lambda: get_method("lora").config_cls())
    """The technique and its settings, e.g. `method: lora` or `method: {name: lora, r: 16}`."""
    data: DataConfig = Field(default_factory=DataConfig)
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    eval: EvalConfig = Field(default_factory=EvalConfig)
    output: str | None = None
    """Where the command writes: `honed train`'s run directory (default runs/<technique>), `honed compare`'s
    comparison folder (default runs/compare-<config>-<budget>). `--output` sets it too."""
    overwrite: bool = False
    """Replace a non-empty run directory (otherwise it is an error, so nothing is lost)."""
    trust_remote_code: bool = False
    """Run code shipped with a hub model. Off unless you trust its author."""
    from_run: str | None = None
    """A finished run to start from (`--from`): a peft run's adapter trains on (same technique), a full run's model
    is the starting point. `model` and `method` default to that run's. The usual flow: SFT, review, then DPO."""
    compare: CompareConfig = Field(default_factory=CompareConfig)
    """Settings of `honed compare` (ignored by `honed train`)."""

    @property
    def run_dir(self) -> Path:
        """The run directory `honed train` writes: `output`, else runs/<technique>."""
        return Path(self.output or f"runs/{self.method.name}")

    def for_training(self) -> RunConfig:
        """The config as `honed train` runs it (and saves it in the run): `output` names the run directory."""
        return self.model_copy(update={"output": str(self.run_dir)})

    @field_validator("method", mode="before")
    @classmethod
    def _name_alone_is_enough(cls, value: Any) -> Any:
        if isinstance(value, str):
            return {"name": value}
        if isinstance(value, dict) and "name" not in value:
            return {"name": "lora", **value}
        return value

    @model_validator(mode="after")
    def _evaluation_needs_its_inputs(self) -> RunConfig:
        problems = []
        has_validation = bool(self.data.validation or self.data.val_fraction)
        if (self.eval.during_training or self.training.early_stopping_metric) and not self.training.eval_steps:
            problems.append("eval.during_training and training.early_stopping_metric need training.eval_steps")
        if self.training.eval_steps and not has_validation:
            problems.append("training.eval_steps needs data.validation or data.val_fraction")
        if self.training.objective != "sft" and self.data.train_on == "all":
            problems.append(f"data.train_on: all is not used by objective {self.training.objective} (its loss is on "
                            "the completions); remove it")
        metric = self.training.early_stopping_metric
        if metric and metric != "eval_loss":
            known = stopping_scores(self.eval.metrics)
            if metric not in known:
                problems.append(f"training.early_stopping_metric {metric!r}: use eval_loss or one of {known}")
            elif not self.eval.during_training:
                problems.append(f"training.early_stopping_metric {metric!r} needs eval.during_training: true")
        if problems:
            raise ValueError("; ".join(problems))
        return self
