"""One idempotent reconcile of a RagPipeline: find its VectorStore, build the gateway, apply, report."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from ragops.builders import PipelineInputs, build_pipeline_children, names
from ragops.builders.gateway import gateway_api_key_ref
from ragops.builders.qdrant import api_key_ref
from ragops.models import ResolutionError, SpecError, parse_resource, resolve_pipeline
from ragops.models.ragpipeline import RagPipelineSpec
from ragops.models.resource import Resource
from ragops.models.status import Endpoints, ResourceStatus
from ragops.models.vectorstore import VectorStoreSpec
from ragops.reconcile import gateway_health, references, report
from ragops.reconcile.children import current, sync_children
from ragops.reconcile.conditions import Observation
from ragops.reconcile.context import Context, Outcome
from ragops.reconcile.kube import KubeError
from ragops.reconcile.secrets import existing_or_new

KIND = "RagPipeline"


def reconcile_pipeline(ctx: Context, body: Mapping[str, Any]) -> Outcome:
    try:
        resource: Resource[RagPipelineSpec] = parse_resource(body)
        resolved = resolve_pipeline(resource.spec)
    except (SpecError, ResolutionError) as error:
        return report.invalid_spec(ctx, body, str(error))

    store_name = resource.spec.vector_store_ref.name
    store_body = ctx.lookup("VectorStore", resource.namespace, store_name)
    status = ResourceStatus(
        observed_generation=resource.generation,
        replicas=resolved.min_replicas,
        endpoints=Endpoints(http=names.gateway_url(resource.name, resource.namespace)),
        url=names.gateway_url(resource.name, resource.namespace),
        profile=resource.spec.profile.value,
        api_key_secret=gateway_api_key_ref(resource)[0],
    )
    previous = body.get("status") or {}
    lookups = references.Lookups(ctx.kube, resource.namespace)
    try:
        missing = references.pipeline_references(resource, store_body, lookups)
    except KubeError as error:
        return report.transient(ctx, body, error)
    refs = references.observation(missing)
    if store_body is None:
        # Nothing to bind to yet: wait (re-triggered when the VectorStore appears), keep any existing gateway.
        absent = Observation(
            "VectorStoreReady",
            False,
            "VectorStoreNotFound",
            f"VectorStore '{store_name}' does not exist in namespace '{resource.namespace}': create it or fix "
            f"spec.vectorStoreRef.name",
        )
        outcome = report.write_status(
            ctx,
            body,
            status,
            [refs, absent],
            ready=False,
            progressing=False,
            degraded=False,
            ready_message="waiting for the VectorStore",
        )
        references.announce(ctx, body, refs, status, previous)
        return references.recheck(outcome, missing)
    try:
        store: Resource[VectorStoreSpec] = parse_resource(store_body)
    except SpecError:
        store = None  # type: ignore[assignment]
    store_observation = _store_observation(store_body, store, resource)
    if store is None or store_observation.reason == "DimensionMismatch":
        outcome = report.write_status(
            ctx,
            body,
            status,
            [refs, store_observation],
            ready=False,
            progressing=False,
            degraded=False,
            ready_message="VectorStore unusable",
            failed=store_observation.reason == "DimensionMismatch",
        )
        references.announce(ctx, body, refs, status, previous)
        return references.recheck(outcome, missing)

    try:
        gateway_key = _gateway_key(ctx, resource)
    except KubeError as error:
        return report.transient(ctx, body, error)
    inputs = PipelineInputs(
        resolved=resolved,
        operator_image=ctx.settings.image,
        store_api_key=api_key_ref(store),
        gateway_api_key=gateway_key,
        operator_namespace=ctx.settings.namespace,
    )
    sync = sync_children(ctx.kube, ctx.children, resource.uid, build_pipeline_children(resource, inputs))
    if sync.errors:
        return report.apply_failed(ctx, body, resource.generation, sync.errors)
    unserved = report.unserved_kinds(sync.unserved)
    deployment = sync.live.get(("Deployment", resource.namespace, names.gateway(resource.name)))
    rolled_out, ready_replicas, desired_replicas = _deployment_ready(deployment)
    status.ready_replicas = ready_replicas
    # The HPA owns the Deployment's replicas and raises them to a new minimum on its next sync (up to 15 s):
    # until then the rollout is complete at the old count, yet fewer pods serve than the spec asks for.
    status.replicas = max(desired_replicas, resolved.min_replicas)
    gateway_ready = rolled_out and ready_replicas >= status.replicas
    gateway_observation = Observation(
        "GatewayReady",
        gateway_ready,
        "Available" if gateway_ready else "RollingOut",
        f"{ready_replicas}/{status.replicas} gateway pods ready",
    )
    # Gateway pods cannot start without a key Secret, nor serve without the collection: Failed until the object
    # appears. Pods that already run keep serving: Degraded.
    blocked = any(m.blocking for m in missing) and not gateway_ready
    ready = gateway_ready and bool(store_observation.ok)
    # A provider outage does not take the pipeline out of Ready (retrieval still serves): Degraded.
    providers = _providers(ctx, resource, gateway_ready, previous)
    outcome = report.write_status(
        ctx,
        body,
        status,
        [refs, store_observation, gateway_observation, providers, *([unserved] if unserved else [])],
        ready=ready,
        progressing=not ready and not blocked,
        degraded=unserved is not None or bool(missing) or providers.is_problem,
        ready_message=f"gateway {ready_replicas}/{status.replicas} ready",
        failed=blocked,
    )
    references.announce(ctx, body, refs, status, previous)
    if providers.ok is not None and outcome.result == "ok":
        # The gateway answers: look again after the check interval, so an outage (or its end) shows within it.
        outcome = dataclasses.replace(outcome, requeue_after=gateway_health.RETRY_SECONDS)
    return references.recheck(outcome, missing)


def _providers(
    ctx: Context, resource: Resource[RagPipelineSpec], gateway_ready: bool, previous: Mapping[str, Any]
) -> Observation:
    """ProvidersReady from the gateway's /health, asked only once its pods are ready. Unknown (the gateway
    cannot be reached, e.g. from an operator outside the cluster) is no problem: it changes neither Ready nor
    the phase."""
    if not gateway_ready:
        return Observation(
            gateway_health.CONDITION, None, "WaitingForGateway", "checked once the gateway pods are ready"
        )
    answer = ctx.gateway_health(resource)
    if answer is not None:
        return answer
    # The check is still running: what the status says stands meanwhile (no write for a pending answer).
    for condition in previous.get("conditions") or []:
        if condition.get("type") == gateway_health.CONDITION and condition.get("reason") != "WaitingForGateway":
            status = condition.get("status")
            ok = True if status == "True" else False if status == "False" else None
            return Observation(
                gateway_health.CONDITION, ok, str(condition.get("reason")), str(condition.get("message"))
            )
    return Observation(gateway_health.CONDITION, None, "Checking", "checking the gateway's /health")


def _store_observation(
    store_body: Mapping[str, Any], store: Resource[VectorStoreSpec] | None, pipeline: Resource[RagPipelineSpec]
) -> Observation:
    name = store_body["metadata"]["name"]
    if store is None:
        return Observation("VectorStoreReady", False, "VectorStoreInvalid", f"VectorStore '{name}' has an invalid spec")
    declared = {c.name: c for c in store.spec.collections}
    collection = declared.get(pipeline.spec.collection)
    if collection is not None and collection.vector_size != pipeline.spec.embedding.dimensions:
        return Observation(
            "VectorStoreReady",
            False,
            "DimensionMismatch",
            f"spec.embedding.dimensions is {pipeline.spec.embedding.dimensions} but collection "
            f"'{collection.name}' of VectorStore '{name}' has vectorSize {collection.vector_size}: make them equal",
        )
    conditions = {c.get("type"): c for c in (store_body.get("status") or {}).get("conditions") or []}
    qdrant_ready = conditions.get("QdrantReady", {}).get("status") == "True"
    if not qdrant_ready:
        return Observation(
            "VectorStoreReady", False, "VectorStoreNotReady", f"waiting for VectorStore '{name}' to become ready"
        )
    return Observation("VectorStoreReady", True, "VectorStoreReady", f"VectorStore '{name}' is ready")


def _gateway_key(ctx: Context, resource: Resource[RagPipelineSpec]) -> str | None:
    ref = resource.spec.gateway.auth.api_key_secret_ref
    if ref.name:
        return None
    key = ("Secret", resource.namespace, names.gateway_api_key(resource.name))
    live = current(ctx.kube, ctx.children, key, confirm=True)  # never replace a key that exists
    return existing_or_new(live, ref.key)


def _deployment_ready(deployment: Mapping[str, Any] | None) -> tuple[bool, int, int]:
    if not deployment:
        return False, 0, 0
    status = deployment.get("status") or {}
    desired = int(deployment.get("spec", {}).get("replicas") or 0)
    ready = int(status.get("readyReplicas") or 0)
    updated = int(status.get("updatedReplicas") or 0)
    current_generation = status.get("observedGeneration") == deployment.get("metadata", {}).get("generation")
    available = any(c.get("type") == "Available" and c.get("status") == "True" for c in status.get("conditions") or [])
    return (current_generation and available and ready >= desired and updated >= desired), ready, desired
