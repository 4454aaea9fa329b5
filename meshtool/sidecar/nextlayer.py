"""Which protocol layer a captured connection gets, with egress default-deny for every protocol.

mitmproxy's NextLayer addon picks HTTP, TLS or raw TCP from the first bytes a client sends.
In transparent mode the sidecar adds, for connections captured on the outbound port:

- server-first protocols (SMTP, MySQL, a Redis reply...): a client that says nothing within
  SNIFF_TIMEOUT gets a raw TCP relay at once, so the server's greeting reaches it;
- egress default-deny beyond HTTP: a TLS or raw TCP connection to a destination that is
  neither a mesh service nor allowed by an EgressRule is closed, counted in
  meshtool_egress_denied_total and logged with the rule that would allow it. TLS is matched
  by its SNI against EgressRules whose port speaks https; raw TCP by the original destination
  address against IP/CIDR EgressRules. Allowed TLS passes through untouched (no interception).
  Plain HTTP is left to the HTTP layer, where the Egress addon answers 403 with the reason.

On the inbound port (either mode) a connection opening with a TLS ClientHello is a peer
sidecar's mTLS, terminated by the MutualTLS addon; plaintext (and, in transparent mode, a client
that says nothing first) is counted by source and, under STRICT, closed.
"""

from __future__ import annotations

import asyncio
import collections
import logging

from mitmproxy.addons import next_layer
from mitmproxy.proxy import commands, events, layer, layers
from mitmproxy.proxy.layers import modes
from mitmproxy.net.tls import starts_like_tls_record
from mitmproxy.proxy.layers.tls import ServerTLSLayer
from mitmproxy.proxy.mode_specs import ReverseMode

from meshtool.discovery.snapshot import Endpoint
from meshtool.security import spiffe
from meshtool.sidecar.addons.egress import allowing_rule

log = logging.getLogger("meshtool.sidecar")

H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
SNIFF_TIMEOUT = 0.1  # seconds a silent client is given before it is taken for server-first
TLS_PROTOCOLS = ("https", "tls")


class MeshNextLayer(next_layer.NextLayer):
    name = "nextlayer"  # stands in for mitmproxy's addon of that name

    def __init__(self, state, outbound_port: int | None, inbound_port: int | None,
                 denied: dict[str, int] | None = None, app_port: int | None = None):
        super().__init__()
        self.state = state
        self.outbound_port = outbound_port
        self.inbound_port = inbound_port
        self.app_port = app_port  # explicit mode: where the inbound port leads (port-level modes)
        self.denied = denied if denied is not None else {}

    def next_layer(self, nextlayer: layer.NextLayer):
        """Synchronous for explicit and reverse modes; a coroutine for transparent ones."""
        ctx = nextlayer.context
        if nextlayer.layer or not isinstance(ctx.client.proxy_mode, _transparent_modes()):
            if not nextlayer.layer and self._is_inbound_reverse(ctx) and \
                    self._inbound_refused(nextlayer):
                return None
            super().next_layer(nextlayer)
            _prior_knowledge(nextlayer)
            return None
        return self._transparent(nextlayer)

    async def _transparent(self, nextlayer: layer.NextLayer) -> None:
        ctx = nextlayer.context
        if not nextlayer.data_client() and not nextlayer.data_server():
            if await _client_speaks(nextlayer, SNIFF_TIMEOUT):
                return  # asked again once its bytes are processed
            if self._is_outbound(ctx) and not self._tcp_allowed(ctx):
                nextlayer.layer = self._deny(ctx, "tcp", None)
            elif self._is_inbound(ctx) and not ctx.client.tls and \
                    self._refuse_plaintext(nextlayer, _original_port(ctx)):
                return  # a silent client is no mesh client: those open with a ClientHello
            else:  # server-first: relay now so the greeting reaches the client
                nextlayer.layer = self._tcp(ctx)
            return
        if self._is_inbound(ctx) and not ctx.client.tls:
            data = nextlayer.data_client()
            if starts_like_tls_record(data):  # mTLS from a sidecar: terminated here
                tls = nextlayer.layer = layers.ClientTLSLayer(ctx)
                tls.child_layer._ask_on_start = True  # a server-first protocol inside
                return
            if len(data) < 3 and not nextlayer.data_server():
                return  # mitmproxy asks again when more bytes arrive
            if self._refuse_plaintext(nextlayer, _original_port(ctx)):
                return
        super().next_layer(nextlayer)
        _prior_knowledge(nextlayer)
        chosen = nextlayer.layer
        if type(chosen) is layers.TCPLayer and chosen.flow is not None and (
                self._is_inbound(ctx) or self._is_mesh(ctx)):
            nextlayer.layer = self._tcp(ctx)
            return
        if chosen is None or not self._is_outbound(ctx) or self._is_mesh(ctx):
            return
        if isinstance(chosen, layers.HttpLayer):
            return  # the Egress addon judges each request by its Host
        if isinstance(chosen, ServerTLSLayer):
            hello = self._get_client_hello(ctx, nextlayer.data_client())
            sni = hello.sni if hello is not None else None
            if self._tls_allowed(ctx, sni):
                nextlayer.layer = layers.TCPLayer(ctx, ignore=True)  # untouched: no interception
            else:
                nextlayer.layer = self._deny(ctx, "tls", sni)
            return
        if not self._tcp_allowed(ctx):
            nextlayer.layer = self._deny(ctx, "tcp", None)

    # -- opaque TCP: mTLS to mesh endpoints, permissions at connection time ---------------------

    def _tcp(self, ctx) -> layer.Layer:
        """A raw TCP relay; outbound to a mesh service (a cluster IP: to one of its endpoints,
        picked as HTTP picks one) or to an endpoint, inside mTLS when the endpoint has an
        identity; inbound, judged by the traffic permissions on the peer's identity first."""
        if self._is_inbound(ctx):
            why = self._tcp_forbidden(ctx)
            return _Refuse(ctx) if why else layers.TCPLayer(ctx)
        if not self._is_outbound(ctx):
            return layers.TCPLayer(ctx)
        upstream = self._tcp_upstream(ctx)
        if upstream is None:
            return layers.TCPLayer(ctx)
        endpoint, mode = upstream
        if endpoint is None:
            log.warning("TCP connection to %s:%s closed: the service has no healthy endpoint",
                        *ctx.server.address[:2])
            return _Refuse(ctx)
        ctx.server.address = (endpoint.address, endpoint.port)
        certs = self.state.certs
        if mode == "DISABLE" or certs is None or certs.contexts is None or (
                endpoint.identity is None and mode != "ISTIO_MUTUAL"):
            return layers.TCPLayer(ctx)
        self.state.mesh_peers[(endpoint.address, endpoint.port)] = endpoint.identity or ""
        tls = ServerTLSLayer(ctx)  # MutualTLS.tls_start_server checks the peer's SPIFFE ID
        tls.child_layer = layers.TCPLayer(ctx)
        return tls

    def _tcp_upstream(self, ctx) -> tuple[Endpoint | None, str | None] | None:
        """(the endpoint to connect to, the destination's tls mode) for an outbound TCP
        connection to a mesh endpoint or to a service's virtual address; endpoint None: the
        service has none healthy. None: not a mesh destination, relayed as addressed."""
        snap = self.state.snapshot
        if snap is None:
            return None
        host, port = ctx.server.address[:2]
        svc = snap.by_host.get(f"{host}:{port}")
        if svc is not None:  # an endpoint, addressed directly
            return next(((e, None) for e in svc.endpoints if e.address == host and e.port == port),
                        None)
        svc = next((s for addr, s in snap.addresses if addr == host), None)
        if svc is None or (svc.ports and port not in svc.ports):
            return None
        subset = snap.default_subsets.get((svc.namespace, svc.name))
        if subset is None:
            return None
        endpoints = subset.picker.order()
        unhealthy = getattr(self.state, "unhealthy", ())  # failing active health checks
        endpoints = [e for e in endpoints if e.key not in unhealthy] or endpoints
        return (endpoints[0] if endpoints else None), subset.tls

    def _tcp_forbidden(self, ctx) -> str | None:
        """The AccessPolicies on an inbound TCP connection, at connection time: the peer's
        SPIFFE ID (from its client certificate) and the port it dialled."""
        snap = self.state.snapshot
        table = snap.access if snap is not None else None
        if table is None:
            return None
        principal = None
        if ctx.client.tls and ctx.client.certificate_list:
            principal = spiffe.of_certificate(ctx.client.certificate_list[0]._cert)
        source = principal or (ctx.client.peername[0] if ctx.client.peername else "unknown")
        verdict = table.decide_tcp(principal, _original_port(ctx))
        for name in verdict.audited:
            key = (name, source)
            self.state.audited[key] = self.state.audited.get(key, 0) + 1
            log.info("AUDIT %s: TCP connection from %s", name, source)
        if verdict.allowed:
            return None
        why = verdict.policy or "denied"
        key = (why, source)
        self.state.tcp_denied[key] = self.state.tcp_denied.get(key, 0) + 1
        log.info("RBAC: TCP connection from %s to port %s closed by %s", source,
                 _original_port(ctx), why)
        return why

    # -- inbound: PERMISSIVE / STRICT ---------------------------------------------------------

    def _is_inbound_reverse(self, ctx) -> bool:
        mode = ctx.client.proxy_mode
        return (isinstance(mode, ReverseMode) and not ctx.client.tls
                and mode.listen_port() == self.inbound_port)

    def _is_inbound(self, ctx) -> bool:
        return ctx.client.proxy_mode.listen_port() == self.inbound_port

    def _inbound_refused(self, nextlayer: layer.NextLayer) -> bool:
        """A TLS ClientHello goes on to the mTLS termination; plaintext is counted by source and,
        under STRICT, refused (the connection is closed before a byte reaches the app)."""
        data = nextlayer.data_client()
        if len(data) < 3:
            return False  # mitmproxy asks again when more bytes arrive
        if starts_like_tls_record(data):
            return False
        return self._refuse_plaintext(nextlayer, self.app_port)

    def _refuse_plaintext(self, nextlayer: layer.NextLayer, port: int | None) -> bool:
        """Count a plaintext inbound connection by source; under STRICT, refuse it. `port`: the
        app port whose mode applies (port-level policies)."""
        ctx = nextlayer.context
        mode = self.state.inbound_mode(port)
        source = ctx.client.peername[0] if ctx.client.peername else "unknown"
        security = "refused" if mode == "STRICT" else "plaintext"
        counts = self.state.inbound_connections
        counts[(security, source)] = counts.get((security, source), 0) + 1
        if mode != "STRICT":
            return False
        log.info("inbound plaintext connection from %s refused: mTLS is STRICT", source)
        nextlayer.layer = _Refuse(ctx)
        return True

    # -- policy -----------------------------------------------------------------------------

    def _is_outbound(self, ctx) -> bool:
        return ctx.client.proxy_mode.listen_port() == self.outbound_port

    def _is_mesh(self, ctx) -> bool:
        snap = self.state.snapshot
        host, port = ctx.server.address[:2]
        return snap is not None and (snap.by_host.get(f"{host}:{port}") is not None
                                     or snap.by_host.get(host) is not None)

    def _tcp_allowed(self, ctx) -> bool:
        snap = self.state.snapshot
        if snap is None:
            return False
        if self._is_mesh(ctx):
            return True
        host, port = ctx.server.address[:2]
        return allowing_rule(snap.egress, host, port) is not None

    def _tls_allowed(self, ctx, sni: str | None) -> bool:
        snap = self.state.snapshot
        if snap is None:
            return False
        host, port = ctx.server.address[:2]
        if allowing_rule(snap.egress, host, port) is not None:  # an IP/CIDR rule
            return True
        if not sni:
            return False
        allow = allowing_rule(snap.egress, sni, port)
        return allow is not None and (allow.ports is None
                                      or allow.ports.get(port) in TLS_PROTOCOLS)

    def _deny(self, ctx, kind: str, sni: str | None) -> layer.Layer:
        host, port = ctx.server.address[:2]
        name = sni or host
        self.denied[f"{name}:{port}"] = self.denied.get(f"{name}:{port}", 0) + 1
        if kind == "tls":
            needed = (f"EgressRule spec: {{destination: {{service: {name}}}, "
                      f"ports: [{{port: {port}, protocol: https}}]}}")
        else:
            needed = (f"EgressRule spec: {{destination: {{service: {host}/32}}, "
                      f"ports: [{{port: {port}, protocol: tcp}}]}}")
        log.warning("egress denied: %s connection to %s:%s%s is not to a mesh service and no "
                    "EgressRule allows it; to allow it, apply an %s", kind.upper(), host, port,
                    f" (SNI {sni})" if sni else "", needed)
        return _Refuse(ctx)


def _original_port(ctx) -> int | None:
    """The port a transparently captured connection was dialled to: the app's."""
    return ctx.server.address[1] if ctx.server.address else None


def _prior_knowledge(nextlayer: layer.NextLayer) -> None:
    """h2c with prior knowledge (gRPC without TLS, curl --http2-prior-knowledge): a plaintext
    connection opening with the HTTP/2 preface gets mitmproxy's HTTP/2 server, not HTTP/1's."""
    ctx = nextlayer.context
    if (isinstance(nextlayer.layer, layers.HttpLayer) and not ctx.client.tls
            and nextlayer.data_client().startswith(H2_PREFACE)):
        ctx.client.alpn = b"h2"


class _Refuse(layer.Layer):
    """Closes the client connection; no byte reaches the destination."""

    def _handle_event(self, event: events.Event) -> layer.CommandGenerator[None]:
        if isinstance(event, events.Start):
            yield commands.CloseConnection(self.context.client)


class _Notifying(collections.deque):
    """The paused-event queue of a NextLayer that tells us when the client's first bytes come."""

    def __init__(self, items, connection, waiter: asyncio.Future):
        super().__init__(items)
        self.connection, self.waiter = connection, waiter

    def append(self, event) -> None:
        super().append(event)
        if (not self.waiter.done() and isinstance(event, (events.DataReceived,
                                                          events.ConnectionClosed))):
            self.waiter.set_result(None)


async def _client_speaks(nextlayer: layer.NextLayer, timeout: float) -> bool:
    """Did the client send (or close) within `timeout`? Its events queue while we wait."""
    queue = nextlayer._paused_event_queue  # mitmproxy queues events while this hook runs
    if any(isinstance(e, (events.DataReceived, events.ConnectionClosed)) for e in queue):
        return True
    waiter = asyncio.get_running_loop().create_future()
    nextlayer._paused_event_queue = _Notifying(queue, nextlayer.context.client, waiter)
    try:
        await asyncio.wait_for(waiter, timeout)
        return True
    except asyncio.TimeoutError:
        return False


def _transparent_modes() -> tuple:
    from mitmproxy.proxy.mode_specs import TransparentMode
    return (TransparentMode,)


def ask_on_start() -> None:
    """Transparent connections ask for their layer when they open, not at the first client
    byte: a server-first protocol would otherwise wait for ever (idempotent)."""
    finish = modes.DestinationKnown.finish_start
    if getattr(finish, "_meshtool", False):
        return

    def finish_start(self):
        if isinstance(self, modes.TransparentProxy) and isinstance(self.child_layer,
                                                                   layer.NextLayer):
            self.child_layer._ask_on_start = True
        return (yield from finish(self))

    finish_start._meshtool = True  # type: ignore[attr-defined]
    modes.DestinationKnown.finish_start = finish_start
