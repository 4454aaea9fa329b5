"""The config store: where rules live, with revisions. `open_store` picks the backend.

`--store PATH|kubernetes` or $MESHTOOL_STORE choose it; the default is the local SQLite
file under the XDG state directory.
"""

from __future__ import annotations

import os
from pathlib import Path

from meshtool.errors import UsageError
from meshtool.store.base import (ADDED, DELETED, MODIFIED, Change, Key, RelistRequired, Store,
                                 StoredResource)

__all__ = ["ADDED", "DELETED", "MODIFIED", "Change", "Key", "RelistRequired", "Store",
           "StoredResource", "default_store_path", "open_store", "stores_as_authored"]

KUBERNETES = "kubernetes"


def default_store_path() -> Path:
    """$XDG_STATE_HOME/meshtool/store.db, else ~/.local/state/meshtool/store.db."""
    state = os.environ.get("XDG_STATE_HOME") or ""
    base = Path(state) if os.path.isabs(state) else Path.home() / ".local" / "state"
    return base / "meshtool" / "store.db"


def stores_as_authored(spec: str | None = None) -> bool:
    """Does the store `spec` names keep every supported API as written? The local store does;
    the Kubernetes store keeps the native kinds (rules of other APIs are converted on input)."""
    return (spec or os.environ.get("MESHTOOL_STORE") or None) != KUBERNETES


def open_store(spec: str | None = None, *, kubeconfig: str | None = None,
               context: str | None = None, namespace: str | None = None) -> Store:
    """'kubernetes' -> the CRD backend (kubeconfig, context and default namespace as
    meshtool.kube.client resolves them); a path -> a local store file (directories created);
    None -> $MESHTOOL_STORE, else the default path."""
    if spec is not None and not spec.strip():
        raise UsageError("--store: empty; give a file path or 'kubernetes' (or leave the option "
                         "out for the default store)")
    if not spec:
        spec = os.environ.get("MESHTOOL_STORE") or None
    if spec == KUBERNETES:
        from meshtool.kube.client import connect
        from meshtool.store.kubernetes import KubernetesStore

        return KubernetesStore(connect(kubeconfig, context), namespace)
    from meshtool.store.local import LocalStore

    path = Path(os.path.expanduser(spec)) if spec else default_store_path()
    if path.exists() and not path.is_file():  # /dev/null, a FIFO, a directory: not a database
        raise UsageError(f"store {path}: not a regular file; give the path of a store file "
                         f"(it is created when missing)")
    return LocalStore(path)
