"""Import mitmproxy's proxy core without its ~35 default addons.

`mitmproxy/addons/__init__.py` imports every default addon (and through them flask, passlib,
...), which costs about a second; the sidecar uses three of them. Registering the package
without running its __init__ lets `mitmproxy.addons.proxyserver` and friends import alone.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
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


def skip_debug_typechecks() -> None:
    """What `python -O` would do for mitmproxy's HTTP messages, without re-executing.

    Under __debug__, every Request/Response construction type-checks each field (about a
    tenth of a millisecond per message); our code and mitmproxy's parser build them with the
    right types already.
    """
    from mitmproxy import http

    if "__post_init__" in vars(http.MessageData):
        http.MessageData.__post_init__ = lambda self: None  # type: ignore[method-assign]

