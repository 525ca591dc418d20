"""ProvidersReady: the gateway's per-component /health in the RagPipeline's status."""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx
from tests.unit import fakes
from tests.unit.fakes import FakeKube
from tests.unit.samples import pipeline, store

from ragops.gateway.health import Component, Health
from ragops.models import parse_resource
from ragops.reconcile.children import ChildCache
from ragops.reconcile.conditions import Observation
from ragops.reconcile.context import Outcome
from ragops.reconcile.gateway_health import GatewayHealth, observation
from ragops.reconcile.ragpipeline import reconcile_pipeline

STORE = ("VectorStore", "search", "docs")
PIPELINE = ("RagPipeline", "search", "bot")
OK = Component("ok", 2.0)


def health(**components: Component) -> dict[str, object]:
    """A /health body as the gateway writes it."""
    return Health({"qdrant": OK, "embedding": OK, "llm": OK, **components}).body()


def says(**components: Component) -> Observation:
    """The condition for that body."""
    body: dict[str, Any] = health(**components)
    return observation(body["components"])


class Stack:
    """A pipeline whose gateway pods are ready; `answer` is what its gateway's /health says."""

    def __init__(self) -> None:
        self.kube = FakeKube()
        self.kube.add(pipeline())
        self.answer: Observation | None = says()
        self.asked = 0
        ready_store = {**store(), "status": {"conditions": [{"type": "QdrantReady", "status": "True"}]}}
        cache = ChildCache()
        self.ctx = fakes.context(
            self.kube, cache, lookup=lambda *key: ready_store if key == STORE else None, gateway_health=self._health
        )
        reconcile_pipeline(self.ctx, self.kube.body(*PIPELINE))
        deployment = cache.get(("Deployment", "search", "bot-gateway"))
        assert deployment is not None
        status = {
            "observedGeneration": 1,
            "readyReplicas": 1,
            "updatedReplicas": 1,
            "conditions": [{"type": "Available", "status": "True"}],
        }
        cache.put({**deployment, "metadata": {**deployment["metadata"], "generation": 1}, "status": status})

    def _health(self, resource: Any) -> Observation | None:
        self.asked += 1
        return self.answer

    def reconcile(self) -> Outcome:
        return reconcile_pipeline(self.ctx, self.kube.body(*PIPELINE))

    def status(self) -> dict[str, Any]:
        status: dict[str, Any] = self.kube.body(*PIPELINE)["status"]
        return status

    def condition(self, kind: str) -> dict[str, Any]:
        return next(c for c in self.status()["conditions"] if c["type"] == kind)

    def events(self) -> list[str]:
        return [reason for _, kind, reason in self.kube.requests if kind == "Event"]

    def status_writes(self) -> int:
        return sum(1 for method, kind, _ in self.kube.requests if kind == "RagPipeline/status")


def test_the_gateway_is_asked_only_once_its_pods_are_ready() -> None:
    stack = Stack()
    assert stack.asked == 0
    assert stack.condition("ProvidersReady")["reason"] == "WaitingForGateway"


def test_all_components_ok_is_providers_ready() -> None:
    stack = Stack()
    outcome = stack.reconcile()

    assert stack.status()["phase"] == "Ready"
    assert stack.condition("ProvidersReady")["status"] == "True"
    assert stack.events() == ["Ready"]
    assert outcome.requeue_after == 60  # looked at again within the check interval


def test_an_llm_outage_degrades_the_pipeline_with_one_warning_and_ready_stays_true() -> None:
    stack = Stack()
    stack.reconcile()
    down = Component("down", 3000.4, "llm provider openai at http://vllm:8000/v1 timed out")
    stack.answer = says(llm=down)

    stack.reconcile()
    writes = stack.status_writes()
    stack.reconcile()  # the same outage on the next pass: nothing new to write or say

    providers = stack.condition("ProvidersReady")
    assert (providers["status"], providers["reason"]) == ("False", "LLMUnavailable")
    assert "llm is down: llm provider openai at http://vllm:8000/v1 timed out" in providers["message"]
    assert stack.status()["phase"] == "Degraded"
    assert stack.condition("Ready")["status"] == "True"  # retrieval still serves
    assert stack.events() == ["Ready", "LLMUnavailable"]
    assert stack.status_writes() == writes

    stack.answer = says()
    stack.reconcile()
    assert stack.status()["phase"] == "Ready"
    assert stack.events() == ["Ready", "LLMUnavailable", "Ready"]


def test_an_unreachable_gateway_is_unknown_changes_nothing_else_and_is_not_rewritten() -> None:
    stack = Stack()
    stack.answer = Observation("ProvidersReady", None, "GatewayUnreachable", "cannot reach it from here")
    outcome = stack.reconcile()
    writes = stack.status_writes()
    again = stack.reconcile()

    providers = stack.condition("ProvidersReady")
    assert (providers["status"], providers["reason"]) == ("Unknown", "GatewayUnreachable")
    assert stack.status()["phase"] == "Ready"
    assert stack.condition("Ready")["message"] == "gateway 1/1 ready"
    assert stack.events() == ["Ready"]  # no Warning
    assert stack.status_writes() == writes
    assert outcome.requeue_after is None and again.requeue_after is None  # no polling a gateway it cannot reach


def test_while_a_check_runs_the_pipeline_keeps_the_condition_it_has() -> None:
    stack = Stack()
    stack.answer = says(embedding=Component("down", 1.0, "circuit open"))
    stack.reconcile()
    writes = stack.status_writes()
    stack.answer = None  # a new check is running (after a restart, or the interval passed)
    stack.reconcile()

    assert stack.condition("ProvidersReady")["reason"] == "EmbeddingUnavailable"
    assert stack.status_writes() == writes


def test_the_condition_names_every_component_down_and_ignores_latencies() -> None:
    slow = says(llm=Component("down", 3000.0, "timed out"), embedding=Component("down", 12.0))
    fast = says(llm=Component("down", 1.0, "timed out"), embedding=Component("down", 2.0))

    assert slow == fast
    assert (slow.ok, slow.reason) == (False, "ComponentDegraded")
    assert slow.message == "embedding is down; llm is down: timed out (retrieval keeps serving)"
    disabled = Component("disabled", None, "no answering model (spec.llm absent or none)")
    assert says(llm=disabled).ok is True


def test_the_checker_reads_the_gateway_services_health_including_a_503() -> None:
    asked: list[str] = []

    def gateway(request: httpx.Request) -> httpx.Response:
        asked.append(str(request.url))
        return httpx.Response(503, json=health(qdrant=Component("down", 3.0, "collection 'manuals' is missing")))

    checker = GatewayHealth(transport=httpx.MockTransport(gateway), wait_seconds=5)
    answer = checker(parse_resource(pipeline()))
    checker.close()

    assert asked == ["http://bot-gateway.search.svc:8080/health"]
    assert answer is not None and (answer.ok, answer.reason) == (False, "QdrantUnavailable")
    assert answer.message == "qdrant is down: collection 'manuals' is missing"


def test_the_checker_reports_an_unreachable_or_unreadable_gateway_as_unknown() -> None:
    def refused(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("name does not resolve", request=request)

    def not_health(request: httpx.Request) -> httpx.Response:
        return httpx.Response(404, text="not found")

    for handler, why in ((refused, "ConnectError"), (not_health, "JSONDecodeError")):
        checker = GatewayHealth(transport=httpx.MockTransport(handler), wait_seconds=5)
        answer = checker(parse_resource(pipeline()))
        checker.close()
        assert answer is not None and (answer.ok, answer.reason) == (None, "GatewayUnreachable")
        assert why in answer.message and "retrying every 60s" in answer.message


def test_a_slow_gateway_does_not_hold_the_reconcile_asks_once_per_interval_and_wakes_the_pipeline() -> None:
    release = threading.Event()
    asked: list[str] = []
    woken: list[tuple[str, str]] = []

    def gateway(request: httpx.Request) -> httpx.Response:
        asked.append(request.url.path)
        release.wait(5)
        return httpx.Response(200, json=health())

    checker = GatewayHealth(
        transport=httpx.MockTransport(gateway), wait_seconds=0.05, on_late_answer=lambda ns, n: woken.append((ns, n))
    )
    resource = parse_resource(pipeline())
    started = time.monotonic()
    assert checker(resource) is None  # no answer yet
    assert checker(resource) is None  # still the one check
    assert time.monotonic() - started < 1
    release.set()
    deadline = time.monotonic() + 5
    while not woken and time.monotonic() < deadline:
        time.sleep(0.01)

    assert woken == [("search", "bot")]
    answer = checker(resource)
    assert answer is not None and answer.ok is True
    checker(resource)
    assert asked == ["/health"]  # the answer is cached for the interval
    checker.close()
