"""The mitmproxy internals the sidecar builds on are still there.

meshtool's sidecar subclasses and patches parts of mitmproxy that are not its public addon API
(listed below with the module that relies on each). pyproject.toml pins mitmproxy below the
next major version for that reason; when an upgrade removes or renames one of these, this test
names it, instead of the sidecar failing at run time.
"""

from __future__ import annotations

import importlib
import inspect

import pytest

# (module, dotted attribute, what relies on it)
USED = [
    ("mitmproxy.proxy.layers.http", "HttpStream", "sidecar.stream: MeshStream subclasses it"),
    ("mitmproxy.proxy.layers.http", "HttpStream.check_invalid", "sidecar.stream: ws:// targets"),
    ("mitmproxy.proxy.layers.http", "HttpStream.make_server_connection", "sidecar.stream"),
    ("mitmproxy.proxy.layers.http", "HttpStream.start_request_stream", "sidecar.stream"),
    ("mitmproxy.proxy.layers.http", "HttpStream.state_consume_request_body", "sidecar.stream"),
    ("mitmproxy.proxy.layers.http", "HttpStream.state_wait_for_response_headers",
     "sidecar.stream"),
    ("mitmproxy.proxy.layers.http", "HttpStream.state_done", "sidecar.stream"),
    ("mitmproxy.proxy.layers.http", "HttpStream.state_errored", "sidecar.stream"),
    ("mitmproxy.proxy.layers.http", "HttpStream.handle_protocol_error", "sidecar.stream"),
    ("mitmproxy.proxy.layers.http", "HttpStream.send_response", "sidecar.stream"),
    ("mitmproxy.proxy.layers.http", "HttpStream.flow_done", "sidecar.stream"),
    ("mitmproxy.proxy.layers.http", "GetHttpConnection", "sidecar.stream"),
    ("mitmproxy.proxy.layers.http", "SendHttp", "sidecar.stream"),
    ("mitmproxy.proxy.layers.http", "RequestProtocolError", "sidecar.stream"),
    ("mitmproxy.proxy.layers.http", "ResponseProtocolError", "sidecar.stream"),
    ("mitmproxy.proxy.layers.http._http1", "Http1Client", "sidecar.stream"),
    ("mitmproxy.proxy.layers.http._http1", "Http1Server.read_headers", "sidecar.limits"),
    ("mitmproxy.proxy.layers.http._http2", "Http2Client", "sidecar.stream"),
    ("mitmproxy.proxy.layers.http._hooks", "HttpResponseHeadersHook", "sidecar.stream"),
    ("mitmproxy.proxy.utils", "expect", "sidecar.stream"),
    ("mitmproxy.net.http.url", "default_port", "sidecar.stream: ws/wss ports"),
    ("mitmproxy.proxy.server", "TCP_TIMEOUT", "sidecar.limits: idle timeout"),
    ("mitmproxy.proxy.server", "ConnectionIO", "sidecar.bulkreads: readers asked for more"),
    ("mitmproxy.proxy.server", "ConnectionHandler.server_event", "sidecar.inline"),
    ("mitmproxy.proxy.server", "ConnectionHandler.on_timeout", "sidecar.limits"),
    ("mitmproxy.proxy.mode_servers", "ProxyConnectionHandler.handle_hook",
     "sidecar.master: hooks dispatched directly"),
    ("mitmproxy.proxy.mode_servers", "asyncio", "sidecar.master: listen backlog, SO_REUSEPORT"),
    ("mitmproxy.proxy.layers.modes", "DestinationKnown.finish_start",
     "sidecar.nextlayer: server-first TCP"),
    ("mitmproxy.proxy.layers.modes", "TransparentProxy", "sidecar.nextlayer"),
    ("mitmproxy.proxy.layer", "NextLayer", "sidecar.nextlayer, sidecar.limits"),
    ("mitmproxy.addons.next_layer", "NextLayer._get_client_hello", "sidecar.nextlayer: SNI"),
    ("mitmproxy.addons.proxyserver", "Proxyserver.server_connect", "sidecar.master"),
    ("mitmproxy.utils.asyncio_utils", "create_task", "sidecar.lightimport"),
    ("mitmproxy.utils.asyncio_utils", "set_task_debug_info", "sidecar.lightimport"),
    ("mitmproxy.http", "MessageData", "sidecar.lightimport: debug type checks"),
    ("mitmproxy.flow", "uuid", "sidecar.speedups: flow ids"),
    ("mitmproxy.connection", "uuid", "sidecar.speedups: connection ids"),
    ("mitmproxy.net.tls", "create_proxy_server_context", "addons.origination"),
]

# attributes set on instances (checked in the source of the method that sets them)
INSTANCE = [
    ("mitmproxy.proxy.layer", "Layer.__init__", "self._paused_event_queue",
     "sidecar.nextlayer: a silent client is taken for server-first"),
    ("mitmproxy.proxy.layer", "NextLayer.__init__", "self._ask_on_start", "sidecar.nextlayer"),
    ("mitmproxy.proxy.server", "ConnectionHandler.__init__", "self.hook_tasks", "sidecar.inline"),
    ("mitmproxy.proxy.server", "ConnectionHandler.__init__", "self.timeout_watchdog",
     "sidecar.inline, sidecar.master"),
    ("mitmproxy.proxy.server", "ConnectionHandler.__init__", "self.layer", "sidecar.inline"),
    ("mitmproxy.proxy.server", "ConnectionHandler.server_event", "self.layer.handle_event(",
     "sidecar.inline wraps the root layer's handle_event"),
    ("mitmproxy.proxy.server", "ConnectionHandler.server_event", "commands.StartHook",
     "sidecar.inline: hooks become tasks there"),
    ("mitmproxy.proxy.layers.http._http1", "Http1Connection.__init__", "self.buf",
     "sidecar.limits: a partial request head"),
    ("mitmproxy.net.http.http1.read", "_read_request_line", "url.default_port(",
     "sidecar.stream: ws:// absolute-form targets"),
    ("mitmproxy.flow", "Flow.__init__", "uuid.uuid4()", "sidecar.speedups"),
    ("mitmproxy.proxy.layers.http", "HttpLayer.__init__", "self.connections",
     "sidecar.stream: _abandon finds the upstream connection's layer"),
    ("mitmproxy.coretypes.multidict", "MultiDict.__init__", "self.fields",
     "sidecar.speedups, addons.trace: headers read and written as one tuple"),
]


def _resolve(module: str, dotted: str):
    obj = importlib.import_module(module)
    for part in dotted.split("."):
        obj = getattr(obj, part)
    return obj


@pytest.mark.parametrize("module,dotted,who", USED, ids=[f"{m}.{d}" for m, d, _ in USED])
def test_attribute_is_there(module, dotted, who):
    import mitmproxy.version

    try:
        _resolve(module, dotted)
    except (ImportError, AttributeError) as exc:
        pytest.fail(f"mitmproxy {mitmproxy.version.VERSION} has no {module}.{dotted} "
                    f"({exc}); {who} relies on it: adapt it, or keep pyproject's pin")


@pytest.mark.parametrize("module,where,text,who", INSTANCE,
                         ids=[f"{m}.{w}:{t}" for m, w, t, _ in INSTANCE])
def test_instance_attribute_is_set_where_expected(module, where, text, who):
    import mitmproxy.version

    source = inspect.getsource(_resolve(module, where))
    assert text in source, (f"mitmproxy {mitmproxy.version.VERSION}: {module}.{where} no longer "
                            f"contains {text!r}; {who} relies on it")


def test_overridden_signatures_still_match():
    from mitmproxy.proxy.layers.http import HttpStream

    from meshtool.sidecar.stream import MeshStream

    for name in ("check_invalid", "make_server_connection", "start_request_stream",
                 "state_consume_request_body",
                 "state_wait_for_response_headers", "handle_protocol_error"):
        ours = inspect.signature(getattr(MeshStream, name))
        theirs = inspect.signature(getattr(HttpStream, name))
        assert list(ours.parameters) == list(theirs.parameters), name
