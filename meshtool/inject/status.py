"""The `sidecar.meshtool.io/status` annotation: what was injected, so it can be taken out exactly.

It lists the init containers, containers and volumes added, the keys that did not exist
before (so uninject removes them whole) or were null (with their original text), the exact
original text of every rewritten probe action, and the meshtool version that injected.
"""

from __future__ import annotations

import json


class Status:
    # a plain class, not a dataclass: cheaper to define on every command's start-up (errors.Finding)
    __slots__ = ("version", "init_containers", "containers", "volumes", "created", "probes", "nulls")

    def __init__(self, version: str, init_containers: list[str] | None = None,
                 containers: list[str] | None = None, volumes: list[str] | None = None,
                 created: list[str] | None = None, probes: dict[str, dict[str, str]] | None = None,
                 nulls: dict[str, str] | None = None):
        self.version = version
        self.init_containers = init_containers or []
        self.containers = containers or []
        self.volumes = volumes or []
        self.created = created or []  # "initContainers", "volumes", "annotations", "metadata"
        self.probes = probes or {}  # container -> probe -> original text
        self.nulls = nulls or {}  # key that was null -> its original text

    def to_json(self) -> str:
        data = {"version": self.version, "initContainers": self.init_containers,
                "containers": self.containers, "volumes": self.volumes}
        if self.created:
            data["created"] = self.created
        if self.probes:
            data["probes"] = self.probes
        if self.nulls:
            data["nulls"] = self.nulls
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: object) -> "Status":
        """ValueError when the annotation is not a status this version understands."""
        try:
            data = json.loads(text) if isinstance(text, str) else None
        except json.JSONDecodeError:
            data = None
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")

        def names(key: str) -> list[str]:
            value = data.get(key, [])
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ValueError(f"{key} must be a list of names")
            return value

        probes = data.get("probes", {})
        if not isinstance(probes, dict) or not all(
                isinstance(v, dict) and all(isinstance(t, str) for t in v.values()) for v in probes.values()):
            raise ValueError("probes must map container -> probe -> text")
        nulls = data.get("nulls", {})
        if not isinstance(nulls, dict) or not all(isinstance(v, str) for v in nulls.values()):
            raise ValueError("nulls must map key -> text")
        return cls(str(data.get("version", "")), names("initContainers"), names("containers"),
                   names("volumes"), names("created"), probes, nulls)
