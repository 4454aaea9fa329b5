"""kuma.io/v1alpha1 TrafficRoute -> RouteRule.

Kuma names a service by its `kuma.io/service` tag, on Kubernetes "NAME_NAMESPACE_svc_PORT";
other tags (version: v2) select instances and become route labels. `conf.split` weights
are relative (90/10, 9/1 and 3/0 are all valid): they are normalised to percentages that
sum to 100 by the largest-remainder method, ties going to the earlier entry, so the
same input always gives the same rule. `mesh` is accepted whatever its value: meshtool
has one mesh. Both the Kubernetes form (apiVersion, metadata, spec) and Kuma's universal
form (type: TrafficRoute, name, mesh and the spec fields at the top) are read.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction
from typing import Any, Callable

from meshtool.model.convert.base import (Context, Conversion, Converted, FieldPath,
                                         convert_metadata, native_manifest, service_ref)
from meshtool.model.kinds import ROUTE_RULE

API_VERSION = "kuma.io/v1alpha1"
SERVICE_TAG = "kuma.io/service"
_KUBE_NAME = re.compile(r"^(?P<name>[a-z0-9]([-a-z0-9]*[a-z0-9])?)_(?P<ns>[a-z0-9]([-a-z0-9]*"
                        r"[a-z0-9])?)_svc(?:_\d+)?$")
_PLAIN_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
_SPEC_KEYS = ("sources", "destinations", "conf")


def is_universal(doc: Any) -> bool:
    """Kuma's universal (non-Kubernetes) form of a TrafficRoute."""
    return isinstance(doc, dict) and "apiVersion" not in doc and doc.get("type") == "TrafficRoute"


def parse_service(tag: Any) -> tuple[str, str | None] | None:
    """'benigno_default_svc_5000' -> ('benigno', 'default'); 'benigno' -> ('benigno', None);
    anything that is neither (such as 'benigno\\_default\\_svc\\_5000', copied from a page
    that escaped its underscores for Markdown) -> None."""
    if not isinstance(tag, str) or not tag or tag == "*":
        return None
    m = _KUBE_NAME.match(tag)
    if m:
        return m.group("name"), m.group("ns")
    return (tag, None) if _PLAIN_NAME.match(tag) else None


def normalise_weights(weights: list[int | float]) -> list[int]:
    """Relative weights -> integer percentages summing to 100 (largest remainder)."""
    total = sum(Fraction(w) for w in weights)
    exact = [Fraction(w) * 100 / total for w in weights]
    floors = [int(x) for x in exact]
    order = sorted(range(len(weights)), key=lambda i: (-(exact[i] - floors[i]), i))
    for i in order[:100 - sum(floors)]:
        floors[i] += 1
    return floors


def convert(doc: dict, context: Context) -> Conversion:
    out = Conversion()
    if is_universal(doc):
        base: FieldPath = ()
        spec: Any = doc
        for key in doc:
            if key not in ("type", "name", "mesh") + _SPEC_KEYS:
                out.unsupported((key,))
        metadata = {"name": doc.get("name")} if "name" in doc else {}
    else:
        base = ("spec",)
        spec = doc.get("spec")
        for key in doc:
            if key not in ("apiVersion", "kind", "mesh", "metadata", "spec"):
                out.unsupported((key,))
        metadata = convert_metadata(doc, out)
        if not isinstance(spec, dict):
            out.problem(base, "must be a mapping")
            return out
        for key in spec:
            if key not in _SPEC_KEYS:
                out.unsupported(base + (key,))
    origin = {(): (), ("metadata",): ("metadata",), ("spec",): base}
    dest = _destination(spec.get("destinations"), base + ("destinations",), out)
    if dest is None:
        return out
    rspec: dict[str, Any] = {"destination": service_ref(*dest)}
    origin[("spec", "destination")] = base + ("destinations", 0)
    source = _source(spec.get("sources"), base + ("sources",), out)
    if source:
        rspec["match"] = {"source": source}
        origin[("spec", "match")] = base + ("sources", 0)
    conf = spec.get("conf")
    cpath = base + ("conf",)
    if not isinstance(conf, dict):
        out.problem(cpath, "must be a mapping with split or destination")
        return out
    for key in conf:
        if key not in ("split", "destination"):
            out.unsupported(cpath + (key,))
    if "split" in conf:
        rspec["route"] = _split(conf["split"], cpath + ("split",), dest, out)
        origin[("spec", "route")] = cpath + ("split",)
    elif "destination" in conf:
        labels = _labels(conf["destination"], cpath + ("destination",), dest, out)
        rspec["route"] = [{"labels": labels}] if labels else [{}]
        origin[("spec", "route")] = cpath + ("destination",)
    else:
        out.problem(cpath, "needs split or destination")
    out.converted.append(Converted(native_manifest(ROUTE_RULE, metadata, rspec), origin))
    return out


def _destination(value: Any, path: FieldPath, out: Conversion) -> tuple | None:
    return destination_service(
        value, path, out, several="needs exactly one destination: a RouteRule has one "
        "destination service (write one TrafficRoute per service)", bad_tag=_bad_tag)


def destination_service(value: Any, path: FieldPath, out: Conversion, *, several: str,
                        bad_tag: Callable[[Any], str]) -> tuple | None:
    """The one service a Kuma policy's `destinations` selects by its service tag, or None
    with the problem reported (`several`: why one only; `bad_tag`: a tag that names none)."""
    if not isinstance(value, list) or len(value) != 1:
        out.problem(path, several)
        return None
    match = value[0].get("match") if isinstance(value[0], dict) else None
    if not isinstance(match, dict):
        out.problem(path + (0, "match"), f"must be a mapping with {SERVICE_TAG}")
        return None
    for key in match:
        if key != SERVICE_TAG:
            out.unsupported(path + (0, "match", key), "destinations select by service only")
    svc = parse_service(match.get(SERVICE_TAG))
    if svc is None:
        out.problem(path + (0, "match", SERVICE_TAG), bad_tag(match.get(SERVICE_TAG)))
    return svc


def _bad_tag(tag: Any) -> str:
    if tag == "*" or not isinstance(tag, str):
        return "needs one named service: a RouteRule has one destination service, not '*'"
    hint = " (a Markdown escape? write '_', not '\\_')" if "\\" in tag else ""
    return (f"'{tag}' is not a service tag: NAME_NAMESPACE_svc_PORT or a lowercase service "
            f"name{hint}")


def _source(value: Any, path: FieldPath, out: Conversion) -> dict | None:
    if value is None:
        return None
    if not isinstance(value, list):
        out.problem(path, "must be a list")
        return None
    specific = []
    for i, entry in enumerate(value):
        match = entry.get("match") if isinstance(entry, dict) else None
        if not isinstance(match, dict):
            out.problem(path + (i, "match"), "must be a mapping of tags")
            continue
        if match.get(SERVICE_TAG) == "*" and len(match) == 1:
            return None  # any source: no condition at all
        specific.append((i, match))
    if len(specific) > 1:
        out.problem(path, "a RouteRule matches one source service: write one TrafficRoute per "
                          "source")
        return None
    if not specific:
        return None
    i, match = specific[0]
    svc = parse_service(match.get(SERVICE_TAG))
    if svc is None:
        out.problem(path + (i, "match", SERVICE_TAG), _bad_tag(match.get(SERVICE_TAG))
                    .replace("not '*'", "or '*'"))
        return None
    source = service_ref(*svc)
    tags = {k: v for k, v in match.items() if k != SERVICE_TAG}
    if tags:
        source["labels"] = tags
    return source


def _labels(tags: Any, path: FieldPath, dest: tuple, out: Conversion) -> dict:
    if not isinstance(tags, dict):
        out.problem(path, "must be a mapping of tags")
        return {}
    svc = parse_service(tags.get(SERVICE_TAG))
    if svc is None or svc[0] != dest[0] or (svc[1] and dest[1] and svc[1] != dest[1]):
        out.problem(path + (SERVICE_TAG,),
                    f"{tags.get(SERVICE_TAG)!r} is not the destination service: a RouteRule "
                    f"routes only among its destination's instances")
    return {str(k): v if isinstance(v, str) else str(v) for k, v in tags.items()
            if k != SERVICE_TAG}


def _split(value: Any, path: FieldPath, dest: tuple, out: Conversion) -> list:
    if not isinstance(value, list) or not value:
        out.problem(path, "must be a non-empty list")
        return []
    routes, weights = [], []
    for i, entry in enumerate(value):
        if not isinstance(entry, dict):
            out.problem(path + (i,), "must be a mapping with weight and destination")
            return []
        for key in entry:
            if key not in ("weight", "destination"):
                out.unsupported(path + (i, key))
        weight = entry.get("weight")
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or weight < 0 \
                or not math.isfinite(weight):
            out.problem(path + (i, "weight"), "must be a number, 0 or more")
            return []
        weights.append(weight)
        labels = _labels(entry.get("destination"), path + (i, "destination"), dest, out)
        routes.append({"labels": labels} if labels else {})
    if sum(weights) <= 0:
        out.problem(path, "the weights are all 0: no traffic would be routed")
        return []
    for route, pct in zip(routes, normalise_weights(weights)):
        route["weight"] = pct
    return routes
