"""The hardware profiles: the one place their numbers live (see DESIGN.md section 2).

A profile sizes every child of a resource; any field set explicitly in the spec wins over it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Profile(StrEnum):
    """Hardware profile names."""

    SMALL = "small"
    MEDIUM = "medium"
    LARGE = "large"


@dataclass(frozen=True)
class Sizing:
    """Requests and limits for one container."""

    request_cpu: str
    request_memory: str
    limit_cpu: str
    limit_memory: str


@dataclass(frozen=True)
class ScratchSizing:
    """Node-local disk of one pod: its emptyDir's sizeLimit and the container's ephemeral-storage request and
    limit (the emptyDir plus container logs, which the kubelet counts too)."""

    size_limit: str
    request: str
    limit: str


@dataclass(frozen=True)
class ProfileSpec:
    """What one profile means for every child object."""

    qdrant_replicas: int
    qdrant: Sizing
    storage: str
    gateway_min_replicas: int
    gateway_max_replicas: int
    gateway: Sizing
    workers: int
    # The gateway writes little to disk (/tmp: library scratch files); the bound keeps a runaway from filling
    # the node's root disk, and the request lets the scheduler count it.
    gateway_scratch: ScratchSizing


PROFILES: dict[Profile, ProfileSpec] = {
    Profile.SMALL: ProfileSpec(
        qdrant_replicas=1,
        qdrant=Sizing("500m", "2Gi", "2", "4Gi"),
        storage="10Gi",
        gateway_min_replicas=1,
        gateway_max_replicas=3,
        gateway=Sizing("250m", "512Mi", "1", "1Gi"),
        workers=4,
        gateway_scratch=ScratchSizing("256Mi", "512Mi", "1Gi"),
    ),
    Profile.MEDIUM: ProfileSpec(
        qdrant_replicas=3,
        qdrant=Sizing("2", "8Gi", "4", "8Gi"),
        storage="100Gi",
        gateway_min_replicas=2,
        gateway_max_replicas=6,
        gateway=Sizing("1", "2Gi", "2", "4Gi"),
        workers=16,
        gateway_scratch=ScratchSizing("512Mi", "1Gi", "2Gi"),
    ),
    Profile.LARGE: ProfileSpec(
        qdrant_replicas=3,
        qdrant=Sizing("8", "32Gi", "16", "32Gi"),
        storage="1Ti",
        gateway_min_replicas=2,
        gateway_max_replicas=20,
        gateway=Sizing("4", "8Gi", "8", "16Gi"),
        workers=32,
        gateway_scratch=ScratchSizing("1Gi", "2Gi", "4Gi"),
    ),
}
