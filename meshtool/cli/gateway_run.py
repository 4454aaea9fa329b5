"""`meshtool gateway run`: the ingress gateway."""

from __future__ import annotations

import gc
import os

import click

from meshtool.cli.proxy_run import tracing_options
from meshtool.conventions import (ADMIN_PORT, GATEWAY_HTTP_PORT, GATEWAY_HTTPS_PORT, GATEWAY_SERVICE,
                                  HEALTH_PORT)
from meshtool.errors import DataError, UsageError


def _pair(value: str):
    from meshtool.sidecar.tlsterm import CertificatePair

    chain, sep, key = value.partition(",")
    if not sep or not chain or not key:
        raise UsageError(f"--tls-cert {value!r}: expected CERT.pem,KEY.pem")
    for path in (chain, key):
        if not os.path.isfile(path):
            raise DataError(f"{path}: no such file (--tls-cert)")
    return CertificatePair(chain, key)


@click.command("run")
@click.option("--control-plane", envvar="MESHTOOL_CONTROL_PLANE", default=None, metavar="HOST:PORT",
              help="Control plane to receive routes from (push stream), e.g. 127.0.0.1:15010.")
@click.option("--snapshot", metavar="FILE", type=click.Path(dir_okay=False),
              help="A snapshot file instead of a control plane (docs/snapshot.md); reloaded when "
                   "it changes.")
@click.option("--http-port", type=int, default=GATEWAY_HTTP_PORT, show_default=True,
              help="Plain HTTP listener.")
@click.option("--https-port", type=int, default=None,
              help=f"HTTPS listener (TLS terminated here). Default {GATEWAY_HTTPS_PORT} when "
                   f"--tls-cert is given. With --control-plane and no --tls-cert it serves the "
                   f"Secrets that Ingresses and Gateways name (Kubernetes mode), as they arrive.")
@click.option("--https-redirect-port", type=click.IntRange(1, 65535), default=None, metavar="PORT",
              help="The HTTPS port that http->https redirects name: the one clients reach, "
                   "such as a Service's 443 in front of --https-port 8443. Default: --https-port.")
@click.option("--tls-cert", "tls_certs", multiple=True, metavar="CERT.pem,KEY.pem",
              help="A certificate chain and its key; the client's SNI picks among several "
                   "(by the certificates' DNS names, the first is the default). Repeatable.")
@click.option("--listen-host", default=None,
              help="Address of the listeners (default 127.0.0.1; 0.0.0.0 in a pod).")
@click.option("--admin-port", type=int, default=ADMIN_PORT, show_default=True,
              help="Admin port on 127.0.0.1: /ready, /stats/prometheus, /config_dump.")
@click.option("--health-port", type=int, default=None,
              help=f"Health port on the listen host: /ready (200 once the first routes are in "
                   f"force, 503 before) and /stats/prometheus, for a readiness probe (`install "
                   f"--gateway` uses {HEALTH_PORT}). Off by default.")
@click.option("--proxy-id", default=None,
              help="Default: $POD_NAME.$POD_NAMESPACE, else meshtool-gateway-PID.")
@click.option("--token-file", envvar="MESHTOOL_TOKEN_FILE", default=None, metavar="PATH",
              help="A Kubernetes service account token, checked by the control plane with a "
                   "TokenReview: in the hello (the TLS Secrets' certificates go to the gateway's "
                   "account only) and with the request for the mesh certificate (mTLS to the "
                   "sidecars). Default: the pod's token, when it exists.")
@click.option("--resolve", "resolve", multiple=True, metavar="HOST[:PORT]=ADDR[:PORT]",
              help="Connect to ADDR[:PORT] for calls to HOST[:PORT] (tests). Repeatable.")
@tracing_options
@click.option("--access-log", is_flag=True, help="Print one JSON line per request on stdout.")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="Worker processes sharing the ports with SO_REUSEPORT (admin on the first).")
@click.option("-v", "--verbose", is_flag=True, help="Log proxy events on stderr.")
def run(control_plane, snapshot, http_port, https_port, https_redirect_port, tls_certs, listen_host, admin_port,
        health_port, proxy_id, token_file, resolve, zipkin, otlp, trace_sampling, access_log,
        workers, verbose) -> int:
    """Run the ingress gateway: requests from outside the mesh, routed by host and path to
    mesh Services by the Ingress, Gateway API and Istio Gateway routes the control plane
    pushes; an unknown host or path gets 404. After the gateway's route, the Service's own
    RouteRules (weights, matches, retries, timeouts) apply as for any caller.

    HTTPS: --tls-cert CERT.pem,KEY.pem once per certificate; the client's SNI picks
    one, ALPN offers h2 (docs/gateway.md shows it with a generated certificate). On
    Kubernetes, --https-port alone: the control plane pushes the certificates of the
    Secrets named by Ingress spec.tls, Gateway certificateRefs and Istio credentialName.

    \b
    Example:
      meshtool gateway run --control-plane 127.0.0.1:15010 --http-port 8080 --admin-port 15220
    """
    gc.disable()  # until ready: meshtool.sidecar.runner.start_collecting says why
    from meshtool.cli.proxy_run import POD_TOKEN, _pairs, tracing_config
    from meshtool.sidecar.gateway import Gateway, GatewayConfig
    from meshtool.sidecar.resolve import Resolver
    from meshtool.sidecar.runner import run_sidecar
    from meshtool.sidecar.snapshot import Identity

    if not control_plane and not snapshot:
        raise UsageError("gateway run needs --control-plane HOST:PORT or --snapshot FILE")
    if snapshot and not os.path.exists(snapshot):
        raise DataError(f"{snapshot}: no such snapshot file")
    pairs = [_pair(v) for v in tls_certs]
    if pairs and https_port is None:
        https_port = GATEWAY_HTTPS_PORT
    if https_port is not None and not pairs and not control_plane:
        raise UsageError("--https-port needs --tls-cert CERT.pem,KEY.pem, or --control-plane "
                         "(which sends the certificates of the Secrets Ingresses and Gateways "
                         "name)")
    if proxy_id is None:
        pod, ns = os.environ.get("POD_NAME"), os.environ.get("POD_NAMESPACE")
        proxy_id = f"{pod}.{ns}" if pod and ns else f"{GATEWAY_SERVICE}-{os.getpid()}"
    resolve_map = _pairs(resolve, "--resolve")
    try:
        Resolver(resolve_map)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    config = GatewayConfig(
        http_port=http_port, https_port=https_port, redirect_port=https_redirect_port,
        certificates=pairs, admin_port=admin_port,
        health_port=health_port, listen_host=listen_host, snapshot_file=snapshot, control_plane=control_plane,
        identity=Identity(service=GATEWAY_SERVICE, proxy_id=proxy_id, kind="gateway"),
        resolve=resolve_map, access_log=access_log,
        tracing=tracing_config(zipkin, otlp, trace_sampling), reuse_port=workers > 1,
        token_file=token_file or (POD_TOKEN if os.path.exists(POD_TOKEN) else None))
    try:
        return run_sidecar(config, workers=workers, verbose=verbose, proxy_class=Gateway)
    except ValueError as exc:  # a certificate that does not load
        raise DataError(str(exc)) from None
