"""honed export: a tuned run as a plain transformers model (merged) or as its adapter, for use outside honed."""

from honed.export.exporter import Exported, export

__all__ = ["Exported", "export"]
