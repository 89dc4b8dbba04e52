"""Lets a subpackage be called like a function.

``avsync.sync`` and ``avsync.lipsync`` are both functions (the public interface) and subpackages
(``avsync.sync.result``, ``avsync.lipsync.train``). Importing a subpackage binds its module object
to the parent's attribute, which would hide a function of the same name, so the module itself is
made callable: ``avsync.sync(paths)`` calls ``avsync.sync.sync(paths)``.
"""

from __future__ import annotations

import sys
import types
from typing import Any


def make_module_callable(module_name: str, function_name: str) -> None:
    module = sys.modules[module_name]

    class CallableModule(types.ModuleType):
        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            return getattr(self, function_name)(*args, **kwargs)

    CallableModule.__name__ = f"{module_name}.<callable module>"
    module.__class__ = CallableModule
