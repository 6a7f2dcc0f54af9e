"""One contestant in its own process: `python -m honed.compare.worker SPEC.json`.

A process per technique gives each a clean peak-memory figure (ru_maxrss never goes down within a process) and
keeps one technique's crash, out-of-memory kill or hang from taking the others with it.
"""

from __future__ import annotations

import gc
import json
import logging
import sys
import time
from pathlib import Path

from honed.compare.results import ContestantResult, write_result
from honed.config import EvalConfig, RunConfig
from honed.rundir import eval_dir

log = logging.getLogger("honed")


def run_contestant(spec: dict) -> ContestantResult:
    started = time.perf_counter()
    common = {"label": spec["label"], "method": spec["method"], "fingerprint": spec["fingerprint"]}
    try:
        config = RunConfig.model_validate(spec["config"])
        settings = EvalConfig.model_validate(spec["eval"])
        measured = _train_and_evaluate(config, settings, spec["test_data"]) if spec["method"] else \
            _evaluate_base(config, settings, spec["test_data"])
    except Exception as error:  # any failure becomes a failed row with its reason; the comparison goes on
        log.exception("%s failed", spec["label"])
        return ContestantResult(**common, status="failed", error=one_line(error),
                                elapsed_s=round(time.perf_counter() - started, 1))
    return ContestantResult(**common, **measured, status="ok", elapsed_s=round(time.perf_counter() - started, 1))


def _train_and_evaluate(config: RunConfig, settings: EvalConfig, test_data: str) -> dict:
    from honed import evaluate
    from honed.methods import get_method
    from honed.training import fit

    trained = fit(config)
    summary = trained.summary
    del trained
    gc.collect()
    run_dir = config.run_dir
    artifact = run_dir / get_method(config.method.name).artifact_dir
    evaluation = evaluate(str(run_dir), data=test_data, settings=settings, output=eval_dir(run_dir))
    return {
        "learning_rate": summary["learning_rate"],
        "trainable_params": summary["parameters"]["trainable"],
        "total_params": summary["parameters"]["total"],
        "saved_bytes": sum(f.stat().st_size for f in artifact.rglob("*") if f.is_file()),
        "peak_rss_mb": summary.get("peak_rss_mb"),
        "peak_gpu_mb": summary.get("peak_gpu_mb"),
        "train_time_s": summary["wall_time_s"],
        "tokens_per_s": summary["tokens_per_s"],
        "steps": summary["steps"],
        "final_train_loss": summary["final_train_loss"],
        "initial_val_loss": summary.get("initial_val_loss"),
        "final_val_loss": summary.get("final_val_loss"),
        "metrics": evaluation.target.metrics,
        "run_dir": str(run_dir),
        "eval_dir": str(evaluation.output_dir),
    }


def _evaluate_base(config: RunConfig, settings: EvalConfig, test_data: str) -> dict:
    """The untrained model, prompted exactly as the trained ones are (same tokenizer, template and data settings)."""
    from honed.evaluation import evaluate_subject, load_base_subject

    subject = load_base_subject(config.model, data=config.data, trust_remote_code=config.trust_remote_code)
    total = sum(p.numel() for p in subject.model.parameters())
    evaluation = evaluate_subject(subject, data=test_data, settings=settings, output=eval_dir(config.run_dir))
    return {"trainable_params": 0, "total_params": total, "metrics": evaluation.target.metrics,
            "eval_dir": str(evaluation.output_dir)}


def one_line(error: BaseException) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    kind = type(error).__name__
    message = text if kind == "UserError" else f"{kind}: {text}"
    return message if len(message) <= 400 else message[:397] + "..."


def main(argv: list[str] | None = None) -> int:
    from honed.console import configure_output

    spec_path = Path((argv or sys.argv[1:])[0])
    spec = json.loads(spec_path.read_text(encoding="utf-8"))
    configure_output(debug=False)
    result = run_contestant(spec)
    write_result(spec_path.parent, result)
    return 0 if result.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
