"""Backup children of a VectorStore: the CronJob, its PVC, on-demand backup Jobs and the restore Job."""

from __future__ import annotations

from typing import Any

from ragops.builders import names
from ragops.builders.meta import STORE_CLIENT_LABEL, metadata, selector_labels
from ragops.builders.qdrant import StoreInputs, api_key_ref
from ragops.builders.security import container_security_context, pod_security_context
from ragops.models.resource import Resource
from ragops.models.vectorstore import BackupDestination, VectorStoreSpec

APP = "qdrant"
BACKUP_COMPONENT = "backup"
RESTORE_COMPONENT = "restore"
BACKUP_MOUNT = "/backups"
JOB_NAME_LABEL = "batch.kubernetes.io/job-name"
# Keys reach the Jobs as read-only files, never as environment variables (which leak into crash dumps,
# `kubectl describe` of the process tree and child processes).
SECRETS_MOUNT = "/var/run/secrets/ragops"
SECRET_FILE_MODE = 0o440  # owner root, group the pod's fsGroup: readable by the Job's user only
TMP_LIMIT = "1Gi"  # small files only: snapshots stream from Qdrant to the destination and back


def build_backup_pvc(resource: Resource[VectorStoreSpec], inputs: StoreInputs) -> dict[str, Any] | None:
    """The backup volume; like data volumes it outlives the VectorStore unless retainOnDelete is false."""
    backup = resource.spec.backup
    if backup is None or backup.destination.pvc is None:
        return None
    spec: dict[str, Any] = {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": backup.destination.pvc.size}},
    }
    if backup.destination.pvc.storage_class_name:
        spec["storageClassName"] = backup.destination.pvc.storage_class_name
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": metadata(
            resource,
            names.backup(resource.name),
            APP,
            BACKUP_COMPONENT,
            owned=not resource.spec.storage.retain_on_delete,
        ),
        "spec": spec,
    }


def build_cronjob(resource: Resource[VectorStoreSpec], inputs: StoreInputs) -> dict[str, Any] | None:
    backup = resource.spec.backup
    if backup is None:
        return None
    spec: dict[str, Any] = {
        "schedule": backup.schedule,
        "suspend": backup.suspend,
        "concurrencyPolicy": "Forbid",
        "startingDeadlineSeconds": 3600,
        "successfulJobsHistoryLimit": 3,
        "failedJobsHistoryLimit": 3,
        "jobTemplate": {
            "metadata": {"labels": metadata(resource, "", APP, BACKUP_COMPONENT)["labels"]},
            "spec": backup_job_spec(resource, inputs),
        },
    }
    if backup.time_zone:
        spec["timeZone"] = backup.time_zone
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": metadata(resource, names.backup(resource.name), APP, BACKUP_COMPONENT),
        "spec": spec,
    }


def build_backup_now_job(resource: Resource[VectorStoreSpec], inputs: StoreInputs, request: str) -> dict[str, Any]:
    """A one-off backup Job from the CronJob's template (annotation ragops.dev/backup-now)."""
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": metadata(
            resource,
            names.backup_now_job(resource.name, request),
            APP,
            BACKUP_COMPONENT,
            annotations={"ragops.dev/backup-request": request},
        ),
        "spec": backup_job_spec(resource, inputs),
    }


def build_restore_job(resource: Resource[VectorStoreSpec], inputs: StoreInputs) -> dict[str, Any] | None:
    restore = resource.spec.restore
    if not restore.backup_name:
        return None
    source = restore.from_store or resource.name
    args = ["restore", *_store_args(resource, inputs, source), "--backup-name", restore.backup_name]
    if restore.overwrite:
        args.append("--overwrite")
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": metadata(resource, names.restore_job(resource.name, restore.backup_name), APP, RESTORE_COMPONENT),
        "spec": _job_spec(resource, inputs, RESTORE_COMPONENT, args, backoff_limit=0, source=source),
    }


def backup_job_spec(resource: Resource[VectorStoreSpec], inputs: StoreInputs) -> dict[str, Any]:
    backup = resource.spec.backup
    assert backup is not None
    args = ["backup", *_store_args(resource, inputs), "--retention", backup.retention]
    return _job_spec(resource, inputs, BACKUP_COMPONENT, args, backoff_limit=1)


def _store_args(resource: Resource[VectorStoreSpec], inputs: StoreInputs, source: str | None = None) -> list[str]:
    """`--store` names where backups live (another store's for a restore); node URLs are always ours."""
    args = ["--store", f"{resource.namespace}/{source or resource.name}"]
    for ordinal in range(inputs.resolved.replicas):
        args += ["--node-url", names.qdrant_node_url(resource.name, resource.namespace, ordinal)]
    return args + _destination_args(_destination(resource))


def _destination(resource: Resource[VectorStoreSpec]) -> BackupDestination:
    # A restore without a backup section reads the default destination (the backup PVC).
    if resource.spec.backup is not None:
        return resource.spec.backup.destination
    return BackupDestination.model_validate({"pvc": {}})


def _destination_args(destination: BackupDestination) -> list[str]:
    if destination.s3 is not None:
        s3 = destination.s3
        args = ["--s3-bucket", s3.bucket, "--s3-region", s3.region]
        if s3.prefix:
            args += ["--s3-prefix", s3.prefix]
        if s3.endpoint:
            args += ["--s3-endpoint", s3.endpoint]
        return args
    return ["--pvc-path", BACKUP_MOUNT]


def restore_source_pvc(resource: Resource[VectorStoreSpec]) -> str | None:
    """The backup PVC a restore reads, or None when backups come from S3."""
    if _destination(resource).s3 is not None:
        return None
    return names.backup(resource.spec.restore.from_store or resource.name)


def _job_spec(
    resource: Resource[VectorStoreSpec],
    inputs: StoreInputs,
    component: str,
    args: list[str],
    *,
    backoff_limit: int,
    source: str | None = None,
) -> dict[str, Any]:
    destination = _destination(resource)
    secret_name, secret_key = api_key_ref(resource)
    env: list[dict[str, Any]] = [
        {"name": "QDRANT_API_KEY_FILE", "value": f"{SECRETS_MOUNT}/qdrant/apiKey"},
        # The Job's own name becomes the backup's name, so status and storage agree.
        {
            "name": "RAGOPS_BACKUP_NAME",
            "valueFrom": {"fieldRef": {"fieldPath": f"metadata.labels['{JOB_NAME_LABEL}']"}},
        },
    ]
    volumes: list[dict[str, Any]] = [
        {"name": "tmp", "emptyDir": {"sizeLimit": TMP_LIMIT}},
        _secret_volume("qdrant-key", secret_name, {secret_key: "apiKey"}),
    ]
    mounts: list[dict[str, Any]] = [
        {"name": "tmp", "mountPath": "/tmp"},
        {"name": "qdrant-key", "mountPath": f"{SECRETS_MOUNT}/qdrant", "readOnly": True},
    ]
    if destination.s3 is not None:
        credentials = destination.s3.credentials_secret_ref.name or ""
        env.append({"name": "RAGOPS_S3_CREDENTIALS_DIR", "value": f"{SECRETS_MOUNT}/s3"})
        volumes.append(
            _secret_volume(
                "s3-credentials",
                credentials,
                {"accessKeyId": "accessKeyId", "secretAccessKey": "secretAccessKey"},
            )
        )
        mounts.append({"name": "s3-credentials", "mountPath": f"{SECRETS_MOUNT}/s3", "readOnly": True})
    else:
        claim = names.backup(source or resource.name)
        volumes.append({"name": "backups", "persistentVolumeClaim": {"claimName": claim}})
        mounts.append({"name": "backups", "mountPath": BACKUP_MOUNT})
    pod_labels = {
        **metadata(resource, "", APP, component)["labels"],
        STORE_CLIENT_LABEL: resource.name,
    }
    return {
        "backoffLimit": backoff_limit,
        "activeDeadlineSeconds": 6 * 3600,
        "template": {
            "metadata": {"labels": pod_labels},
            "spec": {
                "restartPolicy": "Never",
                "automountServiceAccountToken": False,
                "enableServiceLinks": False,
                "securityContext": pod_security_context(),
                "containers": [
                    {
                        "name": component,
                        "image": inputs.operator_image,
                        "imagePullPolicy": "IfNotPresent",
                        "args": args,
                        "env": env,
                        "resources": {
                            "requests": {"cpu": "100m", "memory": "256Mi", "ephemeral-storage": "256Mi"},
                            "limits": {"cpu": "1", "memory": "1Gi", "ephemeral-storage": TMP_LIMIT},
                        },
                        "securityContext": container_security_context(),
                        "volumeMounts": mounts,
                    }
                ],
                "volumes": volumes,
            },
        },
    }


def _secret_volume(volume: str, secret: str, keys: dict[str, str]) -> dict[str, Any]:
    """A Secret volume exposing `keys` (Secret key -> file name) read-only."""
    return {
        "name": volume,
        "secret": {
            "secretName": secret,
            "items": [{"key": key, "path": path} for key, path in keys.items()],
            "defaultMode": SECRET_FILE_MODE,
        },
    }


def job_selector(resource: Resource[VectorStoreSpec], component: str) -> dict[str, str]:
    return selector_labels(resource, APP, component)
