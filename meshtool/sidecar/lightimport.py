"""Import mitmproxy's proxy core without what a sidecar never uses; start-up time is import time.

`mitmproxy/addons/__init__.py` imports every default addon (and through them flask, passlib,
...), which costs about a second; the sidecar uses two of them. Registering the package
without running its __init__ lets `mitmproxy.addons.proxyserver` and friends import alone.
A few third-party modules that mitmproxy's core imports for paths a sidecar never takes are
deferred until first use (DEFERRED), and so are mitmproxy's QUIC/HTTP-3 layers (LAZY_NAMES:
aioquic alone is a fifth of start-up) and its command-line lexer (pyparsing).
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
    "pyparsing": "mitmproxy.command: parsing typed commands (a console, never a sidecar)",
}

# Modules whose names other modules take with `from M import NAME` while importing, although
# they only use them for UDP/QUIC/HTTP-3 or typed commands. Until something really uses one of
# these names, the module is not imported: each name is a stand-in (see _lazy_name).
LAZY_NAMES = {
    "mitmproxy.proxy.layers.quic": (
        "ClientQuicLayer", "QuicStreamLayer", "RawQuicLayer", "ServerQuicLayer",
        "QuicStreamEvent", "quic_parse_client_hello_from_datagrams"),
    "mitmproxy.proxy.layers.http._http3": ("Http3Client", "Http3Server"),
    "mitmproxy.command_lexer": ("unquote",),
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
    defer_unused_layers()


def _load(name: str) -> types.ModuleType:
    """The real module `name`, importing it in place of its stand-in if need be."""
    mod = sys.modules.get(name)
    if mod is None or isinstance(mod, (_Deferred, _LazyNames)):
        sys.modules.pop(name, None)
        mod = importlib.import_module(name)
        parent, _, child = name.rpartition(".")
        if parent:
            setattr(sys.modules[parent], child, mod)
    return mod


class _LazyMeta(type):
    """The type of a stand-in name: using it (call, attribute) imports the real module.

    isinstance/issubclass against it are False until the real module is imported, which is
    exact: no instance of a class can exist before its module ran.
    """

    def _real(cls):
        return getattr(_load(cls._lazy_module), cls.__name__)

    def _loaded(cls):
        mod = sys.modules.get(cls._lazy_module)
        return mod is not None and not isinstance(mod, _LazyNames)

    def __call__(cls, *args, **kwargs):
        return cls._real()(*args, **kwargs)

    def __getattr__(cls, attr):
        if attr.startswith("__"):
            raise AttributeError(attr)
        return getattr(cls._real(), attr)

    def __instancecheck__(cls, obj) -> bool:
        return cls._loaded() and isinstance(obj, cls._real())

    def __subclasscheck__(cls, sub) -> bool:
        return cls._loaded() and issubclass(sub, cls._real())


def _lazy_name(module: str, name: str) -> type:
    return _LazyMeta(name, (), {"_lazy_module": module, "__module__": module})


class _LazyNames(types.ModuleType):
    """Stands in for a module: the listed names are stand-ins, any other attribute imports it."""

    def __getattr__(self, attr: str):
        if attr.startswith("__"):
            raise AttributeError(attr)
        return getattr(_load(self.__name__), attr)


def defer_unused_layers() -> None:
    """Register the LAZY_NAMES stand-ins without importing their parent packages (mitmproxy's
    `proxy.layers` imports its `quic` while it runs)."""
    import mitmproxy

    base = os.path.dirname(mitmproxy.__file__)
    for name, names in LAZY_NAMES.items():
        if name in sys.modules:
            continue
        parts = name.split(".")[1:]
        spec = importlib.machinery.PathFinder.find_spec(name, [os.path.join(base, *parts[:-1])])
        if spec is None:  # another mitmproxy layout: import as usual
            continue
        stub = _LazyNames(name)
        stub.__spec__ = spec
        stub.__file__ = spec.origin
        if spec.submodule_search_locations is not None:
            stub.__path__ = list(spec.submodule_search_locations)
        for attr in names:
            setattr(stub, attr, _lazy_name(name, attr))
        sys.modules[name] = stub
        parent = sys.modules.get(name.rpartition(".")[0])
        if parent is not None:
            setattr(parent, parts[-1], stub)


def skip_debug_typechecks() -> None:
    """What `python -O` would do for mitmproxy's HTTP messages, without re-executing.

    Under __debug__, every Request/Response construction type-checks each field (about a
    tenth of a millisecond per message); our code and mitmproxy's parser build them with the
    right types already.
    """
    from mitmproxy import http

    if "__post_init__" in vars(http.MessageData):
        http.MessageData.__post_init__ = lambda self: None  # type: ignore[method-assign]



def lean_task_names() -> None:
    """mitmproxy names every task it creates (a hook, a connection, a timer) and, under
    __debug__, reads PYTEST_CURRENT_TEST from the environment for each: a few percent of a
    sidecar's CPU when clients open a connection per request. Keep the name, skip the rest."""
    import asyncio

    from mitmproxy.utils import asyncio_utils

    def create_task(coro, *, name: str, client: tuple | None = None) -> asyncio.Task:
        task = asyncio.create_task(coro, name=name)
        if client:
            task.client = client  # type: ignore[attr-defined]
        return task

    def set_task_debug_info(task: asyncio.Task, *, name: str, client: tuple | None = None) -> None:
        task.set_name(name)
        if client:
            task.client = client  # type: ignore[attr-defined]

    asyncio_utils.create_task = create_task
    asyncio_utils.set_task_debug_info = set_task_debug_info
