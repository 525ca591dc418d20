"""Gateway load figures: `.venv/bin/python bench/gateway_bench.py` (not a test).

Starts `ragops gateway` as a process on 127.0.0.1 in laptop mode (hash embedder, in-memory Qdrant, llm none),
ingests a small generated corpus, then drives 10, 50 and 200 concurrent query clients, each level bounded in
request count and in time, and prints success rate, latency percentiles and throughput per level.

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


HEADER = f"{'concurrency':>11} {'requests':>8} {'success':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'req/s':>8}"


@dataclass
class Level:
    concurrency: int
    sent: int
    ok: int
    latencies: list[float]
    seconds: float

    def row(self) -> str:
        lat = sorted(self.latencies)
        p50 = statistics.median(lat) * 1000 if lat else float("nan")
        p95 = lat[min(len(lat) - 1, int(len(lat) * 0.95))] * 1000 if lat else float("nan")
        p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000 if lat else float("nan")
        rate = self.ok / self.sent if self.sent else 0.0
        return (
            f"{self.concurrency:>11} {self.sent:>8} {rate:>8.1%} {p50:>8.1f} {p95:>8.1f} {p99:>8.1f} "
            f"{self.ok / self.seconds:>8.0f}"
        )


def manifest() -> dict[str, object]:
    return {
        "apiVersion": "ragops.dev/v1alpha1",
        "kind": "RagPipeline",
        "metadata": {"name": "bench", "namespace": "default"},
        "spec": {
            "vectorStoreRef": {"name": "local"},
            "collection": "bench",
            "embedding": {"provider": "hash", "dimensions": 384, "batchSize": 64},
            "llm": {"provider": "none"},
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

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, body: dict[str, object]) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        data = json.dumps(body).encode()
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Type: application/json\r\n"
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


async def drive(port: int, concurrency: int, requests: int, seconds: float, rng: random.Random) -> Level:
    """`concurrency` clients, one connection each, share a budget of `requests`, stopping early when
    `seconds` run out (a request still in flight then gets up to 30 s more)."""
    latencies: list[float] = []
    sent = ok = 0
    deadline = time.monotonic() + seconds
    queries = [" ".join(rng.choice(WORDS) for _ in range(5)) for _ in range(256)]

    async def worker() -> None:
        nonlocal sent, ok
        connection = Connection("127.0.0.1", port)
        try:
            while sent < requests and time.monotonic() < deadline:
                sent += 1
                started = time.perf_counter()
                try:
                    async with asyncio.timeout(30):
                        status, body = await connection.post("/v1/query", {"query": queries[sent % len(queries)]})
                except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError):
                    await connection.close()
                    continue
                if status == 200 and json.loads(body)["chunks"]:
                    ok += 1
                    latencies.append(time.perf_counter() - started)
        finally:
            await connection.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return Level(concurrency, sent, ok, latencies, time.perf_counter() - started)


async def bench(args: argparse.Namespace) -> None:
    rng = random.Random(7)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "pipeline.yaml"
        path.write_text(yaml.safe_dump(manifest()))
        env = {k: v for k, v in os.environ.items() if not k.startswith("RAGOPS_")}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO / "operator"), os.environ.get("PYTHONPATH")]))
        command = [sys.executable, "-m", "ragops.gateway", "--pipeline", str(path), "--host", "127.0.0.1"]
        command += ["--port", str(port), "--qdrant-url", ":memory:", "--log-level", "warning"]
        process = subprocess.Popen(command, cwd=REPO, env=env, stderr=subprocess.DEVNULL)
        try:
            await wait_ready(url, process, 60)
            docs = corpus(args.documents, rng)
            chunks, seconds = await ingest(url, docs, 25)
            print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
            print("gateway: 1 process, hash embedder (384 dims), in-memory Qdrant, llm none, recursive 400/50")
            print(
                f"ingest:  {len(docs)} documents -> {chunks} chunks in {seconds:.2f}s "
                f"({len(docs) / seconds:.0f} docs/s, {chunks / seconds:.0f} chunks/s)"
            )
            print()
            print("queries: topK 5, no answer (llm none); latency as the load generator sees it")
            print(HEADER)
            for concurrency in args.levels:
                # Warm-up: a few requests per connection, so connection setup is not in the figures.
                await drive(port, concurrency, concurrency, 10, rng)
                level = await drive(port, concurrency, max(args.requests, concurrency * 2), args.seconds, rng)
                print(level.row(), flush=True)
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", type=int, nargs="+", default=[10, 50, 200], help="concurrent clients per level")
    parser.add_argument("--requests", type=int, default=1000, help="queries per level (at least 2 x concurrency)")
    parser.add_argument("--seconds", type=float, default=30.0, help="time limit per level")
    parser.add_argument("--documents", type=int, default=300, help="documents in the corpus")
    asyncio.run(bench(parser.parse_args()))


if __name__ == "__main__":
    main()
