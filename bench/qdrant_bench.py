"""Gateway vs Qdrant figures on a real Qdrant: `RAGOPS_QDRANT_BINARY=... .venv/bin/python bench/qdrant_bench.py`.

Starts one Qdrant node the way the operator's StatefulSet starts a pod (tests/real_qdrant/server.py: the
builders' config file, env and API keys) and one `ragops gateway` process against it (hash embedder, llm
none), then measures
- ingest throughput of the gateway process in documents/s (sequential batches, and 4 concurrent clients),
  next to the seeds' profile figures (small 10-50 docs/s, medium 100-500, large 1000+);
- query latency p50/p95 at 1 and 50 concurrent clients, through the gateway (`POST /v1/query`) and
  directly against Qdrant (`POST /collections/{c}/points/query`) with the same vector the gateway's hash
  embedder computes for the query, so the difference is what the gateway adds.
Figures go to stdout and, unless --no-results, into the Qdrant section of bench/RESULTS.md (replaced in
place between its markers). Everything shares the machine: the load generator, the gateway (one event
loop, about one core) and Qdrant. Not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import signal
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
sys.path[:0] = [str(REPO), str(REPO / "operator"), str(REPO / "bench")]

from tests.real_qdrant.server import API_KEY, BINARY_ENV, binary, running, store  # noqa: E402

from gateway_bench import WORDS, Connection, corpus, free_port, wait_ready  # noqa: E402
from ragops.gateway.providers.hashing import HashEmbedder  # noqa: E402

DIMENSIONS = 384
COLLECTION = "bench"
TOP_K = 5
BEGIN, END = "<!-- qdrant_bench: begin -->", "<!-- qdrant_bench: end -->"


def manifest() -> dict[str, object]:
    return {
        "apiVersion": "ragops.dev/v1alpha1",
        "kind": "RagPipeline",
        "metadata": {"name": "bench", "namespace": "default"},
        "spec": {
            "vectorStoreRef": {"name": "docs"},
            "collection": COLLECTION,
            "embedding": {"provider": "hash", "dimensions": DIMENSIONS, "batchSize": 64},
            "llm": {"provider": "none"},
            "chunking": {"strategy": "recursive", "size": 400, "overlap": 50},
            "retrieval": {"topK": TOP_K},
        },
    }


@dataclass
class Latency:
    concurrency: int
    latencies: list[float]
    failed: int
    seconds: float

    def cells(self) -> tuple[str, str, str, str]:
        lat = sorted(self.latencies)
        p50 = statistics.median(lat) * 1000 if lat else float("nan")
        p95 = lat[min(len(lat) - 1, int(len(lat) * 0.95))] * 1000 if lat else float("nan")
        return f"{p50:.1f}", f"{p95:.1f}", f"{len(lat) / self.seconds:.0f}", f"{len(lat)}/{len(lat) + self.failed}"


@dataclass(frozen=True)
class Target:
    host: str
    port: int
    headers: dict[str, str]
    calls: list[tuple[str, object]]  # (path, body), used in turn


async def drive(target: Target, concurrency: int, requests: int, seconds: float) -> Latency:
    latencies: list[float] = []
    failed = sent = 0
    deadline = time.monotonic() + seconds

    async def worker() -> None:
        nonlocal sent, failed
        connection = Connection(target.host, target.port, target.headers)
        try:
            while sent < requests and time.monotonic() < deadline:
                path, body = target.calls[sent % len(target.calls)]
                sent += 1
                started = time.perf_counter()
                try:
                    async with asyncio.timeout(30):
                        status, _ = await connection.post(path, body)
                except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError):
                    failed += 1
                    await connection.close()
                    continue
                if status == 200:
                    latencies.append(time.perf_counter() - started)
                else:
                    failed += 1
        finally:
            await connection.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return Latency(concurrency, latencies, failed, time.perf_counter() - started)


async def ingest(url: str, docs: list[dict[str, str]], batch: int, clients: int) -> tuple[int, float]:
    batches = [docs[i : i + batch] for i in range(0, len(docs), batch)]
    chunks = 0
    started = time.perf_counter()

    async def client(mine: list[list[dict[str, str]]]) -> None:
        nonlocal chunks
        async with httpx.AsyncClient(base_url=url, timeout=300) as http:
            for documents in mine:
                response = await http.post("/v1/documents", json={"documents": documents})
                response.raise_for_status()
                chunks += response.json()["chunks"]

    await asyncio.gather(*(client(batches[i::clients]) for i in range(clients)))
    return chunks, time.perf_counter() - started


async def bench(args: argparse.Namespace, qdrant_binary: str) -> list[str]:
    rng = random.Random(11)
    lines: list[str] = []
    with (
        tempfile.TemporaryDirectory() as tmp,
        running(store("docs", 1), Path(tmp) / "qdrant", qdrant_binary) as cluster,
    ):
        qdrant_url = cluster.urls[0]
        version = httpx.get(qdrant_url + "/", headers={"api-key": API_KEY}).json()["version"]
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        path = Path(tmp) / "pipeline.yaml"
        path.write_text(yaml.safe_dump(manifest()))
        env = {k: v for k, v in os.environ.items() if not k.startswith("RAGOPS_")}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO / "operator"), os.environ.get("PYTHONPATH")]))
        env["RAGOPS_QDRANT_API_KEY"] = API_KEY
        command = [sys.executable, "-m", "ragops.gateway", "--pipeline", str(path), "--host", "127.0.0.1"]
        command += ["--port", str(port), "--qdrant-url", qdrant_url, "--log-level", "warning"]
        process = subprocess.Popen(command, cwd=REPO, env=env, stderr=subprocess.DEVNULL)
        try:
            await wait_ready(url, process, 60)
            docs = corpus(args.documents, rng)
            half = len(docs) // 2
            chunks1, seconds1 = await ingest(url, docs[:half], 25, 1)
            chunks4, seconds4 = await ingest(url, docs[half:], 25, 4)
            when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
            lines += [
                f"- Qdrant {version}{f' ({args.note})' if args.note else ''}: one node started as the "
                "StatefulSet starts a pod (tests/real_qdrant/server.py), API key on; one `ragops gateway` "
                f"process, hash embedder ({DIMENSIONS} dims), llm none, recursive chunking 400/50.",
                f"- Machine: {platform.machine()}, {os.cpu_count()} cores shared by Qdrant, the gateway and the "
                f"load generator, Python {platform.python_version()}; {when}.",
                "",
                "| ingest (one gateway process, batches of 25 documents) | documents/s | chunks/s |",
                "|---|---|---|",
                f"| 1 client, {half} documents -> {chunks1} chunks | {half / seconds1:.0f} "
                f"| {chunks1 / seconds1:.0f} |",
                f"| 4 clients, {len(docs) - half} documents -> {chunks4} chunks | {(len(docs) - half) / seconds4:.0f} "
                f"| {chunks4 / seconds4:.0f} |",
                "",
                "Seeds' profile figures for comparison: small 10-50 docs/s, medium 100-500, large 1000+ (per stack).",
                "",
                f"| query (topK {TOP_K}), same vector | clients | p50 ms | p95 ms | req/s | ok/sent |",
                "|---|---|---|---|---|---|",
            ]
            embedder = HashEmbedder(DIMENSIONS)
            texts = [" ".join(rng.choice(WORDS) for _ in range(5)) for _ in range(256)]
            gateway_calls: list[tuple[str, object]] = [("/v1/query", {"query": text}) for text in texts]
            direct_calls: list[tuple[str, object]] = [
                (
                    f"/collections/{COLLECTION}/points/query",
                    {"query": embedder.vector(text), "limit": TOP_K, "with_payload": True},
                )
                for text in texts
            ]
            host, qport = qdrant_url.removeprefix("http://").split(":")
            targets = {
                "gateway `POST /v1/query`": Target("127.0.0.1", port, {}, gateway_calls),
                "Qdrant `POST /collections/c/points/query`": Target(
                    host, int(qport), {"api-key": API_KEY}, direct_calls
                ),
            }
            for concurrency in args.levels:
                for name, target in targets.items():
                    await drive(target, concurrency, concurrency * 3, 10)  # warm-up: connections opened
                    result = await drive(target, concurrency, max(args.requests, concurrency * 4), args.seconds)
                    p50, p95, rate, ok = result.cells()
                    lines.append(f"| {name} | {concurrency} | {p50} | {p95} | {rate} | {ok} |")
                    print(lines[-1], flush=True)
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
    return lines


def write_results(lines: list[str]) -> None:
    path = REPO / "bench" / "RESULTS.md"
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    section = "\n".join(
        [BEGIN, "## Gateway and Qdrant on a real Qdrant", "", "Written by `bench/qdrant_bench.py`.", "", *lines, END]
    )
    if BEGIN in text and END in text:
        text = text[: text.index(BEGIN)] + section + text[text.index(END) + len(END) :]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", type=int, nargs="+", default=[1, 50], help="concurrent query clients")
    parser.add_argument("--requests", type=int, default=500, help="queries per level and target")
    parser.add_argument("--seconds", type=float, default=30.0, help="time limit per level and target")
    parser.add_argument("--documents", type=int, default=1000, help="documents ingested (half with 1 client)")
    parser.add_argument("--note", default="", help="a note on the Qdrant build, printed with its version")
    parser.add_argument("--no-results", action="store_true", help="print only, leave RESULTS.md alone")
    args = parser.parse_args()
    qdrant_binary = binary()
    if qdrant_binary is None:
        print(f"set {BINARY_ENV} to a Qdrant server binary", file=sys.stderr)
        return 2
    lines = asyncio.run(bench(args, qdrant_binary))
    print("\n".join(lines))
    if not args.no_results:
        write_results(lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
