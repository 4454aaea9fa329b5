"""What gets injected: built-in defaults, overridable by a config file and by flags.

No cluster is consulted. A config file is a YAML mapping with any of the keys below
(camelCase, as in Kubernetes manifests); flags override the file.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from meshtool import __version__

from meshtool.conventions import (  # noqa: F401  (re-exported for the injector's modules)
    ADMIN_PORT, DATA_MOUNT_PATH, DATA_VOLUME, HEALTH_PORT, INBOUND_PORT, INIT_CONTAINER, INJECT_KEY,
    OUTBOUND_PORT, PROXY_CONTAINER, PROXY_UID, STATUS_KEY, TRAFFIC_PREFIX)


class InjectConfig(NamedTuple):  # not a dataclass: cheaper to define at start-up (errors.Finding)
    image: str = f"meshtool/meshtool:{__version__}"
    image_pull_policy: str = "IfNotPresent"
    proxy_uid: int = PROXY_UID
    outbound_port: int = OUTBOUND_PORT
    inbound_port: int = INBOUND_PORT
    admin_port: int = ADMIN_PORT
    health_port: int = HEALTH_PORT
    control_plane: str = "meshtool-control-plane.meshtool-system.svc:15010"
    cluster: str = ""  # the cluster the pods run in ($MESHTOOL_CLUSTER); empty: not said
    include_outbound_ip_ranges: str = "*"
    exclude_outbound_ip_ranges: str = ""
    include_inbound_ports: str = "*"
    exclude_inbound_ports: str = ""
    exclude_outbound_ports: str = ""
    # one default object shared by every config: the template emits it as written, nothing mutates it
    resources: dict = {
        "requests": {"cpu": "100m", "memory": "128Mi"},
        "limits": {"cpu": "2", "memory": "1Gi"},
    }
    init_resources: dict = {
        "requests": {"cpu": "10m", "memory": "10Mi"},
        "limits": {"cpu": "100m", "memory": "50Mi"},
    }

    def with_overrides(self, **values: Any) -> "InjectConfig":
        return self._replace(**{k: v for k, v in values.items() if v is not None})


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p.upper() if p in ("ip", "uid") else p.capitalize() for p in rest)


# config-file key -> (field name, expected type)
FILE_KEYS = {_camel(name): name for name in InjectConfig._fields}
# every field has a default, whose type is the field's ("str", "int" or "dict")
_TYPES = {name: type(value).__name__ for name, value in InjectConfig._field_defaults.items()}


def config_from_mapping(data: Any) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """Field values from a config-file mapping, and the problems as (key, message)."""
    if not isinstance(data, dict):
        return {}, [("", "an inject config file must be a mapping")]
    values: dict[str, Any] = {}
    problems: list[tuple[str, str]] = []
    for key, value in data.items():
        name = FILE_KEYS.get(key)
        if name is None:
            problems.append((str(key), f"unknown key; known: {', '.join(sorted(FILE_KEYS))}"))
            continue
        want = _TYPES[name]
        ok = {"int": isinstance(value, int) and not isinstance(value, bool),
              "str": isinstance(value, str), "dict": isinstance(value, dict)}.get(str(want), True)
        if not ok:
            problems.append((key, f"must be a {want}"))
            continue
        values[name] = value
    return values, problems
