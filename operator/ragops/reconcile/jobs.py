"""Backup and restore outcomes read from Job status."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ragops.models.status import BackupRecord


def job_result(job: Mapping[str, Any]) -> tuple[str, str]:
    """(result, finish time) of a Job: Succeeded, Failed or Running."""
    status = job.get("status") or {}
    for condition in status.get("conditions") or []:
        if condition.get("status") != "True":
            continue
        if condition.get("type") == "Complete":
            return "Succeeded", str(status.get("completionTime") or condition.get("lastTransitionTime") or "")
        if condition.get("type") == "Failed":
            return "Failed", str(condition.get("lastTransitionTime") or "")
    return "Running", ""


def job_record(job: Mapping[str, Any], name: str | None = None) -> BackupRecord:
    result, time = job_result(job)
    return BackupRecord(name=name or job["metadata"]["name"], time=time, result=result)


def latest_backup(jobs: Iterable[Mapping[str, Any]]) -> BackupRecord | None:
    """The most recently finished backup Job (the backup is named after its Job)."""
    finished = [job_record(job) for job in jobs if _is_backup(job) and job_result(job)[0] != "Running"]
    if not finished:
        return None
    return max(finished, key=lambda record: record.time)


def _is_backup(job: Mapping[str, Any]) -> bool:
    return (job.get("metadata", {}).get("labels") or {}).get("app.kubernetes.io/component") == "backup"
