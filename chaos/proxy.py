"""A faulty API server: a plain-HTTP proxy in front of the real one that adds latency and answers some
requests with 503 or 429 (Retry-After) for as long as it is told to, watch streams included.

The operator talks to it through a kubeconfig of its own (`kubeconfig()`); the proxy forwards with the
local cluster's admin credentials. Bound to 127.0.0.1; runs its own event loop in a thread."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import random
import ssl
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from aiohttp import web

HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding", "host"}


@dataclass
class Faults:
    latency: float = 0.0  # seconds added before each request is forwarded
    error_rate: float = 0.0  # fraction of requests answered 503 or 429 instead
    answered: dict[str, int] = field(default_factory=lambda: {"forwarded": 0, "503": 0, "429": 0})


class FaultyProxy:
    def __init__(self, kubeconfig: str, port: int, seed: int = 7) -> None:
        config = yaml.safe_load(Path(kubeconfig).read_text())
        cluster = config["clusters"][0]["cluster"]
        user = config["users"][0]["user"]
        self.upstream = cluster["server"].rstrip("/")
        self.port = port
        self.faults = Faults()
        self._random = random.Random(seed)
        self._ssl = ssl.create_default_context(cafile=cluster.get("certificate-authority"))
        if cluster.get("insecure-skip-tls-verify"):
            self._ssl.check_hostname = False
            self._ssl.verify_mode = ssl.CERT_NONE
        if user.get("client-certificate"):
            self._ssl.load_cert_chain(user["client-certificate"], user.get("client-key"))
        self._token = user.get("token")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None

    def kubeconfig(self, path: Path) -> str:
        path.write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [{"name": "faulty", "cluster": {"server": f"http://127.0.0.1:{self.port}"}}],
                    "users": [{"name": "faulty", "user": {}}],
                    "contexts": [{"name": "faulty", "context": {"cluster": "faulty", "user": "faulty"}}],
                    "current-context": "faulty",
                }
            )
        )
        return str(path)

    def start(self) -> None:
        ready = threading.Event()
        threading.Thread(target=self._serve, args=(ready,), name="faulty-proxy", daemon=True).start()
        if not ready.wait(10):
            raise RuntimeError("the faulty proxy did not start")

    def stop(self) -> None:
        loop = self._loop
        if loop is not None:
            done = asyncio.run_coroutine_threadsafe(self._shutdown(), loop)
            with contextlib.suppress(concurrent.futures.TimeoutError):
                done.result(5)  # open watch streams may hold it; the loop's thread is a daemon and ends with us

    def _serve(self, ready: threading.Event) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        loop.run_until_complete(self._setup())
        ready.set()
        loop.run_forever()

    async def _setup(self) -> None:
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=self._ssl, limit=0), timeout=aiohttp.ClientTimeout(total=None)
        )
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._forward)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def _shutdown(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        faults = self.faults
        if faults.latency:
            await asyncio.sleep(faults.latency)
        if faults.error_rate and self._random.random() < faults.error_rate:
            if self._random.random() < 0.5:
                faults.answered["429"] += 1
                return _status(429, "TooManyRequests", {"Retry-After": "1"})
            faults.answered["503"] += 1
            return _status(503, "ServiceUnavailable", {})
        faults.answered["forwarded"] += 1
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_HEADERS}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        assert self._session is not None
        body = await request.read()
        try:
            upstream = await self._session.request(
                request.method, self.upstream + request.path_qs, headers=headers, data=body or None
            )
        except aiohttp.ClientError:
            return _status(503, "ServiceUnavailable", {})
        response = web.StreamResponse(
            status=upstream.status,
            headers={k: v for k, v in upstream.headers.items() if k.lower() not in HOP_HEADERS},
        )
        try:
            await response.prepare(request)
            async for chunk in upstream.content.iter_any():  # watch streams pass through as they come
                await response.write(chunk)
            await response.write_eof()
        except (aiohttp.ClientError, ConnectionError):
            pass  # the operator closed its end (a watch it restarts), or the upstream went away
        finally:
            upstream.release()
        return response


def _status(code: int, reason: str, headers: dict[str, Any]) -> web.Response:
    body = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": reason, "code": code,
            "message": f"injected by the chaos proxy: {reason}"}
    return web.json_response(body, status=code, headers=headers)
