"""Service ports whose name does not declare the protocol the sidecar should speak."""

from __future__ import annotations

from meshtool.analysis.analyzer import Analyzer
from meshtool.analysis.context import Context
from meshtool.analysis.items import as_dict, as_list

# name prefixes (Istio's convention): "http", "http-web", "grpc-api", ...
PROTOCOLS = ("http", "http2", "https", "grpc", "grpc-web", "tcp", "tls", "udp", "mongo",
             "mysql", "redis")


def declares_protocol(name: str) -> bool:
    name = name.lower()
    return any(name == p or name.startswith(p + "-") for p in PROTOCOLS)


def run(ctx: Context) -> None:
    for service in ctx.index.by_kind.get("Service", []):
        if service.spec.get("type") == "ExternalName":
            continue
        for i, port in enumerate(as_list(service.spec.get("ports"))):
            port = as_dict(port)
            if port.get("appProtocol"):
                continue
            name = port.get("name")
            if isinstance(name, str) and declares_protocol(name):
                continue
            named = f"named {name!r}" if isinstance(name, str) and name else "unnamed"
            number = port.get("port")
            ctx.report("MT0300", service, ("spec", "ports", i, "name") if name else
                       ("spec", "ports", i), port=number if number is not None else i,
                       named=named)


ANALYZER = Analyzer(
    name="port-protocol",
    description="Service port names must declare the protocol (http-, grpc-, tcp-...) or the "
                "port must set appProtocol.",
    kinds=("Service",),
    codes=("MT0300",),
    run=run,
)
