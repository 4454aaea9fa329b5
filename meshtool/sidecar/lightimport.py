"""Import mitmproxy's proxy core without what a sidecar never uses; start-up time is import time.

`mitmproxy/addons/__init__.py` imports every default addon (and through them flask, passlib,
...), which costs about a second; the sidecar uses two of them. Registering the package
without running its __init__ lets `mitmproxy.addons.proxyserver` and friends import alone.
A few third-party modules that mitmproxy's core imports for paths a sidecar never takes are
deferred until first use (DEFERRED).
"""

from __future__ import annotations

import importlib
import importlib.machinery
import os
import sys
import types


def skip_default_addons() -> None:
    if "mitmproxy.addons" in sys.modules:
        return
    import mitmproxy

    path = os.path.join(os.path.dirname(mitmproxy.__file__), "addons")
    pkg = types.ModuleType("mitmproxy.addons")
    pkg.__path__ = [path]
    pkg.__package__ = "mitmproxy.addons"
    pkg.__spec__ = importlib.machinery.ModuleSpec("mitmproxy.addons", None, is_package=True)
    pkg.__spec__.submodule_search_locations = [path]
    sys.modules["mitmproxy.addons"] = pkg
    mitmproxy.addons = pkg  # type: ignore[attr-defined]


# Imported at module level by mitmproxy's core but only used on paths a sidecar never takes.
DEFERRED = {
    "ruamel.yaml": "mitmproxy.optmanager: YAML option files",
    "service_identity": "aioquic.tls: QUIC certificate checks",
    "certifi": "aioquic.tls: QUIC's CA bundle",
}


class _Deferred(types.ModuleType):
    """Stands in for a module until something reads an attribute of it, then imports it."""

    def __getattr__(self, attr: str):
        real = sys.modules.get(self.__name__)
        if real is self or real is None:
            del sys.modules[self.__name__]
            real = importlib.import_module(self.__name__)
            parent, _, child = self.__name__.rpartition(".")
            if parent:
                setattr(sys.modules[parent], child, real)
        return getattr(real, attr)


def defer_unused_modules() -> None:
    for name in DEFERRED:
        if name in sys.modules:
            continue
        parent, _, child = name.rpartition(".")
        if parent:
            try:
                importlib.import_module(parent)
            except ImportError:
                continue
        sys.modules[name] = stub = _Deferred(name)
        if parent:
            setattr(sys.modules[parent], child, stub)


def skip_debug_typechecks() -> None:
    """What `python -O` would do for mitmproxy's HTTP messages, without re-executing.

    Under __debug__, every Request/Response construction type-checks each field (about a
    tenth of a millisecond per message); our code and mitmproxy's parser build them with the
    right types already.
    """
    from mitmproxy import http

    if "__post_init__" in vars(http.MessageData):
        http.MessageData.__post_init__ = lambda self: None  # type: ignore[method-assign]

