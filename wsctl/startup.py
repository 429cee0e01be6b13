"""Start-up cost: modules the CLI's dependencies import but a run never uses.

* ``websockets.version`` runs ``import importlib.metadata`` at import time, although a released
  websockets never touches it (its version is a literal).  That import pulls in ``zipfile``,
  ``email``, ``csv`` and more.
* ``websockets.proxy`` imports ``urllib.request`` (and with it ``http.client``, ``email``,
  ``tempfile``...) for ``getproxies()``, used only when websockets picks the proxy itself;
  wsctl always tells it which proxy to use (``wsctl/proxy.py`` reads the environment).

Together they are about a fifth of ``wsctl send``'s start-up.  :func:`defer_unused_imports`
puts a stand-in for each in ``sys.modules`` that imports the real module on first use of any
of its names (``wsctl --version`` uses ``importlib.metadata``), so an import that never uses
it costs nothing.

(The standard library's ``importlib.util.LazyLoader`` cannot do this on Python 3.11: the
``import`` statement itself reads the module's ``__spec__``, which makes a lazy module load.)
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any

#: Imported by websockets at import time, used by a wsctl run rarely or never.
DEFERRED = ("importlib.metadata", "urllib.request")


class _Deferred(types.ModuleType):
    """Stands for a module until a name of it is used."""

    def __getattr__(self, name: str) -> Any:
        # The import system probes dunders (``__path__`` for a package's submodules is the
        # exception: that is a use); they must not load the module.
        if name.startswith("__") and name != "__path__":
            raise AttributeError(name)
        if sys.modules.get(self.__name__) is self:
            del sys.modules[self.__name__]
        real = importlib.import_module(self.__name__)  # also sets the parent's attribute
        return getattr(real, name)


def defer(name: str) -> None:
    """Defer importing the module ``name`` (``package.module``) until it is used, unless it
    is already imported."""
    if name in sys.modules:
        return
    parent_name, _, child = name.rpartition(".")
    parent = importlib.import_module(parent_name)
    stand_in = _Deferred(name)
    sys.modules[name] = stand_in
    setattr(parent, child, stand_in)  # as an import would: ``urllib.request.getproxies``


def defer_unused_imports() -> None:
    """Defer every module in :data:`DEFERRED`."""
    for name in DEFERRED:
        defer(name)
