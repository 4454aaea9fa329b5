"""The config store on Kubernetes: rules are custom objects of the meshtool CRDs, and of other
projects' CRDs (Istio networking, Kuma, Gateway API) where the cluster has them installed: those
are read as their authors wrote them and compiled by the control plane like any other. meshtool
never installs or shadows another project's CRDs; which of them a store reads is decided once, when
it first needs to know.

What maps how:
- An object's `resource_version` is its Kubernetes resourceVersion; `revision` is that number.
  Kubernetes documents resourceVersions as opaque strings; every API server backed by etcd uses
  etcd's revision, a number that grows with every write in the cluster (not only to rules). The
  store relies on that and says so clearly if a server ever answers otherwise.
- `revision()` is the resourceVersion of a fresh list, i.e. the cluster's current revision.
  `snapshot()` lists the first kind and reads the others at exactly that resourceVersion, so
  the three lists show one moment.
- `watch(since)` uses the watch API, one stream per kind, from `since`. The streams stay open
  between calls: a call whose `since` is the last revision returned continues them, so nothing
  is lost; a change of one kind may then arrive after a later change of another kind (the
  streams are separate), so a Change can carry a revision at or below `since`.
- Not transactional. Kubernetes writes one object at a time. Before writing anything, every
  object is checked (create: none exists; replace: all exist at the given resourceVersions;
  delete: all exist), then every create and replace is sent as a server-side dry run (the API
  server's schema, admission webhooks, quotas), so the usual mistakes leave the cluster
  untouched. A write can still fail half-way (a concurrent writer, a dropped connection): the
  error then names what was written and what was not.
- Every write is recorded under the field manager `meshtool` (kubectl shows who wrote what).
"""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime
from typing import Any, Callable

from meshtool.errors import (AlreadyExistsError, ConflictError, DataError, Finding, MeshtoolError,
                             NotFoundError)
from meshtool.kube.client import REQUEST_TIMEOUT, api_errors, api_message, api_status
from meshtool.model.kinds import (API_GROUP, API_VERSION, FOREIGN_BY_KEY, NATIVE_API_VERSION,
                                  NATIVE_KINDS, PLURALS, bare_kind, kind_key)
from meshtool.model.resource import Resource
from meshtool.store.base import (Change, Key, RelistRequired, Store, StoredResource, check_unique,
                                 display_key, finding_for,
                                 RESOURCE_VERSION_FIELD)

FIELD_MANAGER = "meshtool"
WATCH_SECONDS = 290  # one watch request; the stream reconnects from where it was after that
SETTLE = 0.05  # after the first change, how long to gather the rest of one write


def revision_of(resource_version: str) -> int:
    """etcd's revision behind a resourceVersion; MeshtoolError for a server that is not etcd."""
    try:
        return int(resource_version)
    except (TypeError, ValueError):
        raise MeshtoolError(f"the API server's resourceVersion {resource_version!r} is not a number; "
                            "the kubernetes store needs etcd-style revisions") from None


def _created(timestamp: str | None) -> float | None:
    if not timestamp:
        return None
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()


def plural(kind: str) -> str:
    foreign = FOREIGN_BY_KEY.get(kind)
    return foreign.plural if foreign else PLURALS[kind]


def to_resource(obj: dict[str, Any]) -> StoredResource:
    """A custom object as the API server returns it -> StoredResource."""
    meta = obj.get("metadata") or {}
    rv = meta.get("resourceVersion")
    api = obj.get("apiVersion") or NATIVE_API_VERSION
    return StoredResource(
        kind=kind_key(api, obj["kind"]) or obj["kind"], api_version=api,
        name=meta["name"], namespace=meta["namespace"],
        spec=obj.get("spec") or {}, labels=dict(meta.get("labels") or {}),
        annotations=dict(meta.get("annotations") or {}), resource_version=rv,
        revision=revision_of(rv) if rv else None, created=_created(meta.get("creationTimestamp")))


def _body(res: Resource, current: dict[str, Any] | None = None) -> dict[str, Any]:
    """The object to send. On replace, the metadata others own (finalizers, owners) is kept."""
    meta: dict[str, Any] = {"name": res.name, "namespace": res.namespace,
                            "labels": dict(res.labels), "annotations": dict(res.annotations)}
    if current is not None:
        old = current.get("metadata") or {}
        for field in ("finalizers", "ownerReferences"):
            if old.get(field):
                meta[field] = old[field]
        meta["resourceVersion"] = res.resource_version or old.get("resourceVersion")
    return {"apiVersion": res.api_version, "kind": bare_kind(res.kind), "metadata": meta,
            "spec": res.spec}


def _dry(dry_run: bool) -> dict[str, str]:
    return {"dry_run": "All"} if dry_run else {}


class KubernetesStore(Store):
    """The Store interface over the CRDs in one cluster (CustomObjectsApi)."""

    def __init__(self, cluster, namespace: str | None = None):
        from kubernetes import client

        self.cluster = cluster
        self.default_namespace = namespace or cluster.namespace
        context = f" (context {cluster.context})" if cluster.context else ""
        self.location = f"kubernetes {cluster.server}{context}"
        self._api = client.CustomObjectsApi(cluster.api_client)
        self._watcher: _Watcher | None = None
        self._served: dict[str, str | None] = {}  # foreign kind -> the version its CRD serves

    # -- kinds ---------------------------------------------------------------------------

    def group_version(self, kind: str) -> tuple[str, str]:
        """Where a kind lives: the meshtool group, or another project's (whose CRDs meshtool
        reads where they are installed, and never installs)."""
        foreign = FOREIGN_BY_KEY.get(kind)
        if foreign is None:
            return API_GROUP, API_VERSION
        version = self._foreign_version(kind)
        if version is None:
            raise MeshtoolError(f"{foreign.plural}.{foreign.group} is not installed in the cluster "
                                f"at {self.cluster.server}; meshtool reads that API where its own "
                                f"CRDs are installed, and never installs another project's")
        return foreign.group, version

    def _foreign_version(self, kind: str) -> str | None:
        """The newest version of a foreign kind the API server serves (None: not installed);
        asked once per store."""
        if kind not in self._served:
            from kubernetes.client.rest import ApiException

            foreign = FOREIGN_BY_KEY[kind]
            self._served[kind] = None
            for version in reversed(foreign.versions):
                with api_errors(self.cluster.server):  # transport failures: one clear line
                    try:
                        self._api.list_cluster_custom_object(foreign.group, version, foreign.plural,
                                                             limit=1, _request_timeout=REQUEST_TIMEOUT)
                    except ApiException as e:
                        if e.status in (401, 403, 404):  # not installed, or not ours to read
                            continue
                        raise
                self._served[kind] = version
                break
        return self._served[kind]

    def kinds(self) -> list[str]:
        """The native kinds, and the kinds of other APIs whose CRDs the cluster has."""
        return list(NATIVE_KINDS) + [k for k in FOREIGN_BY_KEY if self._foreign_version(k)]

    # -- calls ---------------------------------------------------------------------------

    def _call(self, method: str, *args, **kwargs):
        """One API call with a deadline; transport and auth failures as one-line errors, and a
        missing CRD said as such. Other ApiExceptions (404 of an object, 409, 422) pass through."""
        from kubernetes.client.rest import ApiException

        with api_errors(self.cluster.server):
            try:
                return getattr(self._api, method)(*args, _request_timeout=REQUEST_TIMEOUT, **kwargs)
            except ApiException as e:
                if e.status == 404 and not (api_status(e).get("details") or {}).get("name"):
                    raise MeshtoolError(
                        f"the meshtool CRDs are not installed in the cluster at {self.cluster.server} "
                        f"(no {args[3] if len(args) > 3 else args[2]}.{API_GROUP}); "
                        "run `meshtool install`") from None
                raise

    def _read(self, key: Key) -> dict[str, Any] | None:
        from kubernetes.client.rest import ApiException

        kind, namespace, name = key
        try:
            return self._call("get_namespaced_custom_object", *self.group_version(kind), namespace,
                              plural(kind), name)
        except ApiException as e:
            if e.status == 404:
                return None
            raise self._refusal(e, None, key) from None

    def _read_all(self, keys: list[Key]) -> dict[Key, dict[str, Any] | None]:
        """The current objects of many keys: one list per kind and namespace when several
        are asked for, else one read each."""
        groups: dict[tuple[str, str], list[Key]] = {}
        for key in keys:
            groups.setdefault((key[0], key[1]), []).append(key)
        found: dict[Key, dict[str, Any] | None] = {}
        for (kind, namespace), group in groups.items():
            if len(group) < 3:
                found.update((key, self._read(key)) for key in group)
                continue
            listed = self._list(kind, namespace)
            by_name = {obj["metadata"]["name"]: obj for obj in listed.get("items") or []}
            found.update((key, by_name.get(key[2])) for key in group)
        return found

    def _list(self, kind: str, namespace: str | None, **kwargs) -> dict[str, Any]:
        if namespace is None:
            listed = self._call("list_cluster_custom_object", *self.group_version(kind),
                                plural(kind), **kwargs)
        else:
            listed = self._call("list_namespaced_custom_object", *self.group_version(kind),
                                namespace, plural(kind), **kwargs)
        # Items of a built-in kind's list (Ingress) carry no kind and apiVersion; a CRD's do.
        group, version = self.group_version(kind)
        for item in listed.get("items") or []:
            if isinstance(item, dict):
                item.setdefault("kind", bare_kind(kind))
                item.setdefault("apiVersion", f"{group}/{version}")
        return listed

    def _refusal(self, error, res: Resource | None, key: Key) -> MeshtoolError:
        """An ApiException of a write, as the store's error for that object."""
        message = api_message(error)
        if error.status == 409 and api_status(error).get("reason") == "AlreadyExists":
            return AlreadyExistsError(findings=[finding_for(res, key, "already exists")])
        if error.status == 409:
            return ConflictError(findings=[finding_for(res, key, "has been modified since it was "
                                                       "read; get it again and retry")])
        if error.status == 404 and (api_status(error).get("details") or {}).get("kind") == "namespaces":
            return NotFoundError(findings=[finding_for(res, key, f"cannot be written: {message}")])
        if error.status == 404:
            return NotFoundError(findings=[finding_for(res, key, "not found")])
        if error.status in (400, 422):
            return DataError(findings=[finding_for(res, key, f"refused by the API server: {message}")])
        return MeshtoolError(findings=[finding_for(res, key, f"refused by the API server "
                                                   f"({error.status}): {message}")])

    # -- reading -------------------------------------------------------------------------

    def get(self, kind: str, namespace: str, name: str) -> StoredResource:
        obj = self._read((kind, namespace, name))
        if obj is None:
            raise NotFoundError(f"config {display_key((kind, namespace, name))} not found")
        return to_resource(obj)

    def list(self, kind: str | None = None, namespace: str | None = None) -> list[StoredResource]:
        return self.snapshot(kind, namespace)[1]

    def snapshot(self, kind: str | None = None,
                 namespace: str | None = None) -> tuple[int, list[StoredResource]]:
        kinds = [kind] if kind else self.kinds()
        first = self._list(kinds[0], namespace)
        rv = first["metadata"]["resourceVersion"]
        lists = [first] + [self._list(k, namespace, resource_version=rv,
                                      resource_version_match="Exact") for k in kinds[1:]]
        items = [to_resource(obj) for listed in lists for obj in listed.get("items") or []]
        items.sort(key=lambda r: r.key)
        return revision_of(rv), items

    def revision(self) -> int:
        listed = self._list(NATIVE_KINDS[0], None, limit=1)
        return revision_of(listed["metadata"]["resourceVersion"])

    # -- writing -------------------------------------------------------------------------

    def _dry_run_each(self, items: list, write: Callable) -> None:
        """Send every write as a server-side dry run first; all refusals together, nothing
        written, when any is refused."""
        from kubernetes.client.rest import ApiException

        findings, first = [], None
        for res, key in items:
            try:
                write(res, key, dry_run=True)
            except ApiException as e:
                error = self._refusal(e, res, key)
                first = first or error
                findings.extend(error.findings or [Finding(str(error))])
        if first is not None:
            note = [Finding("nothing was written: the API server refused the above in a dry "
                            "run")] if len(items) > 1 else []
            raise type(first)(findings=findings + note) from None

    def _write_each(self, verb: str, items: list, write: Callable) -> list:
        """Write the objects one by one; on a failure, say what was and was not written."""
        from kubernetes.client.rest import ApiException

        done: list = []
        for i, (res, key) in enumerate(items):
            try:
                done.append(write(res, key))
            except (ApiException, MeshtoolError) as e:
                error = e if isinstance(e, MeshtoolError) else self._refusal(e, res, key)
                if not done:
                    raise error from None
                written = ", ".join(display_key(k) for _, k in items[:i])
                rest = ", ".join(display_key(k) for _, k in items[i:])
                notes = [Finding(f"{verb} before the failure (Kubernetes writes one object at a "
                                 f"time): {written}"), Finding(f"not {verb}: {rest}")]
                raise type(error)(findings=(error.findings or [Finding(str(error))]) + notes) from None
        return done

    def create(self, resources: list[Resource]) -> list[StoredResource]:
        check_unique(resources)
        current = self._read_all([r.key for r in resources])
        taken = [finding_for(r, r.key, "already exists") for r in resources
                 if current[r.key] is not None]
        if taken:
            raise AlreadyExistsError(findings=taken,
                                     hint="use `meshtool replace` to change an existing rule")

        def write(res: Resource, key: Key, dry_run: bool = False) -> StoredResource:
            return to_resource(self._call("create_namespaced_custom_object",
                                          *self.group_version(res.kind), res.namespace,
                                          plural(res.kind), _body(res),
                                          field_validation="Strict", field_manager=FIELD_MANAGER,
                                          **_dry(dry_run)))

        items = [(r, r.key) for r in resources]
        self._dry_run_each(items, write)
        return self._write_each("created", items, write)

    def replace(self, resources: list[Resource]) -> list[StoredResource]:
        check_unique(resources)
        missing, stale, found = [], [], []
        currents = self._read_all([r.key for r in resources])
        for res in resources:
            current = currents[res.key]
            if current is None:
                missing.append(finding_for(res, res.key, "not found"))
                continue
            latest = current["metadata"]["resourceVersion"]
            if res.resource_version is not None and res.resource_version != latest:
                stale.append(finding_for(
                    res, res.key, f"has been modified: resourceVersion {res.resource_version} "
                    f"is not the latest ({latest}); get it again and retry",
                    field=RESOURCE_VERSION_FIELD))
            found.append((res, current))
        if missing:
            raise NotFoundError(findings=missing + stale, hint="use `meshtool create` to add a new rule")
        if stale:
            raise ConflictError(findings=stale)
        current_of = {res.key: current for res, current in found}

        def write(res: Resource, key: Key, dry_run: bool = False) -> StoredResource:
            return to_resource(self._call("replace_namespaced_custom_object",
                                          *self.group_version(res.kind), res.namespace,
                                          plural(res.kind), res.name,
                                          _body(res, current_of[key]), field_validation="Strict",
                                          field_manager=FIELD_MANAGER, **_dry(dry_run)))

        items = [(r, r.key) for r in resources]
        self._dry_run_each(items, write)
        return self._write_each("replaced", items, write)

    def delete(self, keys: list[Key]) -> list[Change]:
        keys = list(dict.fromkeys(tuple(k) for k in keys))
        current = self._read_all(keys)
        missing = [finding_for(None, key, "not found") for key, obj in current.items() if obj is None]
        if missing:
            raise NotFoundError(findings=missing)

        def write(_res, key: Key) -> Change:
            kind, namespace, name = key
            last = current[key]
            # Only the version just read: its state is what the caller is told was deleted.
            precondition = {"preconditions": {"resourceVersion": last["metadata"]["resourceVersion"]}}
            answer = self._call("delete_namespaced_custom_object", *self.group_version(kind),
                                namespace, plural(kind), name, body=precondition)
            rv = ((answer or {}).get("metadata") or {}).get("resourceVersion")
            resource = to_resource(last)
            return Change(revision_of(rv) if rv else resource.revision, "DELETED", resource)

        return self._write_each("deleted", [(None, k) for k in keys], write)

    # -- watching ------------------------------------------------------------------------

    def watch(self, since: int, timeout: float) -> list[Change]:
        watcher = self._watcher
        if watcher is None or watcher.position != since:
            if watcher is not None:
                watcher.stop()
                self._watcher = None
            # The API server would wait for a future revision silently: refuse it as the local store does.
            current = self.revision()
            if since > current:
                raise RelistRequired(f"{self.location} is at revision {current}, behind the watched "
                                     f"revision {since} (another cluster?); list again", current=current)
            watcher = self._watcher = _Watcher(self, since)
        changes = watcher.take(timeout)
        if watcher.gone:
            watcher.stop()
            self._watcher = None
            if watcher.error is not None:
                raise watcher.error
            current = self.revision()
            raise RelistRequired(f"{self.location}: revision {since} is too old or unknown to the "
                                 f"API server ({watcher.gone}); list again", current=current)
        return changes

    def close(self) -> None:
        if self._watcher is not None:
            self._watcher.stop()
            self._watcher = None
        self.cluster.close()


class _Watcher:
    """One watch stream per kind, from `since`, feeding a list of Changes."""

    def __init__(self, store: KubernetesStore, since: int):
        self.store = store
        self.position = since  # the revision a continuing watch() call passes
        self.gone: str | None = None  # why the API server cannot watch from there
        self.error: MeshtoolError | None = None  # a refusal that relisting would not cure
        self._changes: list[Change] = []
        self._cond = threading.Condition()
        self._stopped = threading.Event()
        self._responses: dict[str, Any] = {}
        self._threads = [threading.Thread(target=self._run, args=(kind, str(since)), daemon=True,
                                          name=f"meshtool-watch-{plural(kind)}")
                         for kind in store.kinds()]
        for thread in self._threads:
            thread.start()

    def take(self, timeout: float) -> list[Change]:
        deadline = time.monotonic() + timeout
        with self._cond:
            self._cond.wait_for(lambda: self._changes or self.gone, max(timeout, 0))
            if self._changes and not self.gone:
                # One `meshtool create -f` writes several objects in quick succession: return them together.
                self._cond.wait_for(lambda: False, min(SETTLE, max(deadline - time.monotonic(), 0)))
            changes, self._changes = self._changes, []
        changes.sort(key=lambda c: c.revision)
        if changes:
            self.position = max(self.position, changes[-1].revision)
        return changes

    def _run(self, kind: str, resource_version: str) -> None:
        from kubernetes.watch.watch import iter_resp_lines

        while not self._stopped.is_set():
            try:
                response = self.store._api.list_cluster_custom_object(
                    *self.store.group_version(kind), plural(kind), watch=True,
                    allow_watch_bookmarks=True,
                    resource_version=resource_version, timeout_seconds=WATCH_SECONDS,
                    _preload_content=False)
                self._responses[kind] = response
                for line in iter_resp_lines(response):
                    if not line.strip():
                        continue
                    event = json.loads(line)
                    obj = event.get("object") or {}
                    if event.get("type") == "ERROR":
                        self._give_up(obj.get("message") or "watch error")
                        return
                    resource_version = obj["metadata"]["resourceVersion"]
                    if event["type"] in ("ADDED", "MODIFIED", "DELETED"):
                        change = Change(revision_of(resource_version), event["type"], to_resource(obj))
                        with self._cond:
                            self._changes.append(change)
                            self._cond.notify_all()
            except Exception as e:  # noqa: BLE001 - a dropped stream is retried, a refusal reported
                if self._stopped.is_set():
                    return
                status = getattr(e, "status", None)
                if status in (401, 403):
                    self.error = MeshtoolError(f"{self.store.location} refused to watch "
                                               f"{plural(kind)}: {api_message(e)}")
                    self._give_up(f"{status}")
                    return
                if status in (410, 504) or (status and 400 <= status < 500):
                    self._give_up(f"{status} {getattr(e, 'reason', '')}".strip())
                    return
                time.sleep(0.5)

    def _give_up(self, why: str) -> None:
        with self._cond:
            self.gone = why
            self._cond.notify_all()

    def stop(self) -> None:
        self._stopped.set()
        for response in list(self._responses.values()):
            try:
                response.shutdown()
                response.release_conn()
            except Exception:  # noqa: BLE001 - closing a stream that already ended
                pass
