"""pydantic specs and status of both kinds, and the hardware profiles."""

from ragops.models.profiles import PROFILES, Profile
from ragops.models.ragpipeline import RagPipelineSpec
from ragops.models.resolved import ResolutionError, resolve_pipeline, resolve_vectorstore
from ragops.models.resource import Resource, SpecError, parse_resource
from ragops.models.status import Condition, Phase, ResourceStatus
from ragops.models.vectorstore import VectorStoreSpec

__all__ = [
    "PROFILES",
    "Condition",
    "Phase",
    "Profile",
    "RagPipelineSpec",
    "ResolutionError",
    "Resource",
    "ResourceStatus",
    "SpecError",
    "VectorStoreSpec",
    "parse_resource",
    "resolve_pipeline",
    "resolve_vectorstore",
]
