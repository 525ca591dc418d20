"""Status, conditions and Events for a reconcile pass. Writes only when something changed."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from ragops.models.status import Phase, ResourceStatus
from ragops.reconcile.children import OPTIONAL_KINDS, Key
from ragops.reconcile.conditions import Observation, merge_conditions, phase_of, status_changed, status_payload
from ragops.reconcile.context import Context, Outcome
from ragops.reconcile.kube import KubeError

log = logging.getLogger(__name__)

WAIT_SECONDS = 30.0
# Reasons that only say pods are still starting (Qdrant's, the gateway's, or the bound store's).
ROLLOUT_REASONS = {"ReplicasNotReady", "RollingOut", "VectorStoreNotReady"}


def write_status(
    ctx: Context,
    body: Mapping[str, Any],
    status: ResourceStatus,
    observations: Sequence[Observation],
    *,
    ready: bool,
    progressing: bool,
    degraded: bool,
    ready_message: str,
    failed: bool = False,
) -> Outcome:
    """Merge conditions, derive the phase, patch status if it changed, post Events on transitions."""
    meta = body["metadata"]
    previous = body.get("status") or {}
    problems = [o for o in observations if o.is_problem]
    ready_observation = Observation(
        "Ready",
        ready and not failed,
        "Ready" if ready and not failed else (problems[0].reason if problems else "Progressing"),
        ready_message if not problems else f"{ready_message}; {problems[0].type}: {problems[0].message}",
    )
    status.phase = phase_of(ready, progressing, failed, degraded)
    status.conditions = merge_conditions(
        previous.get("conditions") or [], [ready_observation, *observations], int(meta.get("generation") or 0)
    )
    if status_changed(previous, status):
        ctx.kube.patch_status(body["kind"], meta["namespace"], meta["name"], status_payload(status))
        _announce(ctx, body, previous, status, problems)
    if status.phase in (Phase.READY, Phase.DEGRADED):
        return Outcome("ok")
    if failed:
        return Outcome("invalid")
    return Outcome("waiting", requeue_after=WAIT_SECONDS)


def invalid_spec(ctx: Context, body: Mapping[str, Any], message: str) -> Outcome:
    """A spec the admission checks let through but the operator cannot build: report, don't retry."""
    status = ResourceStatus(observed_generation=int(body["metadata"].get("generation") or 0))
    observation = Observation("SpecValid", False, "InvalidSpec", message)
    return write_status(
        ctx, body, status, [observation], ready=False, progressing=False, degraded=False, ready_message="", failed=True
    )


def apply_failed(
    ctx: Context, body: Mapping[str, Any], generation: int, errors: Sequence[tuple[Key, KubeError]]
) -> Outcome:
    """Children the API server refused. Refusals (invalid, immutable, forbidden) wait for a spec change."""
    refused = [(key, error) for key, error in errors if error.invalid]
    if len(refused) < len(errors):
        key, error = next((k, e) for k, e in errors if not e.invalid)
        return transient(ctx, body, error, what=f"{key[0]}/{key[2]}")
    detail = "; ".join(f"{key[0]} {key[2]}: {error}" for key, error in refused)
    previous = body.get("status") or {}
    status = ResourceStatus.model_validate({**previous, "observedGeneration": generation})
    if all(error.status == 403 for _, error in refused):
        # RBAC, not the spec: the resync timer tries again once the permission is granted.
        reason, advice = "Forbidden", "Grant the operator's ServiceAccount the permission (the Helm chart's RBAC does)."
    else:
        reason, advice = "ApplyRejected", "Change the spec so the object is valid (immutable fields cannot change)."
    observation = Observation("ChildrenApplied", False, reason, f"the API server refused {detail}. {advice}")
    return write_status(
        ctx,
        body,
        status,
        [observation],
        ready=False,
        progressing=False,
        degraded=False,
        ready_message="",
        failed=True,
    )


def unserved_kinds(keys: Sequence[Key]) -> Observation | None:
    """Children of optional kinds the cluster does not serve: the stack works without them (Degraded), and the
    resync timer looks again, so installing the CRDs later is enough."""
    if not keys:
        return None
    kinds = sorted({key[0] for key in keys})
    fields = " and ".join(OPTIONAL_KINDS[kind] for kind in kinds)
    return Observation(
        "ChildrenApplied",
        False,
        "KindNotServed",
        f"this cluster does not serve {' or '.join(kinds)} (monitoring.coreos.com/v1): install the Prometheus "
        f"Operator's CRDs, or set {fields} to false.",
    )


def transient(ctx: Context, body: Mapping[str, Any], error: KubeError, what: str = "") -> Outcome:
    meta = body["metadata"]
    log.warning("%s %s/%s: retrying after %s %s", body["kind"], meta["namespace"], meta["name"], what, error)
    return Outcome("error")


def _announce(
    ctx: Context,
    body: Mapping[str, Any],
    previous: Mapping[str, Any],
    status: ResourceStatus,
    problems: Sequence[Observation],
) -> None:
    """An Event when the phase changes: Normal on Ready, Warning for a problem someone should look at.

    Pods still starting are not one: a resource that is only waiting for its own rollout (or its store's)
    enters Progressing without a Warning, so a normal create posts one Event, `Ready`."""
    before = previous.get("phase")
    if before == status.phase.value:
        return
    if status.phase == Phase.READY:
        ctx.kube.event(dict(body), "Normal", "Ready", f"{body['kind']} is ready")
        return
    rollout_only = status.phase == Phase.PROGRESSING
    notable = [p for p in problems if not (rollout_only and p.reason in ROLLOUT_REASONS)]
    if notable:
        ctx.kube.event(dict(body), "Warning", notable[0].reason, f"{notable[0].type}: {notable[0].message}")
