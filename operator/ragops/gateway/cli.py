"""`ragops gateway --pipeline FILE [--host H] [--port P] [--qdrant-url URL] [--log-level L]`.

Exit status 1 with one error line when the manifest or environment is unusable; otherwise serves until
SIGTERM (uvicorn drains in-flight requests first).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from ragops.gateway.config import QDRANT_URL_ENV, ConfigError, GatewayConfig, load_pipeline

log = logging.getLogger("ragops.gateway")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--pipeline", required=True, type=Path, help="RagPipeline manifest (YAML)")
    parser.add_argument("--host", default="0.0.0.0", help="address to listen on (default 0.0.0.0)")
    parser.add_argument("--port", type=int, default=8080, help="port for the API, probes and /metrics (default 8080)")
    parser.add_argument(
        "--qdrant-url",
        default=None,
        help=f"Qdrant REST URL, overrides ${QDRANT_URL_ENV}; ':memory:' runs an in-process store (laptop mode)",
    )
    parser.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING or ERROR (default INFO)")


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from ragops.gateway.app import create_app
    from ragops.gateway.providers.factory import answering_model

    level = getattr(logging, str(args.log_level).upper(), None)
    if not isinstance(level, int):
        print(f"error: unknown --log-level {args.log_level!r}", file=sys.stderr)
        return 1
    _configure_logging(level)
    try:
        config = GatewayConfig.from_env(load_pipeline(args.pipeline), qdrant_url=args.qdrant_url, environ=os.environ)
    except ConfigError as error:
        log.error("%s", error)
        return 1
    resource = config.pipeline
    log.info(
        "gateway for RagPipeline %s/%s: collection %s, embedding %s, llm %s, qdrant %s, %d workers",
        resource.namespace,
        resource.name,
        config.spec.collection,
        config.spec.embedding.provider.value,
        llm.provider.value if (llm := answering_model(config.spec)) else "none",
        _redact(config.qdrant_url),
        config.workers,
    )
    uvicorn.run(
        create_app(config),
        host=args.host,
        port=args.port,
        log_level=logging.getLevelName(level).lower(),
        log_config=None,  # keep the root logging configured here
        proxy_headers=False,
        timeout_graceful_shutdown=25,  # inside the pod's 30 s termination grace period
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ragops gateway", description="Run the RAG gateway of a RagPipeline.")
    add_arguments(parser)
    return run(parser.parse_args(argv))


def _configure_logging(level: int) -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True)
    # httpx logs every request URL at INFO: noise at our request rate, and URLs are all we would learn.
    logging.getLogger("httpx").setLevel(max(level, logging.WARNING))
    logging.getLogger("httpcore").setLevel(max(level, logging.WARNING))


def _redact(url: str) -> str:
    """A URL without userinfo (a key could be embedded as user:pass@host)."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    host = rest.split("@", 1)[-1]
    return f"{scheme}://{host}"
