"""Let a subpackage be called like its main function: `honed.train(config)` while `honed/train/` holds the code.

Python binds `honed.train` to the subpackage once it is imported, so a plain function of that name in
`honed/__init__.py` would be shadowed; giving the module a __call__ keeps both the folder layout and the API.
"""

from __future__ import annotations

import sys
import types


def make_callable(module_name: str, function_name: str) -> None:
    module = sys.modules[module_name]

    class CallableModule(types.ModuleType):
        def __call__(self, *args, **kwargs):
            return getattr(self, function_name)(*args, **kwargs)

    module.__class__ = CallableModule
