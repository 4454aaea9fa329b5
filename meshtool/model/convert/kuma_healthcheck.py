"""kuma.io/v1alpha1 HealthCheck -> DestinationPolicy with a healthCheck.

Kuma's active health checks: `conf` (interval, timeout, unhealthyThreshold, healthyThreshold,
`tcp: {}` or `http: {path, expectedStatuses}`) for the calls from `sources` to `destinations`.
One destination service per HealthCheck (`kuma.io/service` tag, as in TrafficRoute); a source
of `'*'` is every caller. Kuma's Envoy-specific knobs (jitter, panic thresholds, event logs,
request headers, TCP send/receive payloads) have no native form and are reported.
"""

from __future__ import annotations

from typing import Any

from meshtool.model.convert.base import (Context, Conversion, Converted, FieldPath,
                                         convert_metadata, native_manifest, service_ref)
from meshtool.model.convert.kuma import _source, destination_service
from meshtool.model.kinds import DESTINATION_POLICY

_CONF = ("interval", "timeout", "unhealthyThreshold", "healthyThreshold")


def convert(doc: dict, context: Context) -> Conversion:
    out = Conversion()
    for key in doc:
        if key not in ("apiVersion", "kind", "mesh", "metadata", "spec"):
            out.unsupported((key,))
    metadata = convert_metadata(doc, out)
    spec = doc.get("spec")
    if not isinstance(spec, dict):
        out.problem(("spec",), "must be a mapping with sources, destinations and conf")
        return out
    for key in spec:
        if key not in ("sources", "destinations", "conf"):
            out.unsupported(("spec", key))
    dest = _destination(spec.get("destinations"), ("spec", "destinations"), out)
    conf = spec.get("conf")
    if not isinstance(conf, dict):
        out.problem(("spec", "conf"), "must be a mapping (interval, timeout, thresholds, "
                                      "tcp or http)")
        return out
    if dest is None:
        return out
    pspec: dict[str, Any] = {"destination": service_ref(*dest),
                             "healthCheck": _check(conf, ("spec", "conf"), out)}
    origin = {(): (), ("metadata",): ("metadata",), ("spec",): ("spec",),
              ("spec", "destination"): ("spec", "destinations", 0),
              ("spec", "healthCheck"): ("spec", "conf")}
    source = _source(spec.get("sources"), ("spec", "sources"), out)
    if source:
        pspec["source"] = source
        origin[("spec", "source")] = ("spec", "sources", 0)
    out.converted.append(Converted(native_manifest(DESTINATION_POLICY, metadata, pspec), origin))
    return out


def _destination(value: Any, path: FieldPath, out: Conversion) -> tuple | None:
    return destination_service(
        value, path, out, bad_tag=lambda tag: f"{tag!r} is not one service tag: "
        "NAME_NAMESPACE_svc_PORT or a lowercase service name",
        several="needs exactly one destination service (write one HealthCheck per service)")


def _check(conf: dict, path: FieldPath, out: Conversion) -> dict:
    check: dict[str, Any] = {}
    for key, value in conf.items():
        if key in _CONF:
            check[key] = value
        elif key == "tcp" and isinstance(value, dict):
            for sub in value:
                out.unsupported(path + (key, sub), "the probe is a plain TCP connect")
            check["tcp"] = {}
        elif key == "http" and isinstance(value, dict):
            http: dict[str, Any] = {}
            for sub, sub_value in value.items():
                if sub in ("path", "expectedStatuses"):
                    http[sub] = sub_value
                else:
                    out.unsupported(path + (key, sub))
            check["http"] = http
        else:
            out.unsupported(path + (key,))
    if "http" in check:
        check.pop("tcp", None)  # Kuma probes both; the HTTP probe is the stricter one
    return check
