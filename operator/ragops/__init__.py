"""ragops: a Kubernetes operator for production RAG stacks (Qdrant vector stores and RAG gateways)."""

__version__ = "0.1.0"

GROUP = "ragops.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
FIELD_MANAGER = "ragops"
