"""The RagPipeline kind: a RAG gateway bound to a VectorStore collection."""

from __future__ import annotations

import re
from collections.abc import Callable
from enum import StrEnum
from typing import Annotated, ClassVar

from pydantic import Field, field_validator, model_validator

from ragops.models.base import (
    IMAGE_MAX_LENGTH,
    IMAGE_PATTERN,
    RFC1035_LABEL_PATTERN,
    URL_MAX_LENGTH,
    URL_PATTERN,
    OptionalSecretKeyRef,
    ResourceRequirements,
    SecretKeyRef,
    Spec,
    cel,
    field_rules,
    with_rules,
)
from ragops.models.profiles import PROFILES, Profile
from ragops.models.rules import resources_rule, resources_within_limits
from ragops.models.scheduling import LABEL_KEY_PATTERN, LABEL_VALUE_PATTERN, label_keys_rule
from ragops.models.vectorstore import (
    COLLECTION_NAME_PATTERN,
    STORE_NAME_MAX_LENGTH,
    STORE_NAME_PATTERN,
    NamespaceName,
)

# The longest RagPipeline name whose derived names stay valid: the Service `<name>-gateway` is a 63-character
# RFC 1035 label (builders/names.py).
PIPELINE_NAME_MAX_LENGTH = 55
MODEL_NAME_PATTERN = r"^[^\s]+$"
# A CORS origin as browsers send it: scheme://host[:port] (lowercase, no path), or `*` for any.
ORIGIN_PATTERN = r"^[*]$|^[a-z][a-z0-9+.-]*://(\[[0-9a-f:.]+\]|[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*)(:[0-9]{1,5})?$"
OPENAI_PUBLIC_ENDPOINT = r"^https?://api[.]openai[.]com([:/].*)?$"
OPENAI_KEY_MESSAGE = (
    "apiKeySecretRef: required for provider openai at its public endpoint (api.openai.com); "
    "a self-hosted OpenAI-compatible endpoint may omit it"
)
OPENAI_KEY_RULE = cel(
    "(has(self.provider) ? self.provider : 'openai') != 'openai' || has(self.apiKeySecretRef) || "
    f"((has(self.endpoint) ? self.endpoint : '') != '' && !self.endpoint.matches('{OPENAI_PUBLIC_ENDPOINT}'))",
    OPENAI_KEY_MESSAGE,
    field_path=".apiKeySecretRef",
)


def needs_openai_key(provider: str, endpoint: str, key: SecretKeyRef | None) -> bool:
    """The model's side of OPENAI_KEY_RULE."""
    public = endpoint == "" or re.fullmatch(OPENAI_PUBLIC_ENDPOINT, endpoint) is not None
    return provider == "openai" and key is None and public


class EmbeddingProvider(StrEnum):
    """Who computes embeddings."""

    OPENAI = "openai"  # any OpenAI-compatible /v1/embeddings: OpenAI, vLLM, TEI, LocalAI
    OLLAMA = "ollama"
    HASH = "hash"  # deterministic, offline, NOT semantic: development only


class LLMProvider(StrEnum):
    """Who answers questions; `none` turns answering off (retrieval only)."""

    OPENAI = "openai"
    OLLAMA = "ollama"
    NONE = "none"


class ChunkingStrategy(StrEnum):
    """How documents are split before embedding."""

    CHARACTER = "character"
    TOKEN = "token"
    SENTENCE = "sentence"
    RECURSIVE = "recursive"


class EmbeddingSpec(Spec):
    """The embedding provider."""

    model_config = with_rules(OPENAI_KEY_RULE)

    provider: EmbeddingProvider = Field(
        default=EmbeddingProvider.OPENAI,
        description="openai (any OpenAI-compatible API), ollama, or hash (offline, not semantic: for trying out).",
    )
    model: str = Field(
        default="text-embedding-3-small",
        min_length=1,
        max_length=256,
        pattern=MODEL_NAME_PATTERN,
        description="Embedding model name.",
    )
    dimensions: int = Field(
        default=768, ge=1, le=65536, description="Vector size; must equal the collection's vectorSize."
    )
    endpoint: str = Field(
        default="",
        max_length=URL_MAX_LENGTH,
        pattern=URL_PATTERN,
        description="Base URL of the provider API (http or https, with a host). Empty: the provider's public "
        "default (https://api.openai.com/v1, http://localhost:11434).",
    )
    api_key_secret_ref: SecretKeyRef | None = Field(
        default=None,
        description="Secret key holding the provider's API key. Required for openai at api.openai.com; not "
        "needed for ollama, hash or a self-hosted OpenAI-compatible endpoint.",
    )
    batch_size: int = Field(default=64, ge=1, le=2048, description="Texts per embedding request.")

    @model_validator(mode="after")
    def _key_for_openai(self) -> EmbeddingSpec:
        if needs_openai_key(self.provider.value, self.endpoint, self.api_key_secret_ref):
            raise ValueError(OPENAI_KEY_MESSAGE)
        return self


class LLMSpec(Spec):
    """The chat model that answers queries."""

    model_config = with_rules(OPENAI_KEY_RULE)

    provider: LLMProvider = Field(default=LLMProvider.OPENAI, description="openai, ollama, or none.")
    model: str = Field(
        default="gpt-4.1-mini", min_length=1, max_length=256, pattern=MODEL_NAME_PATTERN, description="Chat model name."
    )
    endpoint: str = Field(
        default="",
        max_length=URL_MAX_LENGTH,
        pattern=URL_PATTERN,
        description="Base URL of the provider API (http or https, with a host). Empty: the provider's default "
        "(https://api.openai.com/v1, http://localhost:11434).",
    )
    api_key_secret_ref: SecretKeyRef | None = Field(
        default=None,
        description="Secret key holding the provider's API key. Required for openai at api.openai.com; not "
        "needed for ollama or a self-hosted OpenAI-compatible endpoint.",
    )
    temperature: float = Field(default=0.2, ge=0, le=2, description="Sampling temperature.")
    max_tokens: int = Field(default=1024, ge=1, le=131072, description="Maximum tokens in an answer.")

    @model_validator(mode="after")
    def _key_for_openai(self) -> LLMSpec:
        if needs_openai_key(self.provider.value, self.endpoint, self.api_key_secret_ref):
            raise ValueError(OPENAI_KEY_MESSAGE)
        return self


OVERLAP_RULE = cel(
    "!has(self.overlap) || !has(self.size) || self.overlap < self.size",
    "chunking.overlap must be smaller than chunking.size",
    field_path=".overlap",
)
BACKOFF_RULE = cel(
    "!has(self.backoffMaxMs) || !has(self.backoffBaseMs) || self.backoffMaxMs >= self.backoffBaseMs",
    "resilience.backoffMaxMs must be >= backoffBaseMs",
    field_path=".backoffMaxMs",
)


class ChunkingSpec(Spec):
    """How ingested documents are split."""

    model_config = with_rules(OVERLAP_RULE)

    strategy: ChunkingStrategy = Field(
        default=ChunkingStrategy.RECURSIVE, description="character, token, sentence or recursive."
    )
    size: int = Field(default=800, ge=1, le=100000, description="Target chunk size (characters, or tokens).")
    overlap: int = Field(default=100, ge=0, le=50000, description="Overlap between consecutive chunks.")

    @model_validator(mode="after")
    def _overlap_below_size(self) -> ChunkingSpec:
        if self.overlap >= self.size:
            raise ValueError(OVERLAP_RULE["message"])
        return self


class RetrievalSpec(Spec):
    """How many chunks a query retrieves."""

    top_k: int = Field(default=5, ge=1, le=100, description="Chunks returned per query.")
    score_threshold: float = Field(
        default=0.0, ge=-1e6, le=1e6, description="Minimum similarity score of a returned chunk."
    )


class CircuitBreakerSpec(Spec):
    """Stops calling a failing provider for a while."""

    failure_threshold: int = Field(default=5, ge=1, le=1000, description="Consecutive failures that open it.")
    recovery_seconds: int = Field(
        default=60, ge=1, le=3600, description="Seconds open before one trial call (half-open)."
    )


class ResilienceSpec(Spec):
    """Timeouts, retries and circuit breaking for provider calls."""

    model_config = with_rules(BACKOFF_RULE)

    timeout_seconds: int = Field(default=60, ge=1, le=600, description="Timeout of one provider call.")
    retries: int = Field(default=3, ge=0, le=10, description="Retries on timeouts, 429 and 5xx.")
    backoff_base_ms: int = Field(default=100, ge=1, le=60000, description="First retry delay (exponential, jittered).")
    backoff_max_ms: int = Field(default=5000, ge=1, le=300000, description="Largest retry delay.")
    circuit_breaker: CircuitBreakerSpec = Field(
        default_factory=CircuitBreakerSpec, description="Circuit breaker per provider."
    )

    @model_validator(mode="after")
    def _backoff_bounds(self) -> ResilienceSpec:
        if self.backoff_max_ms < self.backoff_base_ms:
            raise ValueError(BACKOFF_RULE["message"])
        return self


class AutoscalingSpec(Spec):
    """HorizontalPodAutoscaler bounds. Unset bounds come from the profile (a rule of RagPipelineSpec keeps
    maxReplicas >= minReplicas with the profile's values filled in)."""

    min_replicas: int | None = Field(default=None, ge=1, le=1000, description="Fewest gateway pods.")
    max_replicas: int | None = Field(default=None, ge=1, le=1000, description="Most gateway pods.")
    target_cpu_utilization: int = Field(
        default=70,
        ge=1,
        le=100,
        description="Average CPU utilization (% of requests) the HPA aims for. Renamed from targetCpuUtilization "
        "in v1alpha1 (Kubernetes acronym convention).",
    )


class GatewayAuthSpec(Spec):
    """Clients authenticate with an API key (header `Authorization: Bearer <key>` or `X-API-Key`)."""

    api_key_secret_ref: OptionalSecretKeyRef = Field(
        default_factory=OptionalSecretKeyRef,
        description="Secret with the gateway API key. Empty name: the operator generates `<name>-gateway-api-key`.",
    )


class CorsSpec(Spec):
    """Cross-origin access for browser clients."""

    allowed_origins: list[Annotated[str, Field(max_length=URL_MAX_LENGTH, pattern=ORIGIN_PATTERN)]] = Field(
        default_factory=list,
        max_length=64,
        description="Origins allowed to call the gateway, each `scheme://host[:port]` (lowercase, no path) or `*`. "
        "Empty: none.",
    )


class RateLimitSpec(Spec):
    """Request rate limit per gateway pod."""

    requests_per_second: int = Field(default=0, ge=0, le=100000, description="Requests per second; 0 = off.")


MATCH_LABELS_KEYS_RULE = label_keys_rule("matchLabels")


class AllowedPods(Spec):
    """Pods that may call the gateway, by their labels."""

    namespace: NamespaceName | None = Field(
        default=None, description="Namespace of the pods. Empty: the RagPipeline's own namespace."
    )
    match_labels: dict[
        str, Annotated[str, Field(max_length=63, pattern=LABEL_VALUE_PATTERN, description="A label value.")]
    ] = Field(
        min_length=1,
        max_length=32,
        description="Labels the client pods carry (all of them), e.g. {app: web}.",
        json_schema_extra=field_rules(MATCH_LABELS_KEYS_RULE),
    )

    @field_validator("match_labels")
    @classmethod
    def _label_keys(cls, value: dict[str, str]) -> dict[str, str]:
        bad = sorted(k for k in value if len(k) > 316 or not re.fullmatch(LABEL_KEY_PATTERN, k))
        if bad:
            raise ValueError(f"{MATCH_LABELS_KEYS_RULE['message']} (not: {', '.join(bad)})")
        return value


class GatewayNetworkPolicySpec(Spec):
    """Which pods may open connections to the gateway (a NetworkPolicy around its pods; egress stays open)."""

    enabled: bool = Field(
        default=True,
        description="Create the NetworkPolicy. false: no policy, any pod that can route to the gateway may "
        "call it (the API key still applies).",
    )
    allow_same_namespace: bool = Field(
        default=True,
        description="Every pod of the RagPipeline's namespace may call the gateway. false: only allowedPods "
        "(and the operator, and monitoring.prometheusNamespace) may.",
    )
    allowed_namespaces: list[NamespaceName] = Field(
        default_factory=list,
        max_length=64,
        description="Other namespaces whose pods may call the gateway, e.g. an ingress controller's.",
    )
    allowed_pods: list[AllowedPods] = Field(
        default_factory=list,
        max_length=64,
        description="Pods, by labels, that may call the gateway, in this namespace or another.",
    )


class GatewaySpec(Spec):
    """The gateway Deployment."""

    image: str = Field(
        default="",
        max_length=IMAGE_MAX_LENGTH,
        pattern=IMAGE_PATTERN,
        description="Gateway image. Empty: the operator's own image (command `ragops gateway`).",
    )
    workers: int | None = Field(
        default=None, ge=1, le=256, description="Concurrent ingest workers per pod. Default: the profile's."
    )
    autoscaling: AutoscalingSpec = Field(default_factory=AutoscalingSpec, description="HPA bounds.")
    resources: ResourceRequirements | None = Field(
        default=None, description="Requests and limits of each gateway pod; fields set here override the profile."
    )
    auth: GatewayAuthSpec = Field(default_factory=GatewayAuthSpec, description="API-key authentication.")
    cors: CorsSpec = Field(default_factory=CorsSpec, description="CORS.")
    rate_limit: RateLimitSpec = Field(default_factory=RateLimitSpec, description="Rate limiting.")
    max_request_bytes: int = Field(
        default=10 * 1024 * 1024, ge=1024, le=1024 * 1024 * 1024, description="Largest accepted request body."
    )
    network_policy: GatewayNetworkPolicySpec = Field(
        default_factory=GatewayNetworkPolicySpec,
        description="Clients allowed to reach the gateway. Default: pods of the same namespace only (plus the "
        "operator's health check and monitoring.prometheusNamespace).",
    )


class PipelineMonitoringSpec(Spec):
    """Prometheus integration for the gateway."""

    service_monitor: bool = Field(default=False, description="Create a ServiceMonitor for the gateway.")
    prometheus_rule: bool = Field(
        default=False, description="Create a PrometheusRule with the gateway's success-rate and latency alerts."
    )
    prometheus_namespace: NamespaceName | None = Field(
        default=None,
        description="Namespace of the Prometheus that scrapes the gateway: the NetworkPolicy admits it to the "
        "gateway port (a NetworkPolicy cannot narrow to /metrics; the API still needs the key).",
    )


class VectorStoreRef(Spec):
    """A VectorStore in the same namespace."""

    name: str = Field(
        min_length=1,
        max_length=STORE_NAME_MAX_LENGTH,
        pattern=STORE_NAME_PATTERN,
        description="Name of the VectorStore.",
    )


def _profile_map(value: Callable[[Profile], int]) -> str:
    return "{" + ", ".join(f"'{p.value}': {value(p)}" for p in Profile) + "}"


_MIN = (
    f"(has(self.gateway.autoscaling.minReplicas) ? self.gateway.autoscaling.minReplicas : "
    f"{_profile_map(lambda p: PROFILES[p].gateway_min_replicas)}[self.profile])"
)
_MAX = (
    f"(has(self.gateway.autoscaling.maxReplicas) ? self.gateway.autoscaling.maxReplicas : "
    f"{_profile_map(lambda p: PROFILES[p].gateway_max_replicas)}[self.profile])"
)
AUTOSCALING_MESSAGE = (
    "maxReplicas must be >= minReplicas; an unset one comes from the profile ("
    + ", ".join(f"{p.value} {PROFILES[p].gateway_min_replicas}-{PROFILES[p].gateway_max_replicas}" for p in Profile)
    + ")"
)


class RagPipelineSpec(Spec):
    """Desired state of a RAG gateway."""

    model_config = with_rules(
        cel(f"{_MAX} >= {_MIN}", AUTOSCALING_MESSAGE, field_path=".gateway.autoscaling.maxReplicas"),
        resources_rule("gateway", lambda p: PROFILES[p].gateway),
    )

    # metadata.name limits (a root CEL rule of the CRD; parse_resource checks the same).
    NAME_MAX_LENGTH: ClassVar[int] = PIPELINE_NAME_MAX_LENGTH
    NAME_PATTERN: ClassVar[str] = RFC1035_LABEL_PATTERN

    profile: Profile = Field(default=Profile.SMALL, description="Hardware profile that sizes the gateway.")
    vector_store_ref: VectorStoreRef = Field(description="The VectorStore (same namespace) holding the collection.")
    collection: str = Field(
        min_length=1,
        max_length=255,
        pattern=COLLECTION_NAME_PATTERN,
        description="Collection of the VectorStore to use.",
    )
    # Required: no provider works without a choice (openai at api.openai.com needs a key Secret, `hash` is not
    # semantic), and the API server refuses a default that breaks the section's own rules.
    embedding: EmbeddingSpec = Field(
        description="Embedding provider, e.g. {provider: openai, apiKeySecretRef: {name: openai}}, "
        "{provider: ollama, model: nomic-embed-text}, or {provider: hash} to try the stack out offline."
    )
    llm: LLMSpec | None = Field(
        default=None,
        description="Answering model. Absent: retrieval only (queries return the matching chunks, no answer).",
    )
    chunking: ChunkingSpec = Field(default_factory=ChunkingSpec, description="Document splitting.")
    retrieval: RetrievalSpec = Field(default_factory=RetrievalSpec, description="Retrieval.")
    resilience: ResilienceSpec = Field(default_factory=ResilienceSpec, description="Provider call resilience.")
    gateway: GatewaySpec = Field(default_factory=GatewaySpec, description="Gateway Deployment.")
    monitoring: PipelineMonitoringSpec = Field(
        default_factory=PipelineMonitoringSpec, description="Prometheus integration."
    )

    @model_validator(mode="after")
    def _profile_bounds(self) -> RagPipelineSpec:
        table = PROFILES[self.profile]
        autoscaling = self.gateway.autoscaling
        low = autoscaling.min_replicas if autoscaling.min_replicas is not None else table.gateway_min_replicas
        high = autoscaling.max_replicas if autoscaling.max_replicas is not None else table.gateway_max_replicas
        if high < low:
            raise ValueError(f"gateway.autoscaling: {AUTOSCALING_MESSAGE}")
        resources_within_limits("gateway", self.gateway.resources, table.gateway)
        return self
