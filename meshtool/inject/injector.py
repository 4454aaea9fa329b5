"""The one injector: decide, then inject into (or strip from) one object's pod template.

It reads plain data and edits through a document backend (TextDoc for exact text edits,
DataDoc for objects) with the same few operations, so kube-inject, uninject and the
admission webhook share every decision. Paths are absolute within the document.
"""

from __future__ import annotations

from typing import Any, Callable

from meshtool import __version__
from meshtool.inject import probes as probes_mod
from meshtool.inject import template
from meshtool.inject.config import (DATA_VOLUME, INIT_CONTAINER, PROXY_CONTAINER, STATUS_KEY,
                                    InjectConfig)
from meshtool.inject.decide import LEGACY, TEMPLATE_PATHS, InvalidValue, sentence, skip_reason
from meshtool.inject.iptables import Redirect
from meshtool.inject.status import Status
from meshtool.inject.traffic import AnnotationError, redirect_for
from meshtool.model.lists import list_items

Path = tuple[str | int, ...]


class Report:
    # a plain class, not a dataclass: cheaper to define on every command's start-up (errors.Finding)
    __slots__ = ("kind", "name", "action", "reason", "reason_args", "warnings", "path")

    def __init__(self, kind: str, name: str, action: str, reason: str | None = None,
                 reason_args: dict | None = None, warnings: list[str] | None = None,
                 path: Path = ()):
        self.kind = kind
        self.name = name
        self.action = action  # injected | uninjected | skipped
        self.reason = reason  # a code of decide.REASONS
        self.reason_args = {} if reason_args is None else reason_args
        self.warnings = [] if warnings is None else warnings
        self.path = path

    @property
    def line(self) -> str:
        text = f"{self.kind.lower() or 'document'}/{self.name} {self.action}"
        return f"{text}: {sentence(self.reason, self.reason_args)}" if self.reason else text


class PodTemplateRef:
    """An object of the document that runs pods, and where its pod template is."""

    # a plain class, not a dataclass: cheaper to define on every command's start-up (errors.Finding)
    __slots__ = ("base", "obj", "pod_path", "pod")

    def __init__(self, base: Path, obj: dict, pod_path: Path, pod: dict):
        self.base = base  # the object inside the document ((), or ("items", i) in a List)
        self.obj = obj
        self.pod_path = pod_path  # absolute path of the pod template
        self.pod = pod

    @property
    def kind(self) -> str:
        return str(self.obj.get("kind", ""))

    @property
    def name(self) -> str:
        return object_name(self.obj)

    @property
    def status_text(self) -> Any:
        return ((self.pod.get("metadata") or {}).get("annotations") or {}).get(STATUS_KEY)


def object_name(obj: Any) -> str:
    """The name a report gives an object: its name, else its generateName."""
    meta = obj.get("metadata") if isinstance(obj, dict) else None
    meta = meta if isinstance(meta, dict) else {}
    return str(meta.get("name") or meta.get("generateName") or "<unnamed>")


def objects(data: Any) -> list[tuple[Path, Any]]:
    """The objects of a document; a `kind: List` gives its items one by one."""
    return list_items(data)


def workload(base: Path, obj: Any) -> PodTemplateRef | None:
    """The object's pod template, checked for shape; None for kinds that have none."""
    if not isinstance(obj, dict):
        raise InvalidValue(base, "expected a mapping (a Kubernetes object)")
    kind = obj.get("kind")
    rel = TEMPLATE_PATHS.get(kind) if isinstance(kind, str) else None  # `kind: []` is no workload
    if rel is None:
        return None
    pod: Any = obj
    for i, part in enumerate(rel):
        pod = pod.get(part) if isinstance(pod, dict) else None
        if not isinstance(pod, dict):
            what = "pod template" if i == len(rel) - 1 else "field"
            raise InvalidValue(base + rel[:i + 1], f"{what} is missing or not a mapping")
    path = base + rel
    for key in ("metadata", "spec"):
        if pod.get(key) is not None and not isinstance(pod[key], dict):
            raise InvalidValue(path + (key,), "must be a mapping")
    if not isinstance(pod.get("spec"), dict):
        raise InvalidValue(path + ("spec",), "pod spec is missing")
    meta = pod.get("metadata") or {}
    for key in ("labels", "annotations"):
        if meta.get(key) is not None and not isinstance(meta[key], dict):
            raise InvalidValue(path + ("metadata", key), "must be a mapping")
    spec = pod["spec"]
    for key in ("containers", "initContainers", "volumes"):
        items = spec.get(key)
        if items is None:
            continue
        if not isinstance(items, list):
            raise InvalidValue(path + ("spec", key), "must be a list")
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                raise InvalidValue(path + ("spec", key, i), "must be a mapping")
    return PodTemplateRef(base, obj, path, pod)


def legacy_warning(w: PodTemplateRef) -> str | None:
    api = w.obj.get("apiVersion")
    if api in LEGACY:
        use, removed = LEGACY[api]
        return f"{w.kind}/{w.name}: apiVersion {api} is not served by Kubernetes >= {removed}; use {use}"
    return None


def _index_by_name(items: list, names: list[str]) -> list[int]:
    return [i for i, item in enumerate(items) if item.get("name") in names]


def strip(doc, w: PodTemplateRef) -> None:
    """Remove what the status annotation says was injected; restore the rewritten probes."""
    try:
        status = Status.from_json(w.status_text)
    except ValueError as exc:
        raise InvalidValue(w.pod_path + ("metadata", "annotations", STATUS_KEY),
                           f"cannot read {STATUS_KEY}: {exc}") from None
    spec = w.pod["spec"]
    sp = w.pod_path + ("spec",)
    for key, names in (("containers", status.containers), ("initContainers", status.init_containers),
                       ("volumes", status.volumes)):
        if key in status.created and key in spec:
            _uncreate(doc, sp, key, status)
            continue
        for i in reversed(_index_by_name(spec.get(key) or [], names)):
            doc.remove_item(sp + (key,), i)
    containers = spec.get("containers") or []
    for ci, c in enumerate(containers):
        for probe, raw in status.probes.get(str(c.get("name")), {}).items():
            if isinstance(c.get(probe), dict) and "httpGet" in c[probe]:
                doc.replace_key(sp + ("containers", ci, probe), "httpGet", raw=raw)
    if "metadata" in status.created:
        _uncreate(doc, w.pod_path, "metadata", status)
    elif "annotations" in status.created:
        _uncreate(doc, w.pod_path + ("metadata",), "annotations", status)
    else:
        doc.remove_key(w.pod_path + ("metadata", "annotations"), STATUS_KEY)


def _uncreate(doc, path: Path, key: str, status: Status) -> None:
    if key in status.nulls:
        doc.replace_key(path, key, raw=status.nulls[key])
    else:
        doc.remove_key(path, key)


def _create(doc, path: Path, mapping: dict, key: str, status: Status, value: Callable[[], Any]) -> None:
    """Add a key the object lacks; a key present with a null value is replaced, its text kept.
    `value` is called after the status has recorded this key (the status may be the value)."""
    status.created.append(key)
    if key in mapping:
        status.nulls[key] = doc.raw(path, key)
        doc.replace_key(path, key, key, value())
    else:
        doc.add_key(path, key, value())


def decide(w: PodTemplateRef) -> tuple[str, dict] | None:
    try:
        return skip_reason(w.obj, w.pod)
    except InvalidValue as exc:
        raise InvalidValue(w.pod_path + exc.path, str(exc)) from None


def redirect(w: PodTemplateRef, config: InjectConfig) -> Redirect:
    """The pod's traffic redirect; InvalidValue at the annotation whose value is wrong."""
    annotations = (w.pod.get("metadata") or {}).get("annotations") or {}
    try:
        return redirect_for(annotations, config)
    except AnnotationError as exc:
        raise InvalidValue(w.pod_path + ("metadata", "annotations", exc.key), str(exc)) from None


def inject(doc, w: PodTemplateRef, config: InjectConfig) -> None:
    """Add the init container, the sidecar, the volume and the status; rewrite probes."""
    pod, pp = w.pod, w.pod_path
    spec, sp = pod["spec"], pp + ("spec",)
    meta = pod.get("metadata")
    labels = (meta or {}).get("labels") or {}

    containers = spec["containers"]
    rewrites = probes_mod.rewrites(containers)
    status = Status(__version__, [INIT_CONTAINER], [PROXY_CONTAINER], [DATA_VOLUME])
    for rw in rewrites:
        path = sp + ("containers", rw.container_index, rw.probe)
        status.probes.setdefault(rw.container, {})[rw.probe] = doc.raw(path, rw.action)
        doc.replace_key(path, rw.action, "httpGet", probes_mod.rewritten_action(rw, config.health_port))

    doc.append_item(sp + ("containers",),
                     template.proxy_container(config, labels, template.app_ports(containers), rewrites))
    for key, item in (("initContainers", template.init_container(config, redirect(w, config))),
                      ("volumes", template.data_volume())):
        if isinstance(spec.get(key), list):
            doc.append_item(sp + (key,), item)
        else:
            _create(doc, sp, spec, key, status, lambda item=item: [item])

    # The status goes last: it lists everything above, itself included.
    if meta is None:
        _create(doc, pp, pod, "metadata", status, lambda: {"annotations": {STATUS_KEY: status.to_json()}})
    elif meta.get("annotations") is None:
        _create(doc, pp + ("metadata",), meta, "annotations", status, lambda: {STATUS_KEY: status.to_json()})
    else:
        doc.add_key(pp + ("metadata", "annotations"), STATUS_KEY, status.to_json())
