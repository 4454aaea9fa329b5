"""The scenarios of DESIGN.md as demo scripts: stages of rules, traffic and what the rules promise.

Each stage applies rule files from samples/<scenario>/, drives requests into the entry service
through its sidecar, tags every answer (its version, allowed or denied) and states the exact
share of requests each tag must get. Tags a stage does not mention are not checked, except
"error", which must never appear.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Callable

Classifier = Callable[[int, str], set[str]]


@dataclass(frozen=True)
class Stage:
    title: str
    apply: tuple[str, ...] = ()  # rule files (relative to the scenario directory), loaded together
    expect: dict[str, float] = field(default_factory=dict)  # tag -> exact share of requests
    requests: int = 100


@dataclass(frozen=True)
class Scenario:
    name: str
    summary: str
    entry: str  # the instance that receives the demo's requests (through its sidecar)
    path: str  # request path on the entry service
    tags: tuple[str, ...]  # display order of the tags
    classify: Classifier
    stages: tuple[Stage, ...]
    via: str = "sidecar"  # sidecar: requests enter at the entry's sidecar; gateway: at the gateway

    @property
    def directory(self) -> Path:
        return samples_dir() / self.name

    @property
    def meshfile(self) -> Path:
        return self.directory / "mesh.yaml"


def samples_dir() -> Path:
    """samples/ ships inside the package (meshtool/samples links to the repository's samples/)."""
    return Path(str(resources.files("meshtool") / "samples"))


def _canary(status: int, body: str) -> set[str]:
    if status != 200:
        return {"error"}
    return {"v2"} if "Canary Release" in body else {"v1"} if "Benigno" in body else {"error"}


_SVCB = re.compile(r"svcb (v\d+(?:\.\d+)*)")


def _egress(status: int, body: str) -> set[str]:
    tags = set(_SVCB.findall(body)[:1])
    if status == 200 and "message sent" in body:
        return tags | {"allowed"}
    if status == 403 and "msgd refused" in body:
        return tags | {"denied"}
    return tags | {"error"}


_HELLO = re.compile(r"Hello version: (v\d+)")


def _helloworld(status: int, body: str) -> set[str]:
    found = _HELLO.findall(body)
    return {found[0]} if status == 200 and found else {"error"}


def _ingress(status: int, body: str) -> set[str]:
    if status == 404 and body.startswith("no route"):
        return {"no route"}
    if "Magnanimo" in body:  # magnanimo answered its own greeting: /route1 was not stripped
        return {"error"}
    return _canary(status, body)


SCENARIOS: dict[str, Scenario] = {s.name: s for s in (
    Scenario(
        "canary", "magnanimo calls benigno; a canary release shifts traffic from v1 to v2 by weight",
        entry="magnanimo-v1", path="/hw2", tags=("v1", "v2"), classify=_canary,
        stages=(
            Stage("No rule yet: requests spread over every benigno endpoint"),
            Stage("90/10 split by version", ("rules/route-90-10.yaml",), {"v1": 0.9, "v2": 0.1}),
            Stage("50/50 split", ("rules/route-50-50.yaml",), {"v1": 0.5, "v2": 0.5}),
            Stage("All traffic to v2", ("rules/route-100-v2.yaml",), {"v2": 1.0}),
        )),
    Scenario(
        "egress", "svca calls svcb, which calls msgd outside the mesh: denied until an EgressRule "
                  "allows it; then svcb v0.1 -> v0.2 shifts 50/50 and 100%",
        entry="svca-v1", path="/pay", tags=("denied", "allowed", "v0.1", "v0.2"), classify=_egress,
        stages=(
            Stage("No egress rule: msgd.example.com is outside the mesh", (), {"denied": 1.0}, 20),
            Stage("EgressRule allows msgd.example.com:9997", ("rules/egress-msgd.yaml",),
                  {"allowed": 1.0}, 20),
            Stage("svcb v0.1 -> v0.2: 50/50", ("rules/route-svcb-50-50.yaml",),
                  {"allowed": 1.0, "v0.1": 0.5, "v0.2": 0.5}),
            Stage("svcb: 100% v0.2", ("rules/route-svcb-100-v0.2.yaml",),
                  {"allowed": 1.0, "v0.2": 1.0}),
        )),
    Scenario(
        "helloworld", "sleep calls helloworld v1 and v2; an Istio VirtualService with "
                      "DestinationRule subsets sends everything to v2",
        entry="sleep-v1", path="/", tags=("v1", "v2"), classify=_helloworld,
        stages=(
            Stage("No rule yet: requests spread over v1 and v2"),
            Stage("VirtualService + DestinationRule (Istio v1alpha3, converted): all to v2",
                  ("istio/destinationrule.yaml", "istio/virtualservice.yaml"), {"v2": 1.0}),
        )),
    Scenario(
        "ingress", "the end of the Kong Mesh walkthrough: from outside the mesh, through the "
                   "ingress gateway, an Ingress with strip-path exposes magnanimo at /route1; "
                   "magnanimo's calls to benigno follow the canary split",
        entry="ingress", via="gateway", path="/route1/hw2", tags=("no route", "v1", "v2"),
        classify=_ingress,
        stages=(
            Stage("No Ingress yet: the gateway answers 404", (), {"no route": 1.0}, 20),
            Stage("Ingress route1 (konghq.com/strip-path): /route1/hw2 reaches magnanimo as /hw2",
                  ("ingress.yaml",), {"no route": 0.0}),
            Stage("90/10 split by version, seen from outside", ("route-90-10.yaml",),
                  {"v1": 0.9, "v2": 0.1}),
        )),
)}
