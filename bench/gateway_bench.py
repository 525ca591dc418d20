"""Gateway load figures: `.venv/bin/python bench/gateway_bench.py [--results]` (not a test).

Starts `ragops gateway` as a process on 127.0.0.1 in laptop mode (hash embedder, in-memory Qdrant) with a fake
OpenAI-compatible LLM process beside it (it answers after a fixed delay, `--llm-delay-ms`), ingests a small
generated corpus, then drives 10, 50 and 200 concurrent query clients (retrieval only), and 10 and 50
concurrent chat clients (`POST /v1/chat/completions`: retrieve, prompt, LLM, cited answer), each level
bounded in request count and in time, and prints success rate, latency percentiles and throughput per level.
`--results` also writes the figures into bench/RESULTS.md, between the gateway markers.

The load generator shares the machine with the gateway (and, on a shared box, with everyone else), so it
speaks minimal HTTP/1.1 over one keep-alive connection per client rather than through httpx, whose CPU cost
at 200 connections rivals the gateway's. The figures are what one gateway process (one event loop, so about
one core) does on this hardware, not a capacity plan. The hash embedder makes queries cost what the gateway
and Qdrant's local mode cost, without a model in the loop; a real embedding call adds its own latency.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import yaml

REPO = Path(__file__).resolve().parents[1]
VOCABULARY = (
    "qdrant vector index shard replica snapshot backup restore operator kubernetes pod deployment service "
    "gateway embedding model chunk overlap retrieval answer citation latency throughput circuit breaker retry "
    "timeout token bucket rate limit metrics prometheus alert probe readiness liveness cluster node storage "
    "volume claim secret config map label selector owner reference garbage collection reconcile status"
)
WORDS = VOCABULARY.split()
Request = Callable[[str], tuple[str, dict[str, object]]]


HEADER = (
    f"{'concurrency':>11} {'requests':>8} {'success':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} "
    f"{'max ms':>8} {'req/s':>8}"
)
# The seeds' bar for chat at 10 concurrent clients.
CHAT_SUCCESS_TARGET = 0.95
CHAT_MAX_SECONDS = 30.0
RESULTS_START = "<!-- gateway_bench.py: start -->"
RESULTS_END = "<!-- gateway_bench.py: end -->"


@dataclass
class Level:
    concurrency: int
    sent: int
    ok: int
    latencies: list[float]
    seconds: float

    @property
    def success(self) -> float:
        return self.ok / self.sent if self.sent else 0.0

    def percentile(self, fraction: float) -> float:
        """Milliseconds; failed requests count as slower than any success (they are not in `latencies`)."""
        lat = sorted(self.latencies)
        if not lat:
            return float("nan")
        return lat[min(len(lat) - 1, int(len(lat) * fraction))] * 1000

    @property
    def slowest(self) -> float:
        return max(self.latencies, default=float("nan")) * 1000

    def row(self) -> str:
        p50 = statistics.median(self.latencies) * 1000 if self.latencies else float("nan")
        return (
            f"{self.concurrency:>11} {self.sent:>8} {self.success:>8.1%} {p50:>8.1f} {self.percentile(0.95):>8.1f} "
            f"{self.percentile(0.99):>8.1f} {self.slowest:>8.0f} {self.ok / self.seconds:>8.0f}"
        )


def manifest(llm_url: str) -> dict[str, object]:
    return {
        "apiVersion": "ragops.dev/v1alpha1",
        "kind": "RagPipeline",
        "metadata": {"name": "bench", "namespace": "default"},
        "spec": {
            "vectorStoreRef": {"name": "local"},
            "collection": "bench",
            "embedding": {"provider": "hash", "dimensions": 384, "batchSize": 64},
            "llm": {"provider": "openai", "endpoint": llm_url, "model": "fake-llm", "maxTokens": 256},
            "chunking": {"strategy": "recursive", "size": 400, "overlap": 50},
            "retrieval": {"topK": 5},
        },
    }


def corpus(documents: int, rng: random.Random) -> list[dict[str, str]]:
    docs = []
    for i in range(documents):
        sentences = [
            " ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 16))).capitalize() + "."
            for _ in range(rng.randint(8, 20))
        ]
        docs.append({"id": f"doc-{i}", "text": " ".join(sentences)})
    return docs


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def wait_ready(url: str, process: subprocess.Popen[bytes], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise SystemExit(f"gateway exited with {process.returncode}")
            try:
                if (await client.get(f"{url}/readyz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise SystemExit("gateway did not become ready")


async def ingest(url: str, docs: list[dict[str, str]], batch: int) -> tuple[int, float]:
    chunks = 0
    started = time.perf_counter()
    async with httpx.AsyncClient(base_url=url, timeout=120) as client:
        for start in range(0, len(docs), batch):
            response = await client.post("/v1/documents", json={"documents": docs[start : start + batch]})
            response.raise_for_status()
            chunks += response.json()["chunks"]
    return chunks, time.perf_counter() - started


class Connection:
    """One keep-alive HTTP/1.1 connection, just enough for JSON POSTs.

    httpx costs as much CPU as the gateway itself at 200 connections, and the load generator shares the
    machine: a lean client leaves the cores to the process being measured.
    """

    def __init__(self, host: str, port: int, headers: dict[str, str] | None = None) -> None:
        self.host, self.port = host, port
        self.extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, body: object) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        data = json.dumps(body).encode()
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Type: application/json\r\n{self.extra}"
            f"Content-Length: {len(data)}\r\n\r\n"
        )
        self.writer.write(head.encode() + data)
        headers = (await self.reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        status = int(headers[0].split(" ", 2)[1])
        length = next(int(h.split(":", 1)[1]) for h in headers if h.lower().startswith("content-length:"))
        return status, await self.reader.readexactly(length)

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            await self.writer.wait_closed()
            self.writer = None


def query_body(question: str) -> tuple[str, dict[str, object]]:
    return "/v1/query", {"query": question, "answer": False}


def chat_body(question: str) -> tuple[str, dict[str, object]]:
    return "/v1/chat/completions", {"model": "bench", "messages": [{"role": "user", "content": question}]}


def answered(path: str, body: bytes) -> bool:
    data = json.loads(body)
    if path == "/v1/query":
        return bool(data["chunks"])
    return bool(data["choices"][0]["message"]["content"]) and bool(data["citations"])


async def drive(
    port: int, concurrency: int, requests: int, seconds: float, rng: random.Random, request: Request = query_body
) -> Level:
    """`concurrency` clients, one connection each, share a budget of `requests`, stopping early when
    `seconds` run out (a request still in flight then gets up to 30 s more)."""
    latencies: list[float] = []
    sent = ok = 0
    deadline = time.monotonic() + seconds
    questions = [" ".join(rng.choice(WORDS) for _ in range(5)) for _ in range(256)]

    async def worker() -> None:
        nonlocal sent, ok
        connection = Connection("127.0.0.1", port)
        try:
            while sent < requests and time.monotonic() < deadline:
                sent += 1
                started = time.perf_counter()
                path, payload = request(questions[sent % len(questions)])
                try:
                    async with asyncio.timeout(CHAT_MAX_SECONDS):
                        status, body = await connection.post(path, payload)
                except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError):
                    await connection.close()
                    continue
                if status == 200 and answered(path, body):
                    ok += 1
                    latencies.append(time.perf_counter() - started)
        finally:
            await connection.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return Level(concurrency, sent, ok, latencies, time.perf_counter() - started)


def fake_llm(port: int, delay_ms: float) -> None:
    """The LLM stand-in, run as its own process (`--fake-llm PORT`): an OpenAI-compatible chat endpoint that
    answers after `delay_ms`, like a model of fixed latency, citing the first passage."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request as HttpRequest
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def chat(request: HttpRequest) -> JSONResponse:
        await request.body()
        await asyncio.sleep(delay_ms / 1000)
        message = {"role": "assistant", "content": "The passages describe it [1]."}
        return JSONResponse({"choices": [{"index": 0, "message": message, "finish_reason": "stop"}]})

    async def models(request: HttpRequest) -> JSONResponse:
        return JSONResponse({"object": "list", "data": [{"id": "fake-llm", "object": "model"}]})

    app = Starlette(
        routes=[Route("/v1/chat/completions", chat, methods=["POST"]), Route("/v1/models", models, methods=["GET"])]
    )
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()


async def levels(
    title: str, port: int, counts: list[int], args: argparse.Namespace, rng: random.Random, request: Request
) -> list[Level]:
    print(title)
    print(HEADER)
    results = []
    for concurrency in counts:
        # Warm-up: a few requests per connection, so connection setup is not in the figures.
        await drive(port, concurrency, concurrency, 10, rng, request)
        level = await drive(port, concurrency, max(args.requests, concurrency * 2), args.seconds, rng, request)
        print(level.row(), flush=True)
        results.append(level)
    print()
    return results


def write_results(lines: list[str]) -> None:
    """Replace the gateway section of bench/RESULTS.md (the rest belongs to operator_bench.py)."""
    path = REPO / "bench" / "RESULTS.md"
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    section = "\n".join([RESULTS_START, *lines, RESULTS_END])
    if RESULTS_START in text and RESULTS_END in text:
        before, rest = text.split(RESULTS_START, 1)
        text = before + section + rest.split(RESULTS_END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(text)


def markdown(title: str, results: list[Level]) -> list[str]:
    lines = [f"| {title} | requests | success | p50 ms | p95 ms | p99 ms | max ms | req/s |", "|---" * 8 + "|"]
    for level in results:
        p50 = statistics.median(level.latencies) * 1000 if level.latencies else float("nan")
        lines.append(
            f"| {level.concurrency} concurrent | {level.sent} | {level.success:.1%} | {p50:.1f} | "
            f"{level.percentile(0.95):.1f} | {level.percentile(0.99):.1f} | {level.slowest:.0f} | "
            f"{level.ok / level.seconds:.0f} |"
        )
    return lines


async def bench(args: argparse.Namespace) -> None:
    rng = random.Random(7)
    port, llm_port = free_port(), free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAGOPS_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO / "operator"), os.environ.get("PYTHONPATH")]))
    llm_command = [sys.executable, __file__, "--fake-llm", str(llm_port), "--llm-delay-ms", str(args.llm_delay_ms)]
    llm = subprocess.Popen(llm_command, cwd=REPO, env=env, stderr=subprocess.DEVNULL)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "pipeline.yaml"
        path.write_text(yaml.safe_dump(manifest(f"http://127.0.0.1:{llm_port}/v1")))
        command = [sys.executable, "-m", "ragops.gateway", "--pipeline", str(path), "--host", "127.0.0.1"]
        command += ["--port", str(port), "--qdrant-url", ":memory:", "--log-level", "warning"]
        process = subprocess.Popen(command, cwd=REPO, env=env, stderr=subprocess.DEVNULL)
        try:
            await wait_ready(url, process, 60)
            docs = corpus(args.documents, rng)
            chunks, seconds = await ingest(url, docs, 25)
            # The load generator and, on a shared box, everyone else compete for the same cores: say how busy.
            load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
            machine = (
                f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
                f"load average at start {load}"
            )
            setup = (
                f"1 gateway process, hash embedder (384 dims), in-memory Qdrant, recursive 400/50; "
                f"fake LLM answering after {args.llm_delay_ms:.0f} ms"
            )
            ingested = (
                f"{len(docs)} documents -> {chunks} chunks in {seconds:.2f}s "
                f"({len(docs) / seconds:.0f} docs/s, {chunks / seconds:.0f} chunks/s)"
            )
            print(f"machine: {machine}\ngateway: {setup}\ningest:  {ingested}\n")
            queries = await levels(
                "queries (POST /v1/query): topK 5, retrieval only; latency as the load generator sees it",
                port, args.levels, args, rng, query_body,
            )
            chats = await levels(
                "chat (POST /v1/chat/completions): retrieve topK 5, prompt, LLM, cited answer",
                port, args.chat_levels, args, rng, chat_body,
            )
        finally:
            stop(process)
            stop(llm)
    for level in chats:
        if level.concurrency == 10:
            verdict = level.success > CHAT_SUCCESS_TARGET and level.slowest < CHAT_MAX_SECONDS * 1000
            print(f"chat at 10 concurrent: success {level.success:.1%}, slowest {level.slowest:.0f} ms: "
                  f"{'meets' if verdict else 'MISSES'} the target (> 95%, none over 30 s)")
    if args.results:
        write_results([
            "## Gateway (bench/gateway_bench.py --results)",
            "",
            f"- Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; machine: {machine}",
            f"- Setup: {setup}; ingest: {ingested}",
            "- Latency as the load generator on the same machine sees it; failures are not in the percentiles.",
            "",
            *markdown("queries, retrieval only", queries),
            "",
            *markdown("chat completions (target at 10: > 95% success, none over 30 s)", chats),
        ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", type=int, nargs="+", default=[10, 50, 200], help="concurrent query clients")
    parser.add_argument("--chat-levels", type=int, nargs="+", default=[10, 50], help="concurrent chat clients")
    parser.add_argument("--requests", type=int, default=1000, help="requests per level (at least 2 x concurrency)")
    parser.add_argument("--seconds", type=float, default=30.0, help="time limit per level")
    parser.add_argument("--documents", type=int, default=300, help="documents in the corpus")
    parser.add_argument("--llm-delay-ms", type=float, default=200.0, help="the fake LLM's answer latency")
    parser.add_argument("--results", action="store_true", help="write the figures into bench/RESULTS.md")
    parser.add_argument("--fake-llm", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.fake_llm:
        fake_llm(args.fake_llm, args.llm_delay_ms)
        return
    asyncio.run(bench(args))


if __name__ == "__main__":
    main()
