"""`meshtool proxy run`: the sidecar proxy."""

from __future__ import annotations

import gc
import os
import re

import click

from meshtool.errors import DataError, UsageError

POD_TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount/token"


def _pairs(values: tuple[str, ...], what: str) -> dict[str, str]:
    out = {}
    for v in values:
        k, sep, val = v.partition("=")
        if not sep or not k:
            raise UsageError(f"{what} {v!r}: expected KEY=VALUE")
        out[k] = val
    return out


def tracing_options(func):
    """--zipkin, --otlp and --trace-sampling, for `proxy run` and `gateway run` alike."""
    func = click.option(
        "--trace-sampling", envvar="MESHTOOL_TRACE_SAMPLING", default="1", metavar="PERCENT",
        show_default=True, help="Percent of new traces recorded; a caller's decision is kept "
                                "(default $MESHTOOL_TRACE_SAMPLING).")(func)
    func = click.option("--otlp", envvar="MESHTOOL_OTLP", default=None, metavar="URL",
                        help="Record spans and send them over OTLP/HTTP, e.g. "
                             "http://127.0.0.1:4318/v1/traces (default $MESHTOOL_OTLP).")(func)
    return click.option("--zipkin", envvar="MESHTOOL_ZIPKIN", default=None, metavar="URL",
                        help="Record spans and send them to Zipkin, e.g. "
                             "http://127.0.0.1:9411/api/v2/spans (default $MESHTOOL_ZIPKIN).")(func)


def tracing_config(zipkin: str | None, otlp: str | None, trace_sampling: str):
    """The TracingConfig of those options; a bad percentage is a usage error."""
    from meshtool.sidecar.tracing import TracingConfig, parse_sampling

    try:
        sampling = parse_sampling(trace_sampling)
    except ValueError:
        raise UsageError(f"--trace-sampling {trace_sampling!r}: expected a percentage "
                         "between 0 and 100") from None
    return TracingConfig(zipkin=zipkin or None, otlp=otlp or None, sampling=sampling)


@click.command("run")
@click.option("--snapshot", "snapshot", metavar="FILE", type=click.Path(dir_okay=False),
              help="Configuration snapshot (JSON or YAML, see docs/snapshot.md); reloaded when "
                   "the file changes. A bad snapshot is rejected and the old one keeps serving.")
@click.option("--mode", type=click.Choice(["explicit", "transparent"]), default="explicit",
              show_default=True, help="explicit: the app uses HTTP_PROXY=127.0.0.1:OUTBOUND; "
                                      "transparent: iptables (proxy init) redirects traffic.")
@click.option("--inbound-port", type=int, default=15006, show_default=True)
@click.option("--outbound-port", type=int, default=15001, show_default=True)
@click.option("--admin-port", type=int, default=15020, show_default=True,
              help="Admin port, on 127.0.0.1 in every mode: /ready, /stats/prometheus, "
                   "/config_dump, /app-health/...")
@click.option("--health-port", type=int, default=None,
              help="Health port on the listen host: /ready and the rewritten probes "
                   "/app-health/... only (what the kubelet calls). Default 15021 with "
                   "--mode transparent, off otherwise.")
@click.option("--app-port", "app_ports", type=int, multiple=True,
              help="The app's port (inbound traffic goes there). Repeatable.")
@click.option("--listen-host", default=None,
              help="Address of the proxy listeners (default 127.0.0.1 explicit, 0.0.0.0 "
                   "transparent).")
@click.option("--service", envvar="MESHTOOL_SERVICE", default="",
              help="The service this sidecar speaks for (default $MESHTOOL_SERVICE).")
@click.option("--service-account", envvar="MESHTOOL_SERVICE_ACCOUNT", default=None, metavar="NAME",
              help="The workload's identity: spiffe://TRUST-DOMAIN/ns/NS/sa/NAME in its "
                   "certificate when the control plane runs a CA (default: the service).")
@click.option("--token-file", envvar="MESHTOOL_TOKEN_FILE", default=None, metavar="PATH",
              help="A Kubernetes service account token sent with the certificate request, which "
                   "the control plane checks with a TokenReview (default: the pod's token, "
                   "when it exists).")
@click.option("--label", "labels", multiple=True, metavar="K=V",
              help="A label of this workload, e.g. version=v1 (default version=$MESHTOOL_VERSION).")
@click.option("--cluster", envvar="MESHTOOL_CLUSTER", default=None, metavar="NAME",
              help="The cluster this workload runs in (its label topology.meshtool.io/cluster, "
                   "default $MESHTOOL_CLUSTER): proxy-status shows it, and locality-aware "
                   "balancing prefers endpoints of the same cluster. In a pod, the cluster, "
                   "region and zone not given as labels are those of the pod's own endpoint "
                   "(found by $INSTANCE_IP), as the control plane read them from its node.")
@click.option("--proxy-id", default=None, help="Default: $POD_NAME.$POD_NAMESPACE, else the "
                                               "service and process id.")
@click.option("--control-plane", envvar="MESHTOOL_CONTROL_PLANE", default=None, metavar="HOST:PORT",
              help="Control plane to receive snapshots from (push stream); several replicas "
                   "separated by commas: the next is used when one goes away.")
@click.option("--resolve", "resolve", multiple=True, metavar="HOST[:PORT]=ADDR[:PORT]",
              help="Connect to ADDR[:PORT] for calls to an external HOST[:PORT] (local meshes and tests); egress rules still see HOST:PORT. Repeatable.")
@tracing_options
@click.option("--retry-buffer", default="64k", show_default=True, metavar="SIZE",
              help="Request bodies up to SIZE (e.g. 64k, 1m) are kept so that a retry can "
                   "replay them; a larger body is streamed once and not retried.")
@click.option("--header-timeout", type=click.FloatRange(min=0.1), default=10.0, show_default=True,
              metavar="SECONDS", help="A client must send a complete request head within this "
                                      "time (of connecting or of its last response), else it is "
                                      "disconnected (slowloris).")
@click.option("--idle-timeout", type=click.FloatRange(min=1), default=300.0, show_default=True,
              metavar="SECONDS", help="Close client and upstream connections without traffic "
                                      "for this long.")
@click.option("--max-connections", type=click.IntRange(min=1), default=10_000, show_default=True,
              help="Client connections beyond this get an immediate 503 with the reason.")
@click.option("--access-log", is_flag=True, help="Print one JSON line per request on stdout.")
@click.option("--workers", type=int, default=1, show_default=True,
              help="Worker processes sharing the ports with SO_REUSEPORT (admin on the first).")
@click.option("-v", "--verbose", is_flag=True, help="Log proxy events on stderr.")
def run(snapshot, mode, inbound_port, outbound_port, admin_port, health_port, app_ports,
        listen_host, service, service_account, token_file, labels, cluster, proxy_id,
        control_plane, resolve, retry_buffer, zipkin, otlp, trace_sampling, header_timeout,
        idle_timeout, max_connections, access_log, workers,
        verbose) -> int:
    """Run the sidecar proxy beside one workload.

    \b
    Listeners: inbound INBOUND-PORT (to the app), outbound OUTBOUND-PORT (explicit
    HTTP proxy or transparent capture) and HEALTH-PORT on --listen-host; admin
    ADMIN-PORT on 127.0.0.1 only.

    \b
    Examples:
      meshtool proxy run --snapshot samples/snapshots/magnanimo.yaml --service magnanimo \\
          --label version=v1 --app-port 4000 &
      HTTP_PROXY=http://127.0.0.1:15001 python samples/services/magnanimo.py --port 4000 &
      curl -s 127.0.0.1:15020/config_dump
    """
    gc.disable()  # until ready: meshtool.sidecar.runner.start_collecting says why
    from meshtool.sidecar.probes import parse_probes
    from meshtool.sidecar.runner import run_sidecar
    from meshtool.sidecar.snapshot import Identity

    label_map = _pairs(labels, "--label")
    if "version" not in label_map and os.environ.get("MESHTOOL_VERSION"):
        label_map["version"] = os.environ["MESHTOOL_VERSION"]
    if cluster:
        from meshtool.conventions import CLUSTER_LABEL

        label_map[CLUSTER_LABEL] = cluster
    if proxy_id is None:
        pod, ns = os.environ.get("POD_NAME"), os.environ.get("POD_NAMESPACE")
        proxy_id = f"{pod}.{ns}" if pod and ns else f"{service or 'proxy'}-{os.getpid()}"
    try:
        probes = parse_probes(os.environ.get("MESHTOOL_APP_PROBES"))
    except ValueError as exc:
        raise DataError(str(exc)) from exc
    if not re.fullmatch(r"\d+[kmg]?", retry_buffer.lower()):
        raise UsageError(f"--retry-buffer {retry_buffer!r}: expected a size such as 64k or 1m")
    if workers < 1:
        raise UsageError("--workers must be at least 1")
    if snapshot and not os.path.exists(snapshot):
        raise DataError(f"{snapshot}: no such snapshot file")
    if snapshot and not os.path.isfile(snapshot):
        # a pipe would block the reader for ever, and cannot be re-read when it "changes"
        raise UsageError(f"--snapshot {snapshot}: not a regular file; give a file the proxy "
                         "can re-read when it changes")
    from meshtool.conventions import DEFAULT_NAMESPACE, HEALTH_PORT
    from meshtool.sidecar.master import SidecarConfig
    from meshtool.sidecar.resolve import Resolver

    resolve_map = _pairs(resolve, "--resolve")
    try:
        Resolver(resolve_map)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    tracing = tracing_config(zipkin, otlp, trace_sampling)
    config = SidecarConfig(
        mode=mode, inbound_port=inbound_port, outbound_port=outbound_port, admin_port=admin_port,
        health_port=health_port if health_port is not None else
        (HEALTH_PORT if mode == "transparent" else None),
        app_ports=list(app_ports), listen_host=listen_host,
        identity=Identity(service=service, labels=label_map, proxy_id=proxy_id,
                          namespace=os.environ.get("POD_NAMESPACE") or DEFAULT_NAMESPACE,
                          service_account=service_account,
                          address=os.environ.get("INSTANCE_IP") or None), snapshot_file=snapshot,
        control_plane=control_plane, access_log=access_log, probes=probes,
        resolve=resolve_map, reuse_port=workers > 1, retry_buffer=retry_buffer.lower(),
        tracing=tracing,
        header_timeout=header_timeout, idle_timeout=idle_timeout, max_connections=max_connections,
        token_file=token_file or (POD_TOKEN if os.path.exists(POD_TOKEN) else None))
    return run_sidecar(config, workers=workers, verbose=verbose)
