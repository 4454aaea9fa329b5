"""The embedded mitmproxy Master: only the core addons a proxy needs, then ours, in one list.

`Sidecar` owns the state, the Master, the admin server and the snapshot file watcher.
Stock mitmdump loads ~35 addons that each see every event; a sidecar needs the proxy server,
layer selection and its own policies, which roughly doubles throughput.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from meshtool.conventions import DEFAULT_NAMESPACE
from meshtool.sidecar.snapshot import Identity
from meshtool.sidecar.state import SidecarState
from meshtool.sidecar.tracing import TracingConfig

log = logging.getLogger("meshtool.sidecar")


@dataclass
class SidecarConfig:
    mode: str = "explicit"  # explicit | transparent
    inbound_port: int | None = 15006
    outbound_port: int | None = 15001
    admin_port: int | None = 15020  # loopback only, in every mode
    health_port: int | None = None  # /ready and probes on the listen host; None: off
    app_ports: list[int] = field(default_factory=list)
    listen_host: str | None = None  # default: 127.0.0.1 explicit, 0.0.0.0 transparent
    identity: Identity = field(default_factory=Identity)
    snapshot_file: str | None = None
    control_plane: str | None = None
    access_log: bool = False
    probes: dict[str, Any] = field(default_factory=dict)
    resolve: dict[str, str] = field(default_factory=dict)
    reuse_port: bool = False  # several worker processes sharing the listening ports
    tracing: TracingConfig = field(default_factory=TracingConfig)  # off unless an exporter is set
    retry_buffer: str = "64k"  # request bodies kept for a retry up to this size; larger: sent once
    header_timeout: float = 10.0  # seconds for a client to send a complete request head
    idle_timeout: float = 300.0  # seconds a connection may stay without traffic
    max_connections: int = 10_000  # client connections; beyond, requests get a fast 503
    backlog: int = 4096  # listen backlog of the proxy ports
    mtls: bool = True  # ask the control plane for a workload certificate (when it has a CA)
    token_file: str | None = None  # Kubernetes: the service account token sent with the CSR
    kind: str = "sidecar"  # sidecar | gateway: what the hello and proxy-status say

    @property
    def host(self) -> str:
        """Where the proxy listeners and the health port listen."""
        return self.listen_host or ("0.0.0.0" if self.mode == "transparent" else "127.0.0.1")

    def listeners(self) -> list[str]:
        """The listeners as the start-up line shows them."""
        return self.modes()

    def modes(self) -> list[str]:
        host = self.host
        out = []
        if self.inbound_port is not None:
            if self.mode == "transparent":
                out.append(f"transparent@{host}:{self.inbound_port}")
            elif self.app_ports:
                out.append(f"reverse:http://127.0.0.1:{self.app_ports[0]}@{host}:{self.inbound_port}")
        if self.outbound_port is not None:
            kind = "transparent" if self.mode == "transparent" else "regular"
            out.append(f"{kind}@{host}:{self.outbound_port}")
        return out


def build_addons(state: SidecarState, config: SidecarConfig, recorder=None) -> list:
    """Our policies in the order they act on a request. Each reads and leaves flow.metadata.
    `recorder`: a meshtool.sidecar.tracing.SpanRecorder when tracing is on."""
    from meshtool.sidecar.addons.accesslog import AccessLog
    from meshtool.sidecar.addons.authz import Authz
    from meshtool.sidecar.addons.circuitbreaker import CircuitBreaker
    from meshtool.sidecar.addons.cors import Cors
    from meshtool.sidecar.addons.egress import Egress
    from meshtool.sidecar.addons.fault import Fault
    from meshtool.sidecar.addons.forward import Forward
    from meshtool.sidecar.addons.metrics import Metrics
    from meshtool.sidecar.addons.mirror import Mirror
    from meshtool.sidecar.addons.mtls import MutualTLS
    from meshtool.sidecar.addons.origination import Origination
    from meshtool.sidecar.addons.routing import Routing
    from meshtool.sidecar.addons.trace import Trace
    from meshtool.sidecar.peer import local_peer, peer_value, source_value

    me = local_peer(state.identity)
    addons = [
        MutualTLS(state, config.inbound_port),
        Routing(state, config.inbound_port),
        Authz(state, config.app_ports[0] if config.app_ports else None),
        Trace(source_value(me), peer_value(me), recorder),
        Egress(state, config.inbound_port),
        Cors(),
        Fault(),
        CircuitBreaker(),
        Mirror(),
        Forward(state, transparent_inbound=config.mode == "transparent"),
        Metrics(state, config.inbound_port),
        Origination(state),
    ]
    if config.access_log:
        addons.append(AccessLog())
    return addons


def load_snapshot_file(path: str) -> Any:
    """JSON or YAML; ValueError when it does not parse (or is nested too deeply to)."""
    import stat

    try:
        # replaced by a pipe or a device while the proxy runs: refuse, never block on it
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise ValueError(f"{path}: not a regular file")
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not UTF-8 text: {exc}") from exc
    try:
        if path.endswith(".json"):
            return decode_json(text)
        import yaml
        try:
            return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        except yaml.YAMLError as exc:
            raise ValueError(f"invalid YAML: {exc}") from exc
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from exc
    except RecursionError:
        raise ValueError(f"{path}: nested too deeply to be a snapshot") from None


def decode_json(text: str) -> Any:
    """json.loads whose every failure is a one-line ValueError (deep nesting included)."""
    import json

    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"invalid JSON: {exc}") from exc
    except RecursionError:
        raise ValueError("JSON nested too deeply to be a snapshot") from None


class Sidecar:
    def __init__(self, config: SidecarConfig):
        self.config = config
        self.state = SidecarState(config.identity, config.resolve)
        self.master = None
        self.metrics = None
        self.admin = None
        self.health = None
        self.limits = None
        self.discovery = None  # the DiscoveryClient, with --control-plane
        self.recorder = None  # the SpanRecorder, when tracing is on
        self._file_stamp: tuple | None = None

    def apply_file(self) -> bool:
        """(Re)load the snapshot file; a bad one is logged and the old one keeps serving."""
        path = self.config.snapshot_file
        try:
            st = os.stat(path)
            stamp: tuple = (st.st_mtime_ns, st.st_size, st.st_ino)
        except OSError as exc:
            stamp = ("unreadable", str(exc))
        if stamp == self._file_stamp:
            return False
        self._file_stamp = stamp
        try:
            if stamp[0] == "unreadable":
                raise ValueError(f"{path}: {stamp[1]}")
            self.state.apply_snapshot(load_snapshot_file(path), source=path)
        except (OSError, ValueError) as exc:
            if isinstance(exc, OSError) or str(exc).startswith(f"{path}:"):
                # unreadable or unparsable: apply_snapshot never saw it, so record it here
                self.state.rejected_total += 1
                self.state.last_rejected = {"error": str(exc), "at": time.time(), "source": path}
            log.error("snapshot %s rejected, keeping version %s: %s", path, self.state.version, exc)
            return False
        log.info("snapshot %s applied: version %s", path, self.state.version)
        return True

    async def _watch_file(self) -> None:
        while True:  # nothing a file holds may stop the watching
            await asyncio.sleep(0.2)
            try:
                self.apply_file()
            except Exception:  # noqa: BLE001 - logged; the snapshot in force keeps serving
                log.exception("snapshot %s: unexpected failure, still watching",
                              self.config.snapshot_file)

    async def start(self) -> None:
        """Listen on every port; returns once ready to serve (or raises OSError)."""
        from meshtool.sidecar.lightimport import (defer_unused_modules, lean_task_names,
                                                  skip_debug_typechecks, skip_default_addons)

        skip_default_addons()
        defer_unused_modules()
        skip_debug_typechecks()
        lean_task_names()
        from meshtool.sidecar import bulkreads, speedups

        speedups.install()
        bulkreads.install()
        from mitmproxy import options
        from mitmproxy.addons import proxyserver
        from mitmproxy.master import Master

        from meshtool.sidecar.admin import AdminServer
        from meshtool.sidecar.limits import ConnectionLimits

        cfg = self.config
        self.limits = ConnectionLimits(cfg.header_timeout, cfg.idle_timeout, cfg.max_connections)
        if cfg.snapshot_file:
            self.apply_file()
        elif not cfg.control_plane:
            self.state.apply_snapshot({"version": "empty"}, source="built-in")
        opts = options.Options()
        self.master = Master(opts)
        from meshtool.sidecar.addons.metrics import Metrics
        from meshtool.sidecar.pipeline import Pipeline

        if cfg.tracing.enabled:  # the OpenTelemetry SDK loads only now
            from meshtool.sidecar.tracing import SpanRecorder
            self.recorder = SpanRecorder(cfg.tracing, cfg.identity.service, cfg.identity.proxy_id)
        pipeline = Pipeline(self.build_addons())
        self.metrics = pipeline.find(Metrics)
        from meshtool.sidecar import stream

        stream.install()
        from meshtool.sidecar.nextlayer import MeshNextLayer, ask_on_start

        if cfg.mode == "transparent":
            ask_on_start()
        core = [_proxyserver(proxyserver, cfg.inbound_port),
                MeshNextLayer(self.state, cfg.outbound_port, cfg.inbound_port,
                              denied=self.metrics.denied,
                              app_port=cfg.app_ports[0] if cfg.app_ports else None), *self.core_addons()]
        from meshtool.sidecar.addons.healthcheck import HealthChecks

        # not a request policy: a background prober, started and stopped with the proxy
        self.master.addons.add(*core, pipeline, HealthChecks(self.state))
        _dispatch_hooks_directly([*core, pipeline], self.limits)
        opts.update(mode=cfg.modes(), connection_strategy="lazy", keep_host_header=True,
                    server=True, stream_large_bodies=cfg.retry_buffer)
        _patch_start_server(cfg.reuse_port, cfg.backlog)
        self.limits.start()
        if cfg.admin_port is not None:  # configuration and metrics: never off loopback
            self.admin = AdminServer(self.state, self.metrics.render, cfg.probes)
            await self.admin.start("127.0.0.1", cfg.admin_port)
        if cfg.health_port is not None and cfg.admin_port is not None:
            # the kubelet calls /ready and the rewritten probes on the pod address
            self.health = AdminServer(self.state, self.metrics.render, cfg.probes,
                                      health_only=True)
            await self.health.start(cfg.host, cfg.health_port)
        ok = await self.master.addons.get("proxyserver").setup_servers()
        if not ok:
            raise OSError(f"could not listen on {', '.join(cfg.modes())} (port in use?)")
        await self.master.running()
        self.state.listening = True
        if cfg.snapshot_file:
            asyncio.ensure_future(self._watch_file())
        elif cfg.control_plane:
            self._follow_control_plane()

    def build_addons(self) -> list:
        """The policy addons, in order (a gateway puts its own routing in front)."""
        return build_addons(self.state, self.config, self.recorder)

    def core_addons(self) -> list:
        """Connection-level addons beside mitmproxy's (a gateway adds TLS termination)."""
        return []

    def _follow_control_plane(self) -> None:
        """Receive snapshots over the push stream (docs/protocol.md); a snapshot that does not
        compile is NACKed with the reason and the one in force keeps serving."""
        from meshtool.discovery.client import DiscoveryClient
        from meshtool.discovery.protocol import Identity as Hello

        cfg, ident = self.config, self.config.identity
        worker = cfg.admin_port is None and cfg.reuse_port  # a forked worker: own stream, no endpoint
        host = cfg.listen_host if cfg.listen_host not in (None, "0.0.0.0", "::") else "127.0.0.1"
        if cfg.mode == "transparent":  # reached at the pod's address on the app's port
            ip = os.environ.get("INSTANCE_IP")
            inbound = f"{ip}:{cfg.app_ports[0]}" if ip and cfg.app_ports else None
        else:
            inbound = f"{host}:{cfg.inbound_port}" if cfg.inbound_port and cfg.app_ports else None
        hello = Hello(proxy_id=f"{ident.proxy_id}~{os.getpid()}" if worker else ident.proxy_id,
                      service=ident.service or ident.proxy_id,
                      namespace=os.environ.get("POD_NAMESPACE") or DEFAULT_NAMESPACE,
                      labels=dict(ident.labels), inbound_address=None if worker else inbound,
                      ports=tuple(cfg.app_ports),
                      admin_address=f"127.0.0.1:{cfg.admin_port}" if cfg.admin_port else None,
                      service_account=ident.service_account, kind=cfg.kind)
        self.discovery = DiscoveryClient(
            cfg.control_plane, hello,
            lambda doc: self.state.apply_snapshot(doc, source="control-plane"),
            decode=self._decode_pushed)
        if cfg.mtls:
            from meshtool.sidecar.certs import CertificateManager

            self.state.certs = CertificateManager(token_file=cfg.token_file)
            self.state.certs.attach(self.discovery)
        self.discovery.start()

    def _decode_pushed(self, data: str | bytes) -> Any:
        """A pushed message that does not decode is recorded as rejected, then refused."""
        from meshtool.discovery.wire import decode_message

        try:
            return decode_message(data, loads=decode_json)
        except ValueError as exc:
            self.state.rejected_total += 1
            self.state.last_rejected = {"error": str(exc), "at": time.time(),
                                        "source": "control-plane"}
            raise

    async def run(self, on_ready: Callable[[], None] | None = None) -> None:
        """Start, call `on_ready`, serve until SIGTERM or SIGINT."""
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(quiet_cancellations)
        await self.start()
        if on_ready is not None:
            on_ready()
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        self.state.listening = False
        if self.recorder is not None:  # send what is queued, in a thread: the loop stays free
            await loop.run_in_executor(None, self.recorder.shutdown)


def quiet_cancellations(loop: asyncio.AbstractEventLoop, context: dict) -> None:
    """Connections still open at shutdown are cancelled; that is not worth a traceback."""
    if isinstance(context.get("exception"), asyncio.CancelledError):
        return
    loop.default_exception_handler(context)


def _proxyserver(proxyserver, inbound_port: int | None):
    """mitmproxy's Proxyserver, except that a call to our own inbound port is allowed.

    mitmproxy refuses any connection to one of its own listeners (a loop when misconfigured);
    in a mesh a service may call itself, and its endpoint is this sidecar's inbound port.
    """

    class SidecarProxyserver(proxyserver.Proxyserver):
        name = "proxyserver"
        def server_connect(self, data) -> None:
            super().server_connect(data)
            if (data.server.error and data.server.address
                    and data.server.address[1] == inbound_port
                    and data.server.error.startswith("Request destination unknown")):
                data.server.error = None

    return SidecarProxyserver()


# Connection and flow events: handled by our three addons only (mitmproxy's Proxyserver, our
# next-layer choice, the pipeline); others (configure, running, ...) keep the normal path.
DIRECT_HOOKS = (
    "requestheaders", "request", "responseheaders", "response", "error", "http_connect",
    "http_connect_upstream", "http_connected", "http_connect_error",
    "websocket_start", "websocket_message", "websocket_end",
    "tcp_start", "tcp_message", "tcp_end", "tcp_error",
    "client_connected", "client_disconnected", "server_connect", "server_connected",
    "server_disconnected", "server_connect_error", "next_layer",
    "tls_clienthello", "tls_start_client", "tls_start_server", "tls_established_client",
    "tls_established_server", "tls_failed_client", "tls_failed_server")


def _dispatch_hooks_directly(addons: list, limits) -> None:
    """Call our addons for connection and flow events instead of going through mitmproxy's
    AddonManager.

    The manager looks the hook up on every addon, wraps each call in a context manager and
    sends a second "update" event per flow event for interactive tools; with a dozen events per
    connection and four per request that was a large part of the sidecar's CPU time.
    """
    from mitmproxy.proxy import mode_servers

    from meshtool.sidecar.inline import inline

    handlers = {name: [fn for a in addons if callable(fn := getattr(a, name, None))]
                for name in DIRECT_HOOKS}
    general = mode_servers.ProxyConnectionHandler.handle_hook
    general = getattr(general, "_meshtool_general", general)

    def settled(handler, hook) -> bool:
        """What every hook passes first: the connection limits' bookkeeping."""
        name = hook.name
        limits.event(handler, name)
        return name == "requestheaders" and limits.refuse(hook.flow)

    async def handle_hook(self, hook) -> None:
        name = hook.name
        if name == "client_connected":  # the first hook of a connection: its layers are new
            inline(self, handlers, settled)
        if settled(self, hook):
            return
        fns = handlers.get(name)
        if fns is None:
            return await general(self, hook)
        if fns:
            args = hook.args()
            with self.timeout_watchdog.disarm():
                for fn in fns:
                    try:
                        result = fn(*args)
                        if result is not None:
                            await result
                    except Exception:  # noqa: BLE001 - as the AddonManager would: log, go on
                        log.exception("%s hook of %s failed", name, type(fn.__self__).__name__)

    handle_hook._meshtool_general = general  # type: ignore[attr-defined]
    mode_servers.ProxyConnectionHandler.handle_hook = handle_hook


def _patch_start_server(reuse_port: bool, backlog: int) -> None:
    """The proxy listeners' socket options: SO_REUSEPORT for several worker processes (the
    kernel spreads connections), and a listen backlog for bursts of new connections."""
    import functools

    from mitmproxy.proxy import mode_servers

    if getattr(mode_servers.asyncio, "_meshtool_reuse", False):
        return
    real = asyncio.start_server

    @functools.wraps(real)
    async def start_server(*args, **kwargs):
        if reuse_port:
            kwargs.setdefault("reuse_port", True)
        kwargs.setdefault("backlog", backlog)
        return await real(*args, **kwargs)

    class _Asyncio:  # a view of asyncio for mode_servers only
        def __getattr__(self, name):
            return getattr(asyncio, name)

    shim = _Asyncio()
    shim.start_server = start_server  # type: ignore[attr-defined]
    shim._meshtool_reuse = True  # type: ignore[attr-defined]
    mode_servers.asyncio = shim
