"""Everything a gateway process is configured with: the RagPipeline manifest plus environment.

Environment (set by the operator's Deployment; each may be absent):
  RAGOPS_QDRANT_URL          Qdrant REST URL (`:memory:` = in-process local mode); `--qdrant-url` overrides it
  RAGOPS_QDRANT_API_KEY      Qdrant API key
  RAGOPS_GATEWAY_API_KEY     key clients must present; absent = auth off (laptop mode, logged as a warning)
  RAGOPS_EMBEDDING_API_KEY   embedding provider key
  RAGOPS_LLM_API_KEY         chat provider key
  RAGOPS_WORKERS             concurrent embedding batches per pod (default: spec.gateway.workers, else 4)

Each key can instead name a file, `<VARIABLE>_FILE` (what the operator's Deployment does: its Secrets are
mounted read-only under /etc/ragops-keys): the file is read at start and re-read when the kubelet rotates the
Secret, so a new key takes effect without a restart (ragops.secretfiles). `_FILE` wins over the plain variable,
which stays for local runs and tests.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from ragops.models.ragpipeline import RagPipelineSpec
from ragops.models.resource import Resource, SpecError, parse_resource
from ragops.secretfiles import Key, SecretFileError, key_from_environ

QDRANT_URL_ENV = "RAGOPS_QDRANT_URL"
QDRANT_API_KEY_ENV = "RAGOPS_QDRANT_API_KEY"
GATEWAY_API_KEY_ENV = "RAGOPS_GATEWAY_API_KEY"
EMBEDDING_API_KEY_ENV = "RAGOPS_EMBEDDING_API_KEY"
LLM_API_KEY_ENV = "RAGOPS_LLM_API_KEY"
WORKERS_ENV = "RAGOPS_WORKERS"

MEMORY = ":memory:"
DEFAULT_WORKERS = 4


class ConfigError(ValueError):
    """The gateway cannot start with this configuration; the message says what to fix."""


@dataclass(frozen=True)
class GatewayConfig:
    pipeline: Resource[RagPipelineSpec]
    qdrant_url: str = MEMORY
    # A plain value, or a file re-read on rotation (ragops.secretfiles.value_of gives the current value).
    qdrant_api_key: Key | None = field(default=None, repr=False)
    api_key: Key | None = field(default=None, repr=False)
    embedding_api_key: Key | None = field(default=None, repr=False)
    llm_api_key: Key | None = field(default=None, repr=False)
    workers: int = DEFAULT_WORKERS
    # Seams for in-process tests: provider HTTP through an ASGI app, and a controllable clock and sleep.
    provider_transport: httpx.AsyncBaseTransport | None = field(default=None, repr=False)
    sleep: Callable[[float], Awaitable[None]] = field(default=asyncio.sleep, repr=False)
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)
    rand: Callable[[], float] = field(default=random.random, repr=False)

    @property
    def spec(self) -> RagPipelineSpec:
        return self.pipeline.spec

    @classmethod
    def from_env(
        cls, pipeline: Resource[RagPipelineSpec], *, qdrant_url: str | None = None, environ: Mapping[str, str]
    ) -> GatewayConfig:
        """The config a `ragops gateway` process runs with; `qdrant_url` (the flag) beats the environment.
        Key files are read here: a missing, unreadable or empty one is a ConfigError naming its variable."""
        return cls(
            pipeline=pipeline,
            qdrant_url=qdrant_url or environ.get(QDRANT_URL_ENV) or MEMORY,
            qdrant_api_key=_key(environ, QDRANT_API_KEY_ENV),
            api_key=_key(environ, GATEWAY_API_KEY_ENV),
            embedding_api_key=_key(environ, EMBEDDING_API_KEY_ENV),
            llm_api_key=_key(environ, LLM_API_KEY_ENV),
            workers=_workers(environ.get(WORKERS_ENV), pipeline.spec),
        )


def load_pipeline(path: Path) -> Resource[RagPipelineSpec]:
    """The RagPipeline manifest at `path` (the first RagPipeline document when the file holds several)."""
    try:
        documents = [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    except OSError as error:
        raise ConfigError(f"cannot read {path}: {error.strerror}") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{path} is not valid YAML: {error}") from None
    pipelines = [doc for doc in documents if isinstance(doc, dict) and doc.get("kind") == "RagPipeline"]
    if not pipelines:
        raise ConfigError(f"{path} holds no RagPipeline manifest")
    return parse_pipeline(pipelines[0])


def parse_pipeline(body: Mapping[str, Any]) -> Resource[RagPipelineSpec]:
    try:
        resource = parse_resource(body)
    except SpecError as error:
        raise ConfigError(str(error)) from None
    if resource.kind != "RagPipeline":
        raise ConfigError(f"expected a RagPipeline, got {resource.kind}")
    return resource


def _key(environ: Mapping[str, str], name: str) -> Key | None:
    try:
        return key_from_environ(environ, name)
    except SecretFileError as error:
        raise ConfigError(f"{name}_FILE: {error}") from None


def _workers(value: str | None, spec: RagPipelineSpec) -> int:
    if value is None or value == "":
        return spec.gateway.workers or DEFAULT_WORKERS
    try:
        workers = int(value)
    except ValueError:
        raise ConfigError(f"{WORKERS_ENV} must be a positive integer, got {value!r}") from None
    if workers < 1:
        raise ConfigError(f"{WORKERS_ENV} must be a positive integer, got {workers}")
    return workers
