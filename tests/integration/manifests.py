"""Resource manifests for integration tests."""

from __future__ import annotations

from typing import Any


def vectorstore(name: str = "docs", profile: str = "small", **spec: Any) -> dict[str, Any]:
    body = {
        "apiVersion": "ragops.dev/v1alpha1",
        "kind": "VectorStore",
        "metadata": {"name": name},
        "spec": {"profile": profile, "collections": [{"name": "manuals", "vectorSize": 384}], **spec},
    }
    return body


def ragpipeline(name: str = "bot", store: str = "docs", profile: str = "small", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "ragops.dev/v1alpha1",
        "kind": "RagPipeline",
        "metadata": {"name": name},
        "spec": {
            "profile": profile,
            "vectorStoreRef": {"name": store},
            "collection": "manuals",
            "embedding": {"provider": "hash", "model": "hash", "dimensions": 384},
            "llm": {"provider": "none"},
            **spec,
        },
    }
