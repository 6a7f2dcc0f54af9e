"""Using a tuned model: an OpenAI-compatible server (many adapters on one base) and a terminal chat."""

from honed.serve.limits import Limits
from honed.serve.pool import ModelPool, Served, load_pool
from honed.serve.server import make_app, make_server

__all__ = ["Limits", "ModelPool", "Served", "load_pool", "make_app", "make_server"]
