"""The live children of every resource, kept from watch events, and the apply/prune pass over them."""

from __future__ import annotations

import itertools
import logging
import threading
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ragops.reconcile.compare import is_subset
from ragops.reconcile.kube import KubeClient, KubeError

log = logging.getLogger(__name__)

# Never pruned: PVCs hold data, and backup Jobs belong to their CronJob or to a user's request.
NEVER_PRUNED = {"PersistentVolumeClaim"}
# Kinds from another project's CRDs (the Prometheus Operator's), each with the spec field that asks for it:
# a 404 on apply means this cluster does not serve them, which the user fixes by installing them or by not
# asking for them, not by waiting.
OPTIONAL_KINDS = {
    "ServiceMonitor": "spec.monitoring.serviceMonitor",
    "PrometheusRule": "spec.monitoring.prometheusRule",
}
PRUNED_JOB_COMPONENTS = {"restore"}

Key = tuple[str, str, str]  # kind, namespace, name


def key_of(obj: Mapping[str, Any]) -> Key:
    meta = obj["metadata"]
    return obj["kind"], meta["namespace"], meta["name"]


def controller_uid(obj: Mapping[str, Any]) -> str | None:
    for ref in obj.get("metadata", {}).get("ownerReferences") or []:
        if ref.get("controller"):
            return str(ref.get("uid"))
    return None


class ChildCache:
    """Latest body of each child, fed by watch events and by apply responses.

    Primed at startup (`prime`) with the names of every labelled child of a kind, listed before the
    watches start. From then on a miss is an answer for that kind: a child that was neither listed nor
    seen since is absent, so creating it costs one apply instead of a GET (404) and an apply. Listed
    children whose watch event has not arrived yet (`unseen`) are read with a GET.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._objects: dict[Key, dict[str, Any]] = {}
        self._by_owner: dict[str, set[Key]] = defaultdict(set)
        self._primed: set[str] = set()  # kinds whose misses mean "absent"
        self._unseen: set[Key] = set()  # listed when priming, no body yet
        self._counter = itertools.count(1)
        self._stored: dict[Key, int] = {}  # when each key was last stored (a `mark` value)

    def prime(self, kind: str, existing: Iterable[Key]) -> None:
        """Record the children of `kind` that exist now (a LIST taken before any watch event)."""
        with self._lock:
            mark = next(self._counter)
            for key in existing:
                if key not in self._objects:
                    self._unseen.add(key)
                    self._stored[key] = mark
            self._primed.add(kind)

    def mark(self) -> int:
        """A point in the cache's history: take it before a listing starts, pass it to `replace`."""
        return next(self._counter)

    def replace(self, kind: str, namespace: str | None, present: Iterable[Key], mark: int) -> list[dict[str, Any]]:
        """A listing of `kind` (in `namespace`, or cluster-wide) found exactly `present`: forget every cached
        child of that scope it lacks that was stored before `mark`. Returns the forgotten bodies."""
        wanted = set(present)
        with self._lock:
            stale = [
                key
                for key in [*self._objects, *self._unseen]
                if key[0] == kind
                and (namespace is None or key[1] == namespace)
                and key not in wanted
                and self._stored.get(key, 0) < mark
            ]
            forgotten = [self._objects[key] for key in stale if key in self._objects]
            for key in stale:
                self._forget(key)
            return forgotten

    def put(self, obj: Mapping[str, Any]) -> None:
        key = key_of(obj)
        slimmed = slim(obj)
        with self._lock:
            self._forget(key)
            self._objects[key] = slimmed
            self._stored[key] = next(self._counter)
            owner = controller_uid(slimmed)
            if owner:
                self._by_owner[owner].add(key)

    def remove(self, key: Key) -> None:
        with self._lock:
            self._forget(key)

    def get(self, key: Key) -> dict[str, Any] | None:
        with self._lock:
            return self._objects.get(key)

    def unseen(self) -> int:
        """Children listed when priming that no event or read has delivered yet."""
        with self._lock:
            return len(self._unseen)

    def known_absent(self, key: Key) -> bool:
        """The child does not exist, as far as the priming LIST and every event since tell."""
        with self._lock:
            return key[0] in self._primed and key not in self._objects and key not in self._unseen

    def owned_by(self, owner_uid: str) -> list[dict[str, Any]]:
        with self._lock:
            return [self._objects[key] for key in self._by_owner.get(owner_uid, set()) if key in self._objects]

    def __len__(self) -> int:
        with self._lock:
            return len(self._objects)

    def _forget(self, key: Key) -> None:
        self._unseen.discard(key)
        self._stored.pop(key, None)
        old = self._objects.pop(key, None)
        if old is not None:
            owner = controller_uid(old)
            if owner and owner in self._by_owner:
                self._by_owner[owner].discard(key)
                if not self._by_owner[owner]:
                    del self._by_owner[owner]


def list_keys(
    kube: KubeClient, kind: str, namespaces: Sequence[str] | None, label_selector: str = ""
) -> list[Key] | None:
    """Every object of `kind` (per namespace, or cluster-wide when `namespaces` is None), names only.

    None when it cannot be listed; empty when the API server does not serve the kind (a CRD not installed)."""
    keys: list[Key] = []
    try:
        for namespace in namespaces if namespaces is not None else [None]:
            keys += [(kind, ns, name) for ns, name in kube.list_names(kind, namespace, label_selector)]
    except KubeError as error:
        if error.not_found:
            return []
        log.warning("cannot list %s (%s): reading them one by one instead", kind, error)
        return None
    return keys


def prime(
    kube: KubeClient, cache: ChildCache, kinds: Iterable[str], namespaces: Sequence[str] | None, label_selector: str
) -> list[str]:
    """Prime `cache` with one LIST per kind; call before the watches start. A kind that cannot be listed
    stays unprimed (its misses keep their GET). Returns the kinds left unprimed."""
    failed = []
    for kind in kinds:
        keys = list_keys(kube, kind, namespaces, label_selector)
        if keys is None:
            failed.append(kind)
        else:
            cache.prime(kind, keys)
    return failed


@dataclass
class SyncResult:
    applied: list[Key] = field(default_factory=list)
    deleted: list[Key] = field(default_factory=list)
    errors: list[tuple[Key, KubeError]] = field(default_factory=list)
    unserved: list[Key] = field(default_factory=list)  # optional kinds the cluster does not serve
    live: dict[Key, dict[str, Any]] = field(default_factory=dict)


def current(kube: KubeClient, cache: ChildCache, key: Key, *, confirm: bool = False) -> dict[str, Any] | None:
    """The live child: from the cache, else one GET (a cold cache must not cause writes).

    A miss on a primed kind needs no GET: the child is absent, and applying it is right. `confirm` GETs
    anyway, for reads whose answer is kept rather than overwritten (a generated key, an immutable size):
    an object of that name may exist without the operator's label, hence outside the cache."""
    cached = cache.get(key)
    if cached is not None:
        return cached
    if not confirm and cache.known_absent(key):
        return None
    live = kube.get(*key)
    if live is not None:
        cache.put(live)
    return live


def sync_children(
    kube: KubeClient, cache: ChildCache, owner_uid: str, desired: Iterable[dict[str, Any]], *, prune: bool = True
) -> SyncResult:
    """Apply each desired child that differs from its live state; delete owned children no longer desired."""
    result = SyncResult()
    wanted: set[Key] = set()
    for obj in desired:
        key = key_of(obj)
        wanted.add(key)
        try:
            live = current(kube, cache, key)
            if live is not None and is_subset(obj, live):
                result.live[key] = live
                continue
            applied = kube.apply(obj)
        except KubeError as error:
            if error.not_found and key[0] in OPTIONAL_KINDS:
                result.unserved.append(key)
            else:
                result.errors.append((key, error))
            continue
        cache.put(applied)
        result.live[key] = applied
        result.applied.append(key)
    if prune:
        for live in cache.owned_by(owner_uid):
            key = key_of(live)
            if key in wanted or not _prunable(live):
                continue
            try:
                kube.delete(*key, uid=live["metadata"].get("uid"))
            except KubeError as error:
                result.errors.append((key, error))
                continue
            cache.remove(key)
            result.deleted.append(key)
    return result


def _prunable(obj: Mapping[str, Any]) -> bool:
    if obj["kind"] in NEVER_PRUNED:
        return False
    if obj["kind"] == "Job":
        component = (obj["metadata"].get("labels") or {}).get("app.kubernetes.io/component")
        return component in PRUNED_JOB_COMPONENTS
    return True


def slim(obj: Mapping[str, Any]) -> dict[str, Any]:
    """Drop managedFields: they are large and nothing here reads them (keeps memory flat at scale)."""
    meta = {k: v for k, v in obj.get("metadata", {}).items() if k != "managedFields"}
    return {**obj, "metadata": meta}
