"""Profile resolution: the profile gives every number, explicit spec fields win.

The resolved values are what builders use; nothing downstream reads the profile table directly.
"""

from __future__ import annotations

from dataclasses import dataclass

from ragops.models.base import ResourceRequirements
from ragops.models.profiles import PROFILES, Profile, ScratchSizing, Sizing
from ragops.models.ragpipeline import RagPipelineSpec
from ragops.models.vectorstore import VectorStoreSpec


class ResolutionError(ValueError):
    """The spec combined with its profile is inconsistent; the message names the field to change."""


@dataclass(frozen=True)
class Resources:
    """Concrete requests and limits."""

    request_cpu: str
    request_memory: str
    limit_cpu: str
    limit_memory: str

    def as_k8s(self) -> dict[str, dict[str, str]]:
        return {
            "requests": {"cpu": self.request_cpu, "memory": self.request_memory},
            "limits": {"cpu": self.limit_cpu, "memory": self.limit_memory},
        }


def merge_resources(profile: Sizing, override: ResourceRequirements | None) -> Resources:
    """Profile sizing with any explicitly set request or limit replacing the profile's value."""
    requests = override.requests if override else None
    limits = override.limits if override else None
    return Resources(
        request_cpu=(requests.cpu if requests and requests.cpu else profile.request_cpu),
        request_memory=(requests.memory if requests and requests.memory else profile.request_memory),
        limit_cpu=(limits.cpu if limits and limits.cpu else profile.limit_cpu),
        limit_memory=(limits.memory if limits and limits.memory else profile.limit_memory),
    )


@dataclass(frozen=True)
class ResolvedVectorStore:
    """A VectorStore's concrete sizing."""

    profile: Profile
    replicas: int
    resources: Resources
    storage_size: str

    @property
    def distributed(self) -> bool:
        return self.replicas > 1


@dataclass(frozen=True)
class ResolvedPipeline:
    """A RagPipeline's concrete sizing."""

    profile: Profile
    min_replicas: int
    max_replicas: int
    resources: Resources
    workers: int
    scratch: ScratchSizing  # /tmp's sizeLimit and the container's ephemeral-storage, from the profile

    @property
    def highly_available(self) -> bool:
        """At least two pods at all times: worth a PodDisruptionBudget and spreading."""
        return self.min_replicas >= 2


def resolve_vectorstore(spec: VectorStoreSpec) -> ResolvedVectorStore:
    table = PROFILES[spec.profile]
    return ResolvedVectorStore(
        profile=spec.profile,
        replicas=spec.qdrant.replicas if spec.qdrant.replicas is not None else table.qdrant_replicas,
        resources=merge_resources(table.qdrant, spec.qdrant.resources),
        storage_size=spec.storage.size or table.storage,
    )


def resolve_pipeline(spec: RagPipelineSpec) -> ResolvedPipeline:
    table = PROFILES[spec.profile]
    autoscaling = spec.gateway.autoscaling
    min_replicas = autoscaling.min_replicas if autoscaling.min_replicas is not None else table.gateway_min_replicas
    max_replicas = autoscaling.max_replicas if autoscaling.max_replicas is not None else table.gateway_max_replicas
    if max_replicas < min_replicas:
        raise ResolutionError(
            f"spec.gateway.autoscaling: maxReplicas {max_replicas} is below minReplicas {min_replicas} "
            f"(one of them comes from profile {spec.profile.value}); set both explicitly"
        )
    return ResolvedPipeline(
        profile=spec.profile,
        min_replicas=min_replicas,
        max_replicas=max_replicas,
        resources=merge_resources(table.gateway, spec.gateway.resources),
        workers=spec.gateway.workers if spec.gateway.workers is not None else table.workers,
        scratch=table.gateway_scratch,
    )
