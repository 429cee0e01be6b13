"""Start-up cost: a module the CLI's dependencies import but a run never uses.

``websockets.version`` runs ``import importlib.metadata`` at import time, although a released
websockets never touches it (its version is a literal).  That import pulls in ``zipfile``,
``email``, ``csv`` and more: about a tenth of ``wsctl send``'s start-up.  :func:`defer_metadata`
puts a stand-in for ``importlib.metadata`` in ``sys.modules`` that imports the real module on
first use of any of its names (``wsctl --version`` does), so an import that never uses it
costs nothing.

(The standard library's ``importlib.util.LazyLoader`` cannot do this on Python 3.11: the
``import`` statement itself reads the module's ``__spec__``, which makes a lazy module load.)
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any

_NAME = "importlib.metadata"


class _Deferred(types.ModuleType):
    """Stands for ``importlib.metadata`` until a name of it is used."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):  # the import system probing; not a use
            raise AttributeError(name)
        if sys.modules.get(_NAME) is self:
            del sys.modules[_NAME]
        real = importlib.import_module(_NAME)  # also sets importlib.metadata to it
        return getattr(real, name)


def defer_metadata() -> None:
    """Defer ``importlib.metadata`` until it is used, unless it is already loaded."""
    if _NAME not in sys.modules:
        stand_in = _Deferred(_NAME)
        sys.modules[_NAME] = stand_in
        importlib.metadata = stand_in  # as an import would: ``importlib.metadata.version``
