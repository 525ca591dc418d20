"""`python -m ragops.standin`: what /qdrant/qdrant runs in the stand-in image. NOT Qdrant.

Reads its settings the way Qdrant does: config/config.yaml, then config/$RUN_MODE.yaml (the operator mounts
production.yaml), then QDRANT__SECTION__KEY environment variables (the API keys come from there).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import uvicorn
import yaml

from ragops.standin.app import STANDIN, VERSION, Settings, StandIn

log = logging.getLogger("ragops.standin")


def load_settings(config_dir: Path, environ: Mapping[str, str]) -> Settings:
    config: dict[str, Any] = {}
    for name in ("config.yaml", f"{environ.get('RUN_MODE', 'production')}.yaml"):
        path = config_dir / name
        if path.is_file():
            _merge(config, yaml.safe_load(path.read_text()) or {})
    for key, value in environ.items():
        if key.startswith("QDRANT__"):
            *sections, leaf = key.removeprefix("QDRANT__").lower().split("__")
            target = config
            for section in sections:
                target = target.setdefault(section, {})
            target[leaf] = value
    service, storage = config.get("service") or {}, config.get("storage") or {}
    return Settings(
        http_port=int(service.get("http_port", 6333)),
        storage_path=Path(storage.get("storage_path", "./storage")),
        snapshots_path=Path(storage.get("snapshots_path", "./snapshots")),
        api_key=service.get("api_key") or None,
        read_only_api_key=service.get("read_only_api_key") or None,
    )


def _merge(into: dict[str, Any], more: dict[str, Any]) -> None:
    for key, value in more.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="qdrant (ragops stand-in)", description=STANDIN)
    parser.add_argument("--uri", help="ignored: the stand-in is a single node")
    parser.add_argument("--bootstrap", help="ignored: the stand-in is a single node")
    parser.add_argument("--config-path", default="config", help="directory of config.yaml and $RUN_MODE.yaml")
    args, _ = parser.parse_known_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = load_settings(Path(args.config_path), os.environ)
    log.warning("THIS IS THE RAGOPS QDRANT STAND-IN, NOT QDRANT: %s, answering like Qdrant %s's REST API", STANDIN,
                VERSION)
    if args.uri or args.bootstrap:
        log.warning("stand-in: --uri/--bootstrap ignored, every pod is an independent single node")
    log.info("stand-in: http on :%d, storage %s, snapshots %s, api key %s, no gRPC", settings.http_port,
             settings.storage_path, settings.snapshots_path, "required" if settings.api_key else "not set")
    standin = StandIn(settings)
    try:
        uvicorn.run(standin.app(), host="0.0.0.0", port=settings.http_port, log_level="warning")
    finally:
        standin.client.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
