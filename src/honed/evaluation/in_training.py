"""Generation-based evaluation at each validation step of a training run (the loss alone misses format and tone)."""

from __future__ import annotations

from honed.config import EvalConfig
from honed.data import prompt_ids, split_prompt_reference
from honed.errors import UserError
from honed.generation import generate
from honed.metrics import METRICS, corpus_scores


class GenerationEval:
    """Generates answers for the first `settings.sample` validation rows and scores them against the references."""

    def __init__(self, rows: list[dict], tokenizer, settings: EvalConfig):
        if rows and "messages" not in rows[0]:
            raise UserError("eval.during_training needs prompt/completion, alpaca or messages rows, not plain text")
        conversations = [split_prompt_reference(row) for row in rows[: settings.sample]]
        self.tokenizer = tokenizer
        self.prompts = [prompt_ids(tokenizer, messages) for messages, _ in conversations]
        self.references = [reference for _, reference in conversations]
        self.settings = settings
        # Only what is scored on answers: the Trainer reports the validation loss (perplexity's log) already.
        self.metrics = [m.name for m in METRICS if m.name in settings.metrics and m.on_answers]

    def __call__(self, model) -> dict[str, float]:
        was_training = model.training
        model.eval()
        try:
            predictions = generate(model, self.tokenizer, self.prompts, self.settings.generation)
        finally:
            model.train(was_training)
        return corpus_scores(predictions, self.references, self.metrics)
