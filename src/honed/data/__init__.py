"""Data: read files of any common shape, detect the record shape, render with the chat template, mask labels."""

from honed.data.encoding import IGNORE_INDEX, ensure_chat_template, prompt_ids, split_prompt_reference
from honed.data.loading import PreparedData, load_rows, prepare_data

__all__ = [
    "IGNORE_INDEX",
    "PreparedData",
    "ensure_chat_template",
    "load_rows",
    "prepare_data",
    "prompt_ids",
    "split_prompt_reference",
]
