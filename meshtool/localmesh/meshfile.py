"""mesh.yaml: the services of a local mesh, parsed and checked with file:line errors.

    apiVersion: local.meshtool.io/v1alpha1
    kind: LocalMesh
    metadata:
      name: canary
    spec:
      services:                      # each instance gets a sidecar
        - name: benigno              # the service name callers use (http://benigno:5000)
          namespace: default         # optional (default "default"): benigno.default, Kuma's
                                     # benigno_default_svc_5000
          port: 5000                 # the service port callers use
          labels: {version: v1}      # or the shortcut `version: v1`
          command: ["{python}", "{dir}/../services/benigno.py", "--port", "{port}", "--version", "v1"]
          env: {GREETING: hi}
      external:                      # outside the mesh: no sidecar, reached through egress rules
        - name: msgd.example.com     # the host name the sidecars resolve to this process
          port: 9997
          command: [...]
      gateways:                      # ingress gateways (meshtool gateway run): traffic entering
        - name: ingress              # the mesh, routed by Ingress / Gateway API / Istio Gateway
          port: 8080                 # its HTTP port (optional: a free one, shown by `up`)
          tls:                       # optional: HTTPS on httpsPort (optional too), SNI picks
            - {cert: certs/a.pem, key: certs/a-key.pem}   # paths relative to the mesh file
          httpsPort: 8443

Placeholders in command and env values: {port} (the port the process must listen on, chosen free
at start), {python} (this interpreter), {dir} (the directory of the mesh file).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from meshtool.conventions import DEFAULT_NAMESPACE
from meshtool.errors import DataError, UsageError
from meshtool.rules.sources import Source, read_source
from meshtool.rules.yamlio import Document, format_path, load_documents

API_VERSION = "local.meshtool.io/v1alpha1"
KIND = "LocalMesh"

_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?\Z")
# external processes stand for hosts outside the mesh, so they may carry a DNS name
_HOST = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\Z")


@dataclass(frozen=True)
class ServiceInstance:
    """One entry of `services` (or `external`): a process the local mesh runs."""

    name: str
    port: int
    command: tuple[str, ...]
    labels: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    in_mesh: bool = True
    namespace: str = DEFAULT_NAMESPACE

    @property
    def instance(self) -> str:
        """A unique, readable instance id: benigno-v1, magnanimo."""
        version = self.labels.get("version")
        return f"{self.name}-{version}" if version else self.name


@dataclass(frozen=True)
class GatewaySpec:
    name: str
    port: int | None = None  # None: a free port, chosen at start
    https_port: int | None = None
    tls: tuple[tuple[str, str], ...] = ()  # (cert, key) paths, relative to the mesh file


@dataclass(frozen=True)
class MeshSpec:
    name: str
    instances: tuple[ServiceInstance, ...]
    path: Path | None = None
    gateways: tuple[GatewaySpec, ...] = ()
    mtls: bool = False  # the control plane runs a CA: sidecars get certificates, speak mTLS

    @property
    def directory(self) -> Path:
        # absolute: {dir} must stay right in the app, which runs with the mesh directory as cwd
        return (self.path.parent if self.path else Path.cwd()).absolute()


def load_meshfile(path: str | Path) -> MeshSpec:
    if not Path(path).is_file():  # as for every -f: a path that is not there is a usage error
        raise UsageError(f"{path}: no such file" if not Path(path).exists()
                         else f"{path}: not a file (give the mesh file itself)")
    return parse_meshfile(read_source(str(path)))


def parse_meshfile(src: Source) -> MeshSpec:
    docs = load_documents(src)
    if len(docs) != 1:
        raise DataError.at("a mesh file holds exactly one YAML document", src.name, 1)
    doc = docs[0]
    data = doc.data
    if not isinstance(data, dict):
        raise DataError.at(f"a mesh file is a mapping: apiVersion {API_VERSION}, kind {KIND}, "
                           f"metadata.name, spec.services", src.name, doc.line)
    _only(doc, (), data, {"apiVersion", "kind", "metadata", "spec"})
    for key, want in (("apiVersion", API_VERSION), ("kind", KIND)):
        if data.get(key) != want:
            _fail(doc, (key,), f"a mesh file has {key}: {want}, got {data.get(key)!r}")
    meta = data.get("metadata") or {}
    if not isinstance(meta, dict):
        _fail(doc, ("metadata",), "must be a mapping with a name")
    _only(doc, ("metadata",), meta, {"name", "labels", "annotations"})
    file_path = Path(src.path) if src.path else None
    name = meta.get("name", file_path.parent.name if file_path else "mesh")
    if not isinstance(name, str) or not _NAME.match(name):
        _fail(doc, ("metadata", "name"), f"invalid mesh name {name!r}: use lowercase letters, "
                                         f"digits and '-'")
    spec = data.get("spec")
    if not isinstance(spec, dict):
        _fail(doc, ("spec",), "missing or not a mapping: spec.services lists the services")
    _only(doc, ("spec",), spec, {"services", "external", "gateways", "mtls"})
    mtls = spec.get("mtls") or {}
    if not isinstance(mtls, dict):
        _fail(doc, ("spec", "mtls"), "must be a mapping: {enabled: true}")
    _only(doc, ("spec", "mtls"), mtls, {"enabled"})
    if not isinstance(mtls.get("enabled", False), bool):
        _fail(doc, ("spec", "mtls", "enabled"), "must be true or false")
    instances: list[ServiceInstance] = []
    for section, in_mesh in (("services", True), ("external", False)):
        items = spec.get(section) or []
        if not isinstance(items, list):
            _fail(doc, ("spec", section), "must be a list")
        for i, item in enumerate(items):
            instances.append(_instance(doc, ("spec", section, i), item, in_mesh))
    if not any(w.in_mesh for w in instances):
        _fail(doc, ("spec", "services"), "a mesh needs at least one service")
    seen: set[str] = set()
    for w, path in zip(instances, _paths(spec)):
        if w.instance in seen:
            _fail(doc, path, f"duplicate instance {w.instance!r}: give each instance of a service "
                             f"its own version label")
        seen.add(w.instance)
    gateways = spec.get("gateways") or []
    if not isinstance(gateways, list):
        _fail(doc, ("spec", "gateways"), "must be a list")
    parsed = [_gateway(doc, ("spec", "gateways", i), g) for i, g in enumerate(gateways)]
    for i, g in enumerate(parsed):
        if g.name in seen:
            _fail(doc, ("spec", "gateways", i, "name"), f"duplicate instance {g.name!r}")
        seen.add(g.name)
    return MeshSpec(name, tuple(instances), file_path, tuple(parsed),
                    mtls=bool(mtls.get("enabled")))


def _gateway(doc: Document, path: tuple, item: object) -> GatewaySpec:
    if not isinstance(item, dict):
        _fail(doc, path, "must be a mapping with a name")
    _only(doc, path, item, {"name", "port", "httpsPort", "tls"})
    name = item.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        _fail(doc, path + ("name",), f"invalid gateway name {name!r}: lowercase letters, digits, '-'")
    ports = []
    for key in ("port", "httpsPort"):
        port = item.get(key)
        if port is not None and (not isinstance(port, int) or isinstance(port, bool)
                                 or not 1 <= port <= 65535):
            _fail(doc, path + (key,), f"{key} must be a number from 1 to 65535, got {port!r}")
        ports.append(port)
    tls = item.get("tls") or []
    if not isinstance(tls, list):
        _fail(doc, path + ("tls",), "must be a list of {cert, key}")
    pairs = []
    for i, pair in enumerate(tls):
        if not isinstance(pair, dict) or set(pair) != {"cert", "key"} \
                or not all(isinstance(v, str) and v for v in pair.values()):
            _fail(doc, path + ("tls", i), "must be {cert: FILE, key: FILE}")
        pairs.append((pair["cert"], pair["key"]))
    if ports[1] is not None and not pairs:
        _fail(doc, path + ("httpsPort",), "HTTPS needs at least one certificate under tls")
    return GatewaySpec(name, ports[0], ports[1], tuple(pairs))


def _paths(spec: dict) -> list[tuple]:
    return [("spec", s, i) for s in ("services", "external") for i in range(len(spec.get(s) or []))]


def _instance(doc: Document, path: tuple, item: object, in_mesh: bool) -> ServiceInstance:
    if not isinstance(item, dict):
        _fail(doc, path, "must be a mapping with name, port and command")
    _only(doc, path, item, {"name", "namespace", "port", "labels", "version", "command", "env"})
    for key in ("name", "port", "command"):
        if key not in item:
            _fail(doc, path, f"missing required field '{key}'")
    name = item["name"]
    if in_mesh and (not isinstance(name, str) or not _NAME.match(name)):
        _fail(doc, path + ("name",), f"invalid service name {name!r}: lowercase letters, digits, '-'")
    if not in_mesh and (not isinstance(name, str) or not _HOST.match(name)):
        _fail(doc, path + ("name",), f"invalid host name {name!r} for an external process")
    port = item["port"]
    if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
        _fail(doc, path + ("port",), f"port must be a number from 1 to 65535, got {port!r}")
    command = item["command"]
    if isinstance(command, str):
        command = command.split()
    if not isinstance(command, list) or not command or not all(isinstance(c, (str, int)) for c in command):
        _fail(doc, path + ("command",), "command must be a non-empty list of strings")
    labels = item.get("labels") or {}
    if not isinstance(labels, dict) or not all(isinstance(v, str) for v in labels.values()):
        _fail(doc, path + ("labels",), "labels must map names to strings")
    if "version" in item:
        if not isinstance(item["version"], str):
            _fail(doc, path + ("version",), "version must be a string (quote numbers: \"1.0\")")
        labels = {**labels, "version": item["version"]}
    env = item.get("env") or {}
    if not isinstance(env, dict):
        _fail(doc, path + ("env",), "env must map names to values")
    namespace = item.get("namespace", DEFAULT_NAMESPACE)
    if not in_mesh and "namespace" in item:
        _fail(doc, path + ("namespace",), "an external process is outside the mesh: no namespace")
    if not isinstance(namespace, str) or not _NAME.match(namespace) or len(namespace) > 63:
        _fail(doc, path + ("namespace",), f"invalid namespace {namespace!r}: lowercase letters, "
                                          f"digits, '-'")
    return ServiceInstance(name, port, tuple(str(c) for c in command), dict(labels),
                    {str(k): str(v) for k, v in env.items()}, in_mesh, namespace)


def _only(doc: Document, path: tuple, data: dict, allowed: set[str]) -> None:
    for key in data:
        if key not in allowed:
            _fail(doc, path + (key,), f"unknown field '{key}' (allowed: {', '.join(sorted(allowed))})")


def _fail(doc: Document, path: tuple, message: str) -> None:
    raise DataError.at(message, doc.source.name, doc.locate(path), format_path(path) or None)
