"""`ragops gateway`: the RAG service each RagPipeline's Deployment runs (docs/gateway.md).

Entry points: `ragops.gateway.app.create_app(GatewayConfig)` for an ASGI app, `ragops.gateway.cli` for the
command. Nothing is imported here, so the operator can use `gateway.metrics` names (PrometheusRule builder)
without loading the web stack.
"""
