"""Manifests shared by unit tests."""

from __future__ import annotations

from typing import Any


def store(profile: str = "small", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "ragops.dev/v1alpha1",
        "kind": "VectorStore",
        "metadata": {"name": "docs", "namespace": "search", "uid": "u-store", "generation": 1},
        "spec": {"profile": profile, "collections": [{"name": "manuals", "vectorSize": 768}], **spec},
    }


def pipeline(profile: str = "small", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "ragops.dev/v1alpha1",
        "kind": "RagPipeline",
        "metadata": {"name": "bot", "namespace": "search", "uid": "u-bot", "generation": 1},
        "spec": {
            "profile": profile,
            "vectorStoreRef": {"name": "docs"},
            "collection": "manuals",
            # OpenAI's public endpoint needs a key Secret: the offline provider keeps the sample self-contained.
            "embedding": {"provider": "hash", "model": "hash", "dimensions": 768},
            **spec,
        },
    }
