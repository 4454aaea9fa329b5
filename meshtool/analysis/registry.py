"""The analyzers, in the order they run. Adding one: write analyzers/<name>.py with an
ANALYZER, list the module here, add its codes to messages.py and its cases to the tests."""

from __future__ import annotations

import importlib
from functools import lru_cache

from meshtool.analysis.analyzer import Analyzer

MODULES = (
    "schema_error",
    "destination_not_found",
    "gateway_backend_not_found",
    "subset_no_workload",
    "precedence_conflict",
    "shadowed_match",
    "policy_subset_unrouted",
    "egress_overlap",
    "port_protocol",
    "version_labels",
    "injection_namespace",
    "proxy_uid",
    "sidecar_annotations",
    "foreign_mesh",
    "remote_cluster_unreachable",
    "cluster_ports_differ",
    "endpoints_only_remote",
    "mtls_plaintext",
)


@lru_cache(maxsize=1)
def all_analyzers() -> tuple[Analyzer, ...]:
    return tuple(importlib.import_module(f"meshtool.analysis.analyzers.{m}").ANALYZER
                 for m in MODULES)
