"""honed: fine-tune LLMs for precision, with measured proof that the tuned model got better.

    import honed
    run_dir = honed.train("examples/support.yaml")      # or a dict, or a honed.config.RunConfig
"""

from honed.version import __version__

__all__ = ["__version__", "evaluate", "load_config", "train"]


def __getattr__(name: str):
    # Heavy imports (torch, transformers) wait until the API is used, so `honed --help` stays instant.
    if name in ("train", "evaluate"):
        import importlib

        return importlib.import_module(f"honed.{name}")
    if name == "load_config":
        from honed.config import load_config

        return load_config
    raise AttributeError(name)
