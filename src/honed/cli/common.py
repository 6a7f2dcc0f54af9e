"""Flags shared by the verbs that build a run config; their help comes from the schema's field docs."""

from __future__ import annotations

import argparse

from honed.config import DataConfig, RunConfig, TrainingConfig

# flag, config key, type, the schema section whose docstring is the help text
RUN_FLAGS = [
    ("--method", "method", str, None),
    ("--model", "model", str, RunConfig),
    ("--objective", "training.objective", str, TrainingConfig),
    ("--from", "from_run", str, RunConfig),
    ("--data", "data.train", str, DataConfig),
    ("--validation-data", "data.validation", str, DataConfig),
    ("--test-data", "data.test", str, DataConfig),
    ("--format", "data.format", str, DataConfig),
    ("--max-length", "data.max_length", int, DataConfig),
    ("--output", "output", str, RunConfig),
    ("--epochs", "training.epochs", float, TrainingConfig),
    ("--max-steps", "training.max_steps", int, TrainingConfig),
    ("--batch-size", "training.batch_size", int, TrainingConfig),
    ("--grad-accum", "training.grad_accum", int, TrainingConfig),
    ("--lr", "training.learning_rate", float, TrainingConfig),
    ("--precision", "training.precision", str, TrainingConfig),
    ("--seed", "training.seed", int, TrainingConfig),
    ("--save-steps", "training.save_steps", int, TrainingConfig),
]


def _help(key: str, section) -> str:
    if section is None:
        from honed.methods import method_names

        return f"technique: {', '.join(method_names())} (see `honed methods`)"
    return section.model_fields[key.split(".")[-1]].description or ""


def add_run_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", nargs="?", help="YAML config file (optional: flags alone are enough)")
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
        help="override any config key, e.g. --set method.r=16 --set training.warmup=0.1",
    )
    for flag, key, kind, section in RUN_FLAGS:
        metavar = {str: "VALUE", int: "N", float: "X"}[kind]
        parser.add_argument(flag, dest=key, type=kind, default=None, metavar=metavar, help=_help(key, section))
    parser.add_argument(
        "--resume", dest="training.resume", nargs="?", const="auto", default=None, metavar="auto|PATH",
        help=_help("resume", TrainingConfig) + " (--resume alone means auto)",
    )
    parser.add_argument("--overwrite", dest="overwrite", action="store_true", default=None, help=_help("overwrite", RunConfig))
    parser.add_argument(
        "--trust-remote-code", dest="trust_remote_code", action="store_true", default=None,
        help=_help("trust_remote_code", RunConfig),
    )


def run_flag_values(args: argparse.Namespace) -> dict:
    keys = [key for _, key, _, _ in RUN_FLAGS] + ["training.resume", "overwrite", "trust_remote_code"]
    return {key: getattr(args, key) for key in keys}
