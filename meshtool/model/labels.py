"""Label keys and values, checked as the Kubernetes API server checks them.

A rule whose labels the API server would refuse must be refused by `validate` too, before any
write: otherwise a multi-document `create --store kubernetes` fails half-way. The same syntax
applies to the label selectors inside a spec (a Pod can never carry an invalid label, so such a
selector could never match). Rules from apimachinery's validation (IsQualifiedName,
IsValidLabelValue); the wording is ours.
"""

from __future__ import annotations

import re
from typing import Any, Iterator

FieldPath = tuple[str | int, ...]
Problem = tuple[FieldPath, str]

NAME_MAX = 63
PREFIX_MAX = 253
_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]\Z")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\Z")
_SYNTAX = "alphanumeric characters, '-', '_' or '.', starting and ending with an alphanumeric"


def key_problem(key: str) -> str | None:
    """Why `key` is not a valid label (or annotation) key: [prefix/]name."""
    prefix, slash, name = key.rpartition("/")
    if slash and not prefix:
        return f"label key {key!r}: the prefix before '/' must not be empty"
    if prefix and (len(prefix) > PREFIX_MAX or not _DNS_SUBDOMAIN.match(prefix)):
        return (f"label key {key!r}: the prefix must be a DNS subdomain (lower-case "
                f"alphanumerics, '-' and '.', at most {PREFIX_MAX} characters)")
    if not name:
        return f"label key {key!r}: the name must not be empty"
    if len(name) > NAME_MAX:
        return f"label key {key!r}: the name must be at most {NAME_MAX} characters"
    if not _NAME.match(name):
        return f"label key {key!r}: the name must consist of {_SYNTAX}"
    return None


def value_problem(value: str) -> str | None:
    """Why `value` is not a valid label value ('' is valid)."""
    if len(value) > NAME_MAX:
        return f"label value {value!r} must be at most {NAME_MAX} characters"
    if value and not _NAME.match(value):
        return f"label value {value!r} must be empty or consist of {_SYNTAX}"
    return None


def check_labels(labels: Any, path: FieldPath) -> Iterator[Problem]:
    """Problems of one label map at `path` (anything but a map of strings is the schema's job)."""
    if not isinstance(labels, dict):
        return
    for key, value in labels.items():
        if not isinstance(key, str):
            continue
        why = key_problem(key)
        if why is not None:
            yield path + (key,), why
        elif isinstance(value, str):
            why = value_problem(value)
            if why is not None:
                yield path + (key,), why


def check_annotation_keys(annotations: Any, path: FieldPath) -> Iterator[Problem]:
    if not isinstance(annotations, dict):
        return
    for key in annotations:
        if isinstance(key, str):
            why = key_problem(key)
            if why is not None:
                yield path + (key,), why.replace("label key", "annotation key", 1)


def manifest_label_problems(manifest: Any) -> list[Problem]:
    """The labels and annotation keys of a rule object, and every label selector in its spec
    (any mapping under a field named `labels`)."""
    if not isinstance(manifest, dict):
        return []
    out: list[Problem] = []
    meta = manifest.get("metadata")
    if isinstance(meta, dict):
        out.extend(check_labels(meta.get("labels"), ("metadata", "labels")))
        out.extend(check_annotation_keys(meta.get("annotations"), ("metadata", "annotations")))
    out.extend(_spec_selectors(manifest.get("spec"), ("spec",)))
    return out


def _spec_selectors(node: Any, path: FieldPath) -> Iterator[Problem]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "labels" and isinstance(value, dict):
                yield from check_labels(value, path + (key,))
            else:
                yield from _spec_selectors(value, path + (key,))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _spec_selectors(value, path + (i,))
