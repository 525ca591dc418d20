"""Backup and restore Jobs are created by the operator and their outcome lands in status."""

from __future__ import annotations

import pytest
from kubernetes import client

from tests.integration.cluster import Cluster, Operator, wait_for
from tests.integration.manifests import vectorstore

pytestmark = pytest.mark.integration


def _status(cluster: Cluster, namespace: str) -> dict:
    return cluster.get("VectorStore", namespace, "docs").get("status") or {}


def test_backup_now_runs_one_job_and_records_it(cluster: Cluster, namespace: str, operator: Operator) -> None:
    batch = client.BatchV1Api(cluster.api)
    cluster.create(namespace, vectorstore(backup={"retention": "14d"}))
    cluster.wait_ready("VectorStore", namespace, "docs")
    assert cluster.condition("VectorStore", namespace, "docs", "LastBackupSucceeded")["reason"] == "NoBackupYet"

    cluster.patch("VectorStore", namespace, "docs", {"metadata": {"annotations": {"ragops.dev/backup-now": "r1"}}})

    job = wait_for(lambda: batch.list_namespaced_job(namespace).items, what="on-demand Job")[0]
    args = job.spec.template.spec.containers[0].args
    assert args[:3] == ["backup", "--store", f"{namespace}/docs"] and "--retention" in args and "14d" in args
    record = wait_for(
        lambda: (
            (_status(cluster, namespace).get("lastBackup") or {}).get("result") == "Succeeded"
            and _status(cluster, namespace)["lastBackup"]
        ),
        what="lastBackup Succeeded",
    )
    assert record["name"] == job.metadata.name and record["time"]
    assert cluster.condition("VectorStore", namespace, "docs", "LastBackupSucceeded")["status"] == "True"
    annotations = cluster.get("VectorStore", namespace, "docs")["metadata"].get("annotations") or {}
    assert "ragops.dev/backup-now" not in annotations
    assert len(batch.list_namespaced_job(namespace).items) == 1


def test_restore_runs_once_and_lands_in_status(cluster: Cluster, namespace: str, operator: Operator) -> None:
    batch = client.BatchV1Api(cluster.api)
    cluster.create(
        namespace,
        vectorstore(backup={"suspend": True}, restore={"backupName": "docs-backup-29000000", "overwrite": True}),
    )
    record = wait_for(
        lambda: (
            (_status(cluster, namespace).get("lastRestore") or {}).get("result") == "Succeeded"
            and _status(cluster, namespace)["lastRestore"]
        ),
        what="lastRestore Succeeded",
    )
    assert record["name"] == "docs-backup-29000000"
    jobs = batch.list_namespaced_job(namespace).items
    assert len(jobs) == 1
    args = jobs[0].spec.template.spec.containers[0].args
    assert args[0] == "restore" and "--overwrite" in args and "docs-backup-29000000" in args
    # Deleting the finished Job does not run the restore again.
    batch.delete_namespaced_job(jobs[0].metadata.name, namespace, propagation_policy="Background")
    wait_for(lambda: not batch.list_namespaced_job(namespace).items, what="Job gone")
    before = operator.reconciles()
    cluster.patch("VectorStore", namespace, "docs", {"metadata": {"labels": {"touch": "1"}}})
    wait_for(lambda: operator.reconciles() > before, what="another pass")
    assert not batch.list_namespaced_job(namespace).items
    assert cluster.get("VectorStore", namespace, "docs")["status"]["lastRestore"]["result"] == "Succeeded"


def test_restore_without_a_backup_volume_says_what_to_set(cluster: Cluster, namespace: str, operator: Operator) -> None:
    cluster.create(namespace, vectorstore(restore={"backupName": "old-1", "fromStore": "old"}))
    condition = wait_for(
        lambda: cluster.condition("VectorStore", namespace, "docs", "RestoreReady"), what="RestoreReady condition"
    )
    assert condition["status"] == "False" and condition["reason"] == "BackupVolumeNotFound"
    assert "old-backup" in condition["message"] and "spec.restore.fromStore" in condition["message"]
    assert not client.BatchV1Api(cluster.api).list_namespaced_job(namespace).items
