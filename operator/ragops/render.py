"""`ragops render`: every object the operator would create, offline, from the same builders."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ragops.builders import PipelineInputs, StoreInputs, build_pipeline_children, build_vectorstore_children
from ragops.builders.backup import build_restore_job
from ragops.builders.qdrant import api_key_ref
from ragops.models import parse_resource, resolve_pipeline, resolve_vectorstore
from ragops.models.resource import Resource
from ragops.reconcile.context import OperatorSettings
from ragops.reconcile.secrets import generate_key


def render_objects(documents: Iterable[Mapping[str, Any]], settings: OperatorSettings) -> list[dict[str, Any]]:
    """Children of every VectorStore and RagPipeline in `documents` (other kinds are ignored).

    Generated API keys are fresh random values: committing them to Git would publish them, so
    GitOps users should reference their own Secrets (security.apiKeySecretRef, gateway.auth.apiKeySecretRef).
    """
    resources = [parse_resource(doc) for doc in documents if doc and doc.get("kind") in ("VectorStore", "RagPipeline")]
    stores = {(r.namespace, r.name): r for r in resources if r.kind == "VectorStore"}
    objects: list[dict[str, Any]] = []
    for resource in resources:
        if resource.kind == "VectorStore":
            objects += _store_objects(resource, settings)
        else:
            objects += _pipeline_objects(resource, stores, settings)
    return objects


def _store_objects(resource: Resource[Any], settings: OperatorSettings) -> list[dict[str, Any]]:
    inputs = StoreInputs(
        resolved=resolve_vectorstore(resource.spec),
        operator_image=settings.image,
        operator_namespace=settings.namespace,
        api_key=generate_key(),
        read_only_api_key=generate_key(),
    )
    objects = build_vectorstore_children(resource, inputs)
    restore = build_restore_job(resource, inputs)
    return objects + ([restore] if restore else [])


def _pipeline_objects(
    resource: Resource[Any], stores: Mapping[tuple[str, str], Resource[Any]], settings: OperatorSettings
) -> list[dict[str, Any]]:
    store = stores.get((resource.namespace, resource.spec.vector_store_ref.name))
    store_key = (
        api_key_ref(store) if store is not None else (f"{resource.spec.vector_store_ref.name}-qdrant-api-key", "apiKey")
    )
    inputs = PipelineInputs(
        resolved=resolve_pipeline(resource.spec),
        operator_image=settings.image,
        store_api_key=store_key,
        gateway_api_key=generate_key(),
        operator_namespace=settings.namespace,
    )
    return build_pipeline_children(resource, inputs)
