"""Generated workloads in generated styles: inject is idempotent, uninject restores the input exactly."""

from __future__ import annotations

import json

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from meshtool.inject.config import InjectConfig
from meshtool.inject.decide import TEMPLATE_PATHS
from meshtool.inject.pipeline import INJECT, UNINJECT, transform_text

CONFIG = InjectConfig()
NAMES = st.from_regex(r"[a-z][a-z0-9-]{0,8}[a-z0-9]", fullmatch=True)
PORTS = st.integers(1, 65535)


@st.composite
def probe(draw, port_names):
    action = draw(st.sampled_from(["httpGet", "tcpSocket", "grpc", "exec"]))
    port = draw(st.sampled_from(port_names)) if port_names and draw(st.booleans()) else draw(PORTS)
    spec = {"exec": {"command": ["true"]}} if action == "exec" else {action: {"port": port}}
    if action == "httpGet":
        spec[action] = {"path": draw(st.sampled_from(["/", "/healthz", "/ready?x=1"])), "port": port}
    if draw(st.booleans()):
        spec["periodSeconds"] = draw(st.integers(1, 60))
    return spec


@st.composite
def container(draw, name):
    c = {"name": name, "image": draw(st.sampled_from(["nginx", "busybox:1.36", "example/app:1"]))}
    ports = draw(st.lists(st.fixed_dictionaries({"containerPort": PORTS}, optional={"name": NAMES}),
                          max_size=2))
    if ports:
        c["ports"] = ports
    names = [p["name"] for p in ports if "name" in p]
    for kind in draw(st.lists(st.sampled_from(["readinessProbe", "livenessProbe", "startupProbe"]),
                              unique=True)):
        c[kind] = draw(probe(names))
    return c


@st.composite
def workload(draw):
    kind = draw(st.sampled_from(sorted(TEMPLATE_PATHS)))
    names = draw(st.lists(NAMES, min_size=1, max_size=3, unique=True).filter(
        lambda ns: not {"meshtool-proxy", "meshtool-init"} & set(ns)))
    spec: dict = {"containers": [draw(container(n)) for n in names]}
    if draw(st.booleans()):
        spec["initContainers"] = [{"name": "setup-" + names[0], "image": "busybox"}]
    if draw(st.booleans()):
        spec["volumes"] = [{"name": "data", "emptyDir": {}}]
    pod: dict = {}
    if draw(st.booleans()):
        meta: dict = {}
        if draw(st.booleans()):
            meta["labels"] = {"app": names[0], "version": draw(st.sampled_from(["v1", "0.2", "2"]))}
        if draw(st.booleans()):
            meta["annotations"] = draw(st.dictionaries(
                st.sampled_from(["note", "traffic.sidecar.meshtool.io/excludeInboundPorts",
                                 "traffic.sidecar.meshtool.io/includeOutboundIPRanges"]),
                st.sampled_from(["22", "10.0.0.0/8", "*"]), min_size=1).filter(
                    lambda a: a.get("traffic.sidecar.meshtool.io/excludeInboundPorts", "22") == "22"
                    and a.get("traffic.sidecar.meshtool.io/includeOutboundIPRanges", "*") != "22"))
        pod["metadata"] = meta
    pod["spec"] = spec
    obj = pod
    for part in reversed(TEMPLATE_PATHS[kind]):
        obj = {part: obj}
    obj = {"apiVersion": "v1" if kind == "Pod" else "apps/v1", "kind": kind,
           "metadata": {"name": names[0]}, **obj}
    if kind == "Pod":
        obj = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": names[0], **pod.get("metadata", {})},
               "spec": spec}
    return obj


class Renderer:
    """YAML in many styles, written independently of meshtool's own emitter."""

    def __init__(self, draw):
        self.draw = draw
        self.m = draw(st.sampled_from([2, 3, 4]))
        self.s = draw(st.sampled_from([0, self.m]))
        self.g = draw(st.sampled_from([2, 2, 4]))
        self.flow = draw(st.floats(0, 0.3))

    def scalar(self, v) -> str:
        if isinstance(v, bool) or isinstance(v, int):
            return json.dumps(v)
        try:
            plain_ok = yaml.safe_load(v) == v and ": " not in v and not set(",?[]{}") & set(v)
        except yaml.YAMLError:
            plain_ok = False
        style = self.draw(st.sampled_from(["plain", "single", "double"])) if plain_ok else "double"
        return {"plain": v, "single": f"'{v}'", "double": json.dumps(v)}[style]

    def comment(self) -> str:
        return "  # note" if self.draw(st.integers(0, 9)) == 0 else ""

    def flow_text(self, v) -> str:
        if isinstance(v, dict):
            return "{" + ", ".join(f"{k}: {self.flow_text(x)}" for k, x in v.items()) + "}"
        if isinstance(v, list):
            return "[" + ", ".join(self.flow_text(x) for x in v) + "]"
        return self.scalar(v)

    def mapping(self, d: dict, col: int) -> list[str]:
        out = []
        for k, v in d.items():
            pad = " " * col
            if isinstance(v, (dict, list)) and v and self.draw(st.floats(0, 1)) >= self.flow:
                out.append(f"{pad}{k}:{self.comment()}")
                out += self.mapping(v, col + self.m) if isinstance(v, dict) else self.seq(v, col + self.s)
            elif isinstance(v, (dict, list)):
                out.append(f"{pad}{k}: {self.flow_text(v)}{self.comment()}")
            else:
                out.append(f"{pad}{k}: {self.scalar(v)}{self.comment()}")
            if self.draw(st.integers(0, 19)) == 0:
                out.append("")
        return out

    def seq(self, items: list, col: int) -> list[str]:
        out = []
        for item in items:
            lead = " " * col + "-" + " " * (self.g - 1)
            if isinstance(item, dict) and item:
                inner = self.mapping(item, col + self.g)
                out.append(lead + inner[0][col + self.g:])
                out += inner[1:]
            else:
                out.append(lead + (self.flow_text(item) if isinstance(item, (dict, list)) else self.scalar(item)))
        return out


@st.composite
def document(draw):
    obj = draw(workload())
    r = Renderer(draw)
    lines = r.mapping(obj, 0)
    if draw(st.booleans()):
        lines.insert(0, "# generated")
    text = "\n".join(lines)
    if draw(st.integers(0, 4)):
        text += "\n"
    return obj, text


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(document())
def test_inject_is_idempotent_and_uninject_exact(doc):
    obj, text = doc
    assert yaml.safe_load(text) == obj  # the renderer wrote what it meant to
    injected, reports = transform_text(text, INJECT, CONFIG)
    assert transform_text(injected, INJECT, CONFIG)[0] == injected
    assert transform_text(injected, UNINJECT, CONFIG)[0] == text
    data = yaml.safe_load(injected)
    pod = data
    for part in TEMPLATE_PATHS[obj["kind"]]:
        pod = pod[part]
    names = [c["name"] for c in pod["spec"]["containers"]]
    if reports[0].action == "injected":
        assert names[-1] == "meshtool-proxy"
        assert pod["spec"]["initContainers"][-1]["name"] == "meshtool-init"
        for c in pod["spec"]["containers"][:-1]:
            for kind in ("readinessProbe", "livenessProbe", "startupProbe"):
                if kind in c and "exec" not in c[kind]:
                    assert c[kind]["httpGet"]["port"] == CONFIG.health_port
    else:
        assert injected == text


@settings(max_examples=50, deadline=None)
@given(document(), st.sampled_from([2, 4]))
def test_json_documents_too(doc, indent):
    obj, _ = doc
    text = json.dumps(obj, indent=indent) + "\n"
    injected, _ = transform_text(text, INJECT, CONFIG, is_json=True)
    json.loads(injected)
    assert transform_text(injected, INJECT, CONFIG, is_json=True)[0] == injected
    assert transform_text(injected, UNINJECT, CONFIG, is_json=True)[0] == text
