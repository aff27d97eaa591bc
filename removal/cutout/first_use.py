"""Names a module serves from other modules, each imported at its first use (PEP 562's module `__getattr__`): what
removal.cutout.pipeline (the image core's libraries) and removal.ops.metrics (prometheus-client) do, so that a
process that never uses them does not load them."""

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def loader(namespace: dict[str, Any], module_of: Mapping[str, str]) -> Callable[[str], Any]:
    """A `__getattr__` for the module whose globals are `namespace`: each name of `module_of` imported from its
    module when first asked for, then kept in `namespace`, so that the next use is a plain lookup."""

    def __getattr__(name: str) -> Any:
        if name not in module_of:
            raise AttributeError(f"module {namespace['__name__']!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module_of[name]), name)
        namespace[name] = value
        return value

    return __getattr__
