"""One idempotent reconcile of a VectorStore: read, build, apply, report."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from typing import Any

from ragops.builders import build_vectorstore_children, names
from ragops.builders import qdrant as qdrant_builders
from ragops.builders.backup import build_backup_now_job, build_restore_job, restore_source_pvc
from ragops.builders.meta import selector_labels
from ragops.builders.qdrant import StoreInputs, api_key_ref
from ragops.models import SpecError, parse_resource, resolve_vectorstore
from ragops.models.resolved import ResolvedVectorStore
from ragops.models.resource import Resource
from ragops.models.status import BackupRecord, Endpoints, ResourceStatus
from ragops.models.vectorstore import VectorStoreSpec
from ragops.reconcile import references, report
from ragops.reconcile.children import current, sync_children
from ragops.reconcile.compare import is_subset, quantity_value
from ragops.reconcile.conditions import Observation
from ragops.reconcile.context import Context, Outcome
from ragops.reconcile.jobs import job_record, latest_backup
from ragops.reconcile.kube import KubeError
from ragops.reconcile.secrets import existing_or_new, keys_hash, secret_value

log = logging.getLogger(__name__)

KIND = "VectorStore"
BACKUP_NOW_ANNOTATION = "ragops.dev/backup-now"
ALLOW_SCALE_DOWN_ANNOTATION = "ragops.dev/allow-scale-down"


def reconcile_vectorstore(ctx: Context, body: Mapping[str, Any]) -> Outcome:
    try:
        resource: Resource[VectorStoreSpec] = parse_resource(body)
    except SpecError as error:
        return report.invalid_spec(ctx, body, str(error))

    previous = body.get("status") or {}
    resolved = resolve_vectorstore(resource.spec)
    notes: list[Observation] = []
    sts_key = ("StatefulSet", resource.namespace, names.qdrant(resource.name))
    try:
        # Confirmed: the template size read here is kept, not overwritten (volumeClaimTemplates are immutable).
        live_sts = current(ctx.kube, ctx.children, sts_key, confirm=True)
        resolved, scale_note = _guard_scale_down(resource, resolved, int(previous.get("replicas") or 0))
        storage_note, template_size = _storage(ctx, resource, resolved.storage_size, live_sts)
        api_key, read_only_key = _api_keys(ctx, resource)
        lookups = references.Lookups(ctx.kube, resource.namespace)
        missing = references.store_references(resource, lookups)
        key_hash, read_only_in_secret = _key_state(resource, lookups, api_key, read_only_key)
    except KubeError as error:
        return report.transient(ctx, body, error)
    refs = references.replication_note(resource, resolved.replicas)
    notes += [n for n in (scale_note, storage_note, refs) if n]
    inputs = StoreInputs(
        resolved=resolved,
        operator_image=ctx.settings.image,
        operator_namespace=ctx.settings.namespace,
        api_key=api_key,
        read_only_api_key=read_only_key,
        live_template_size=template_size,
        api_key_hash=key_hash,
        read_only_key_in_secret=read_only_in_secret,
    )
    desired = build_vectorstore_children(resource, inputs)
    qdrant_ready, ready_replicas = _qdrant_ready(ctx.children.get(sts_key) or live_sts, resolved.replicas)
    try:
        restore_job, restore_record, restore_note = _restore(ctx, resource, inputs, previous, qdrant_ready)
    except KubeError as error:
        return report.transient(ctx, body, error)
    if restore_job is not None:
        desired.append(restore_job)
    if restore_note is not None:
        notes.append(restore_note)

    sync = sync_children(ctx.kube, ctx.children, resource.uid, desired)
    if sync.errors:
        return report.apply_failed(ctx, body, resource.generation, sync.errors)
    unserved = report.unserved_kinds(sync.unserved)
    if unserved is not None:
        notes.append(unserved)
    sts = sync.live.get(sts_key) or live_sts
    qdrant_ready, ready_replicas = _qdrant_ready(sts, resolved.replicas)

    backup_note = _backup_now(ctx, resource, inputs, body)
    if backup_note:
        notes.append(backup_note)

    secret_name, secret_key = api_key_ref(resource)
    collections = _restoring(resource, restore_record) or _collections(
        ctx, resource, qdrant_ready, api_key, (secret_name, secret_key), resolved.replicas, previous, lookups
    )
    last_backup = _last_backup(ctx, resource)
    references_observation = references.observation(missing)
    conditions = [
        # First: a missing reference is the reason the Ready condition and the Warning Event give.
        references_observation,
        Observation(
            "QdrantReady",
            qdrant_ready,
            "AllReplicasReady" if qdrant_ready else "ReplicasNotReady",
            f"{ready_replicas}/{resolved.replicas} Qdrant pods ready",
        ),
        collections,
        _backup_scheduled(resource),
        _last_backup_condition(last_backup),
        *notes,
    ]
    degraded = collections.is_problem or any(note.is_problem for note in notes) or bool(missing)
    # Pods that cannot start without the object: Failed until it appears (running pods keep serving: Degraded).
    blocked = any(m.blocking for m in missing) and not qdrant_ready
    status = ResourceStatus(
        observed_generation=resource.generation,
        ready_replicas=ready_replicas,
        replicas=resolved.replicas,
        endpoints=Endpoints(
            http=names.qdrant_url(resource.name, resource.namespace),
            grpc=names.qdrant_grpc_url(resource.name, resource.namespace),
        ),
        url=names.qdrant_url(resource.name, resource.namespace),
        profile=resource.spec.profile.value,
        last_backup=last_backup,
        last_restore=restore_record,
        api_key_secret=secret_name,
    )
    if (
        last_backup
        and last_backup.result == "Failed"
        and (previous.get("lastBackup") or {}).get("name") != (last_backup.name)
    ):
        ctx.kube.event(
            dict(body),
            "Warning",
            "BackupFailed",
            f"backup {last_backup.name} failed: kubectl logs job/{last_backup.name}",
        )
    outcome = report.write_status(
        ctx,
        body,
        status,
        conditions,
        ready=qdrant_ready,
        progressing=not qdrant_ready and not blocked,
        degraded=degraded,
        ready_message=f"Qdrant {ready_replicas}/{resolved.replicas} ready",
        failed=blocked,
    )
    references.announce(ctx, body, references_observation, status, previous)
    return references.recheck(outcome, missing)


def _guard_scale_down(
    resource: Resource[VectorStoreSpec], resolved: ResolvedVectorStore, live_replicas: int
) -> tuple[ResolvedVectorStore, Observation | None]:
    """Scaling a distributed Qdrant down drops the shards held by removed peers: refuse unless told.

    `live_replicas` is the node count the operator last settled on (status), not the StatefulSet's,
    so a user's edit of the StatefulSet is treated as drift and reverted, not as a scale-down."""
    if live_replicas <= resolved.replicas or live_replicas <= 1:
        return resolved, None
    if resource.annotations.get(ALLOW_SCALE_DOWN_ANNOTATION) == "true":
        return resolved, None
    note = Observation(
        "ScaleDownBlocked",
        False,
        "ScaleDownWouldLoseShards",
        f"Qdrant stays at {live_replicas} nodes instead of {resolved.replicas}: removing peers of a distributed "
        f"store drops the shards they hold. Move shards off the last peers first, then annotate the VectorStore "
        f"with {ALLOW_SCALE_DOWN_ANNOTATION}=true.",
    )
    return dataclasses.replace(resolved, replicas=live_replicas), note


def _storage(
    ctx: Context, resource: Resource[VectorStoreSpec], wanted: str, live_sts: Mapping[str, Any] | None
) -> tuple[Observation | None, str | None]:
    """volumeClaimTemplates are immutable: keep the live size there and grow the PVCs themselves."""
    if live_sts is None:
        return None, None
    templates = live_sts.get("spec", {}).get("volumeClaimTemplates") or []
    live_size = templates[0]["spec"]["resources"]["requests"]["storage"] if templates else None
    if live_size is None or is_subset(wanted, live_size):
        return None, live_size
    if quantity_value(wanted) < quantity_value(live_size):
        return (
            Observation(
                "StorageResized",
                False,
                "ShrinkRefused",
                f"storage stays at {live_size}: volumes cannot shrink (the profile or spec.storage.size asks for "
                f"{wanted}). Set spec.storage.size to at least {live_size}.",
            ),
            live_size,
        )
    selector = ",".join(f"{k}={v}" for k, v in _storage_selector(resource).items())
    failures = []
    for pvc in ctx.kube.list_objects("PersistentVolumeClaim", resource.namespace, selector):
        size = pvc["spec"]["resources"]["requests"]["storage"]
        if quantity_value(size) >= quantity_value(wanted):
            continue
        try:
            ctx.kube.apply(
                {
                    "apiVersion": "v1",
                    "kind": "PersistentVolumeClaim",
                    "metadata": {"name": pvc["metadata"]["name"], "namespace": resource.namespace},
                    "spec": {"resources": {"requests": {"storage": wanted}}},
                }
            )
        except KubeError as error:
            failures.append(f"{pvc['metadata']['name']}: {error}")
    if failures:
        return (
            Observation(
                "StorageResized",
                False,
                "ExpansionFailed",
                f"could not grow volumes to {wanted} (does the StorageClass allow volume expansion?): "
                + "; ".join(failures),
            ),
            live_size,
        )
    return Observation("StorageResized", True, "Expanded", f"volumes expanding to {wanted}"), live_size


def _storage_selector(resource: Resource[VectorStoreSpec]) -> dict[str, str]:
    return selector_labels(resource, qdrant_builders.APP, qdrant_builders.COMPONENT)


def _api_keys(ctx: Context, resource: Resource[VectorStoreSpec]) -> tuple[str | None, str | None]:
    """Values for the generated Secret: the existing ones, or new ones the first time."""
    if resource.spec.security.api_key_secret_ref.name:
        return None, None
    key = ("Secret", resource.namespace, names.qdrant_api_key(resource.name))
    live = current(ctx.kube, ctx.children, key, confirm=True)  # never replace a key that exists
    api_key = existing_or_new(live, resource.spec.security.api_key_secret_ref.key)
    read_only = existing_or_new(live, "readOnlyApiKey") if resource.spec.security.read_only_api_key else None
    return api_key, read_only


def _key_state(
    resource: Resource[VectorStoreSpec],
    lookups: references.Lookups,
    api_key: str | None,
    read_only_key: str | None,
) -> tuple[str | None, bool]:
    """(hash of the key values Qdrant should run with, whether a user's Secret holds a read-only key).

    A user's Secret is read through the pass's lookups (the references check reads it anyway): rotating a
    key there changes the hash, which rolls the Qdrant pods one at a time (on the next pass: a spec change,
    a child's event, or the resync)."""
    if api_key is not None:
        return keys_hash(api_key, read_only_key), False
    name, key = api_key_ref(resource)
    secret = lookups.secret(name)
    read_only = secret_value(secret, "readOnlyApiKey") if resource.spec.security.read_only_api_key else None
    return keys_hash(secret_value(secret, key), read_only), read_only is not None


def _qdrant_ready(sts: Mapping[str, Any] | None, replicas: int) -> tuple[bool, int]:
    if not sts:
        return False, 0
    status = sts.get("status") or {}
    ready = int(status.get("readyReplicas") or 0)
    current_generation = status.get("observedGeneration") == sts.get("metadata", {}).get("generation")
    updated = int(status.get("updatedReplicas") or 0)
    return (current_generation and ready >= replicas and updated >= replicas), ready


def _collections(
    ctx: Context,
    resource: Resource[VectorStoreSpec],
    qdrant_ready: bool,
    api_key: str | None,
    secret: tuple[str, str],
    nodes: int,
    previous: Mapping[str, Any],
    lookups: references.Lookups,
) -> Observation:
    if not resource.spec.collections and not resource.spec.prune_collections:
        return Observation("CollectionsReady", True, "NoneDeclared", "no collections declared")
    if not qdrant_ready:
        return Observation("CollectionsReady", None, "WaitingForQdrant", "collections are ensured once Qdrant is ready")
    if api_key is None:
        try:
            api_key = secret_value(lookups.secret(secret[0]), secret[1])  # read once per pass
        except KubeError as error:
            return Observation("CollectionsReady", None, "SecretUnreadable", str(error))
    answer = ctx.collections(resource, api_key, nodes)
    if answer is not None:
        return answer
    # The check is still running: what the status says stands meanwhile (no write for a pending answer).
    for condition in previous.get("conditions") or []:
        if condition.get("type") == "CollectionsReady" and condition.get("observedGeneration") == resource.generation:
            status = condition.get("status")
            ok = True if status == "True" else False if status == "False" else None
            return Observation("CollectionsReady", ok, str(condition.get("reason")), str(condition.get("message")))
    return Observation("CollectionsReady", None, "Checking", "checking the collections through Qdrant's API")


def _restoring(resource: Resource[VectorStoreSpec], record: BackupRecord | None) -> Observation | None:
    """While a restore is due, running or failed, the declared collections are not ensured: the restore
    creates them from the backup (Qdrant recovers a snapshot only into a collection of the same parameters),
    and an empty collection created meanwhile could hide a failed restore. Once it succeeded, the usual check
    reports any difference between the restored collections and the declared ones."""
    wanted = resource.spec.restore.backup_name
    if not wanted or record is None or record.name != wanted or record.result == "Succeeded":
        return None
    if record.result == "Failed":
        return Observation(
            "CollectionsReady",
            False,
            "RestoreFailed",
            f"restore of {record.name} failed, so the collections are not created (a retry restores into an "
            f"empty store): delete the Job to retry, or clear spec.restore.backupName to start empty",
        )
    return Observation(
        "CollectionsReady", None, "WaitingForRestore", f"collections come from backup {record.name} once restored"
    )


def _backup_scheduled(resource: Resource[VectorStoreSpec]) -> Observation:
    backup = resource.spec.backup
    if backup is None:
        return Observation(
            "BackupScheduled", False, "NotConfigured", "spec.backup is not set: no backups are taken", problem=False
        )
    if backup.suspend:
        return Observation("BackupScheduled", False, "Suspended", "spec.backup.suspend is true", problem=False)
    return Observation("BackupScheduled", True, "Scheduled", f"backups run on '{backup.schedule}'")


def _last_backup(ctx: Context, resource: Resource[VectorStoreSpec]) -> BackupRecord | None:
    cronjob = ctx.children.get(("CronJob", resource.namespace, names.backup(resource.name)))
    owners = [resource.uid] + ([cronjob["metadata"]["uid"]] if cronjob else [])
    jobs = [job for uid in owners for job in ctx.children.owned_by(uid) if job["kind"] == "Job"]
    return latest_backup(jobs)


def _last_backup_condition(record: BackupRecord | None) -> Observation:
    if record is None:
        return Observation("LastBackupSucceeded", None, "NoBackupYet", "no backup has finished yet")
    if record.result == "Succeeded":
        return Observation("LastBackupSucceeded", True, "Succeeded", f"backup {record.name} succeeded at {record.time}")
    return Observation(
        "LastBackupSucceeded", False, "Failed", f"backup {record.name} failed: kubectl logs job/{record.name}"
    )


def _restore(
    ctx: Context,
    resource: Resource[VectorStoreSpec],
    inputs: StoreInputs,
    previous: Mapping[str, Any],
    qdrant_ready: bool,
) -> tuple[dict[str, Any] | None, BackupRecord | None, Observation | None]:
    """The restore Job runs once per backupName; deleting a failed one retries it."""
    backup_name = resource.spec.restore.backup_name
    recorded = previous.get("lastRestore")
    if not backup_name:
        return None, BackupRecord.model_validate(recorded) if recorded else None, None
    job = build_restore_job(resource, inputs)
    assert job is not None
    live = ctx.children.get(("Job", resource.namespace, job["metadata"]["name"]))
    if live is not None:
        return job, job_record(live, name=backup_name), None
    if recorded and recorded.get("name") == backup_name and recorded.get("result") == "Succeeded":
        return None, BackupRecord.model_validate(recorded), None
    source_pvc = restore_source_pvc(resource)
    if (
        source_pvc
        and current(ctx.kube, ctx.children, ("PersistentVolumeClaim", resource.namespace, source_pvc)) is None
    ):
        note = Observation(
            "RestoreReady",
            False,
            "BackupVolumeNotFound",
            f"restore of {backup_name} reads PVC {source_pvc}, which does not exist: set spec.backup on this store, "
            f"or spec.restore.fromStore to the store whose backup PVC holds the backup",
        )
        return None, BackupRecord(name=backup_name, result="Pending"), note
    if not qdrant_ready:
        return None, BackupRecord(name=backup_name, result="Pending"), None
    return job, BackupRecord(name=backup_name, result="Running"), None


def _backup_now(
    ctx: Context, resource: Resource[VectorStoreSpec], inputs: StoreInputs, body: Mapping[str, Any]
) -> Observation | None:
    """The `ragops.dev/backup-now` annotation starts one Job from the CronJob's template, then is cleared."""
    request = resource.annotations.get(BACKUP_NOW_ANNOTATION)
    if request is None:
        return None
    note = None
    if resource.spec.backup is None:
        ctx.kube.event(dict(body), "Warning", "BackupNowIgnored", "ragops.dev/backup-now needs spec.backup to be set")
    else:
        job = build_backup_now_job(resource, inputs, request)
        try:
            ctx.kube.apply(job)
            ctx.kube.event(dict(body), "Normal", "BackupStarted", f"on-demand backup job {job['metadata']['name']}")
        except KubeError as error:
            note = Observation("BackupNowFailed", False, "JobNotCreated", str(error))
    ctx.kube.patch_annotations(KIND, resource.namespace, resource.name, {BACKUP_NOW_ANNOTATION: None})
    return note
