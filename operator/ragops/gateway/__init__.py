"""`ragops gateway`: the RAG service each RagPipeline's Deployment runs (docs/gateway.md)."""

from ragops.gateway.app import create_app
from ragops.gateway.config import ConfigError, GatewayConfig, load_pipeline, parse_pipeline

__all__ = ["ConfigError", "GatewayConfig", "create_app", "load_pipeline", "parse_pipeline"]
