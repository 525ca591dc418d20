"""References a spec makes to objects it does not own, checked in the cluster each pass.

Secrets and their keys, StorageClasses, the VectorStore and collection of a pipeline: a missing one is reported
as the condition `ReferencesResolved` (False, with a reason per kind of object and a message naming the spec
field) and a Warning Event, and the resource is looked at again after RECHECK_SECONDS, so the condition clears by
itself once the object appears. Reads only, one per referenced object per pass, none when nothing is referenced.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ragops.models.ragpipeline import LLMProvider, RagPipelineSpec
from ragops.models.resource import Resource
from ragops.models.status import ResourceStatus
from ragops.models.vectorstore import VectorStoreSpec
from ragops.reconcile.conditions import Observation
from ragops.reconcile.context import Context, Outcome
from ragops.reconcile.kube import KubeClient, KubeError

log = logging.getLogger(__name__)

CONDITION = "ReferencesResolved"
# Short enough that a Secret created after its pipeline is picked up quickly, long enough to cost nothing.
RECHECK_SECONDS = 15.0
S3_CREDENTIAL_KEYS = ("accessKeyId", "secretAccessKey")


@dataclass(frozen=True)
class Missing:
    """One reference that does not resolve."""

    reason: str  # SecretNotFound | SecretKeyNotFound | StorageClassNotFound | VectorStoreNotFound | CollectionNotFound
    message: str  # `<spec field>: <what is missing>`
    blocking: bool = True  # pods cannot start or serve without it (else the stack works, degraded)


class Lookups:
    """The objects a pass reads, each at most once (a Secret named by two fields is read once)."""

    def __init__(self, kube: KubeClient, namespace: str) -> None:
        self._kube = kube
        self._namespace = namespace
        self._secrets: dict[str, Mapping[str, Any] | None] = {}
        self._storage_classes: dict[str, bool | None] = {}

    def secret(self, name: str) -> Mapping[str, Any] | None:
        if name not in self._secrets:
            self._secrets[name] = self._kube.get("Secret", self._namespace, name)
        return self._secrets[name]

    def storage_class_exists(self, name: str) -> bool | None:
        """None: not known (the operator may not read StorageClasses)."""
        if name not in self._storage_classes:
            self._storage_classes[name] = _storage_class_exists(self._kube, name)
        return self._storage_classes[name]


def _storage_class_exists(kube: KubeClient, name: str) -> bool | None:
    try:
        return kube.get_cluster_scoped("StorageClass", name) is not None
    except KubeError as error:
        if error.status == 403:
            log.debug("not allowed to read StorageClass %s: not checked", name)
            return None
        raise


def secret_key(lookups: Lookups, field: str, name: str, keys: Sequence[str]) -> Missing | None:
    secret = lookups.secret(name)
    if secret is None:
        wanted = ", ".join(f"{name}/{key}" for key in keys)
        return Missing(
            "SecretNotFound", f'{field}: Secret "{name}" not found (key{"s" if len(keys) > 1 else ""} {wanted})'
        )
    data = {**(secret.get("data") or {}), **(secret.get("stringData") or {})}
    absent = [key for key in keys if key not in data]
    if absent:
        listed = " or ".join(f'"{key}"' for key in absent)
        return Missing("SecretKeyNotFound", f'{field}: Secret "{name}" has no key {listed}')
    return None


def storage_class(lookups: Lookups, field: str, name: str | None, blocking: bool = True) -> Missing | None:
    if not name or lookups.storage_class_exists(name) is not False:
        return None
    return Missing("StorageClassNotFound", f'{field}: StorageClass "{name}" not found', blocking)


def store_references(resource: Resource[VectorStoreSpec], lookups: Lookups) -> list[Missing]:
    spec = resource.spec
    found: list[Missing | None] = []
    ref = spec.security.api_key_secret_ref
    if ref.name:
        found.append(secret_key(lookups, "spec.security.apiKeySecretRef", ref.name, [ref.key]))
    found.append(storage_class(lookups, "spec.storage.storageClassName", spec.storage.storage_class_name))
    if spec.storage.snapshot_volume is not None:
        found.append(
            storage_class(
                lookups, "spec.storage.snapshotVolume.storageClassName", spec.storage.snapshot_volume.storage_class_name
            )
        )
    if spec.backup is not None:
        destination = spec.backup.destination
        if destination.s3 is not None:
            name = destination.s3.credentials_secret_ref.name
            missing = secret_key(lookups, "spec.backup.destination.s3.credentialsSecretRef", name, S3_CREDENTIAL_KEYS)
            # Qdrant serves without backups: the store is degraded, not down.
            found.append(dataclasses.replace(missing, blocking=False) if missing else None)
        if destination.pvc is not None:
            found.append(
                storage_class(
                    lookups,
                    "spec.backup.destination.pvc.storageClassName",
                    destination.pvc.storage_class_name,
                    blocking=False,
                )
            )
    return [m for m in found if m is not None]


def pipeline_references(
    resource: Resource[RagPipelineSpec], store_body: Mapping[str, Any] | None, lookups: Lookups
) -> list[Missing]:
    spec = resource.spec
    if store_body is None:
        return [
            Missing(
                "VectorStoreNotFound",
                f'spec.vectorStoreRef.name: VectorStore "{spec.vector_store_ref.name}" not found in namespace '
                f'"{resource.namespace}"',
            )
        ]
    found: list[Missing | None] = [_collection(spec, store_body)]
    if spec.embedding.api_key_secret_ref is not None:
        ref = spec.embedding.api_key_secret_ref
        found.append(secret_key(lookups, "spec.embedding.apiKeySecretRef", ref.name, [ref.key]))
    if spec.llm is not None and spec.llm.provider is not LLMProvider.NONE and spec.llm.api_key_secret_ref is not None:
        ref = spec.llm.api_key_secret_ref
        found.append(secret_key(lookups, "spec.llm.apiKeySecretRef", ref.name, [ref.key]))
    auth = spec.gateway.auth.api_key_secret_ref
    if auth.name:
        found.append(secret_key(lookups, "spec.gateway.auth.apiKeySecretRef", auth.name, [auth.key]))
    return [m for m in found if m is not None]


def _collection(spec: RagPipelineSpec, store_body: Mapping[str, Any]) -> Missing | None:
    """Declared in the store's spec, or present in Qdrant (the store's status lists what it found there)."""
    declared = {c.get("name") for c in (store_body.get("spec") or {}).get("collections") or []}
    present = set((store_body.get("status") or {}).get("collections") or [])
    if spec.collection in declared | present:
        return None
    return Missing(
        "CollectionNotFound",
        f'spec.collection: VectorStore "{spec.vector_store_ref.name}" has no collection "{spec.collection}" '
        f"(declare it in the VectorStore's spec.collections)",
    )


def observation(missing: Sequence[Missing]) -> Observation:
    if not missing:
        return Observation(CONDITION, True, "AllFound", "every object the spec refers to exists")
    return Observation(CONDITION, False, missing[0].reason, "; ".join(m.message for m in missing))


def replication_note(resource: Resource[VectorStoreSpec], nodes: int) -> Observation | None:
    """Qdrant keeps at most one copy of a shard per node: a higher replicationFactor is not honoured."""
    above = [
        f"spec.collections[{index}].replicationFactor: {c.replication_factor} copies of collection "
        f'"{c.name}" asked for, but the store has {nodes} Qdrant node{"s" if nodes != 1 else ""}'
        for index, c in enumerate(resource.spec.collections)
        if c.replication_factor is not None and c.replication_factor > nodes
    ]
    if not above:
        return None
    return Observation(
        "ReplicationSatisfied",
        False,
        "ReplicationFactorAboveNodes",
        "; ".join(above) + ": Qdrant keeps at most one copy per node. Lower replicationFactor or add replicas.",
    )


def announce(
    ctx: Context, body: Mapping[str, Any], refs: Observation, status: ResourceStatus, previous: Mapping[str, Any]
) -> None:
    """A Warning when the missing references change while the phase stays (report posts one on phase changes)."""
    if refs.ok is not False or previous.get("phase") != status.phase.value:
        return
    before = next((c for c in previous.get("conditions") or [] if c.get("type") == CONDITION), None)
    if before is not None and before.get("status") == refs.status and before.get("message") == refs.message:
        return
    ctx.kube.event(dict(body), "Warning", refs.reason, f"{CONDITION}: {refs.message}")


def recheck(outcome: Outcome, missing: Sequence[Missing]) -> Outcome:
    """Look again soon while something is missing, even when the pass is otherwise settled or failed."""
    if not missing:
        return outcome
    delay = min(RECHECK_SECONDS, outcome.requeue_after or RECHECK_SECONDS)
    return dataclasses.replace(outcome, requeue_after=delay)
