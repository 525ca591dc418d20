"""`ragops run | render | crds | gateway | backup | restore`."""

from __future__ import annotations

import argparse
import logging
import os
import random
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import yaml

from ragops.reconcile.context import DEFAULT_IMAGE, OperatorSettings

log = logging.getLogger("ragops")


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # Delegated subcommands parse their own flags (argparse.REMAINDER refuses a leading "--flag").
    for name, _, module, add, run_name in DELEGATED:
        if argv[:1] == [name]:
            logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
            return int(_delegate(f"ragops {name}", module, add, run_name)(argparse.Namespace(rest=argv[1:])))
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=getattr(logging, str(getattr(args, "log_level", "INFO")).upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    return int(args.func(args))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ragops", description="Kubernetes operator for production RAG stacks.")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the operator")
    scope = run.add_mutually_exclusive_group()
    scope.add_argument("--all-namespaces", "-A", action="store_true", help="watch every namespace (default)")
    scope.add_argument("--namespace", "-n", action="append", default=[], help="watch this namespace (repeatable)")
    peering = run.add_mutually_exclusive_group()
    peering.add_argument("--standalone", action="store_true", help="no peering (a single operator replica)")
    peering.add_argument("--peering", metavar="NAME", help="kopf peering name: replicas keep one active")
    run.add_argument("--metrics-port", type=int, default=9090, help="Prometheus metrics port (0 = off)")
    run.add_argument(
        "--health-port", type=int, default=8081, help="/healthz (liveness) and /readyz (watches) port (0 = off)"
    )
    run.add_argument(
        "--watch-dead-seconds",
        type=float,
        default=120.0,
        help="/healthz fails after a watch is dead this long while the API server answers; the process exits "
        "after twice as long",
    )
    run.add_argument(
        "--image",
        default=os.environ.get("RAGOPS_IMAGE", DEFAULT_IMAGE),
        help="default image of gateways and backup jobs (env RAGOPS_IMAGE)",
    )
    run.add_argument("--workers", type=int, default=8, help="concurrent reconciles")
    run.add_argument("--resync-seconds", type=float, default=300.0, help="re-check every resource this often")
    run.add_argument("--log-level", default="INFO")
    run.set_defaults(func=_run)

    render = sub.add_parser("render", help="print every object the operator would create, offline")
    render.add_argument("-f", "--filename", required=True, action="append", help="manifest file ('-' = stdin)")
    render.add_argument("--image", default=os.environ.get("RAGOPS_IMAGE", DEFAULT_IMAGE))
    render.add_argument("--operator-namespace", default="ragops-system")
    render.set_defaults(func=_render)

    crds = sub.add_parser("crds", help="write the CustomResourceDefinitions generated from the models")
    crds.add_argument("--output-dir", "-o", default="crds")
    crds.set_defaults(func=_crds)

    for name, help_text, module, add, run_name in DELEGATED:
        delegated = sub.add_parser(name, help=help_text, add_help=False)
        delegated.add_argument("rest", nargs=argparse.REMAINDER)
        delegated.set_defaults(func=_delegate(f"ragops {name}", module, add, run_name))
    return parser


DELEGATED = [
    ("gateway", "run the RAG gateway of a RagPipeline", "ragops.gateway.cli", "add_arguments", "run"),
    (
        "backup",
        "snapshot every collection to the backup destination",
        "ragops.backup.cli",
        "add_backup_arguments",
        "run_backup",
    ),
    ("restore", "restore collections from a backup", "ragops.backup.cli", "add_restore_arguments", "run_restore"),
]


def _delegate(prog: str, module: str, add: str, run: str) -> Callable[[argparse.Namespace], int]:
    """Subcommands whose dependencies (web server, S3 client) load only when they run."""

    def call(args: argparse.Namespace) -> int:
        import importlib

        target = importlib.import_module(module)
        parser = argparse.ArgumentParser(prog=prog)
        getattr(target, add)(parser)
        return int(getattr(target, run)(parser.parse_args(args.rest)))

    return call


def _run(args: argparse.Namespace) -> int:
    import asyncio

    import kopf

    from ragops.handlers import build_registry

    settings = OperatorSettings(
        image=args.image,
        namespace=os.environ.get("POD_NAMESPACE", "ragops-system"),
        resync_seconds=args.resync_seconds,
    )

    async def operate() -> int:
        stop = asyncio.Event()
        fatal: list[str] = []

        def on_fatal(why: str) -> None:
            fatal.append(why)
            stop.set()

        registry = build_registry(
            settings,
            metrics_port=args.metrics_port or None,
            health_port=args.health_port or None,
            dead_after=args.watch_dead_seconds,
            on_fatal=on_fatal,
            workers=args.workers,
            namespaces=args.namespace or None,
        )
        await kopf.operator(
            registry=registry,
            clusterwide=not args.namespace,
            namespaces=args.namespace,
            standalone=not args.peering,
            peering_name=args.peering,
            # Replicas of equal priority all pause (kopf sees a conflict it cannot settle); a random one per
            # process keeps exactly one active, and the highest survivor takes over when it goes.
            priority=random.randint(1, 32767) if args.peering else 0,
            stop_flag=stop,
        )
        return 1 if fatal else 0

    return asyncio.run(operate())


def _render(args: argparse.Namespace) -> int:
    from ragops.models import SpecError
    from ragops.render import render_objects

    documents = []
    for name in args.filename:
        text = sys.stdin.read() if name == "-" else Path(name).read_text()
        documents += [doc for doc in yaml.safe_load_all(text) if doc]
    settings = OperatorSettings(image=args.image, namespace=args.operator_namespace)
    try:
        objects = render_objects(documents, settings)
    except SpecError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if any(obj["kind"] == "Secret" for obj in objects):
        print(
            "# note: generated API-key Secrets hold fresh random keys; reference your own Secrets for GitOps",
            file=sys.stderr,
        )
    sys.stdout.write(yaml.safe_dump_all(objects, sort_keys=False))
    return 0


def _crds(args: argparse.Namespace) -> int:
    from ragops.crds import write_crds

    for path in write_crds(Path(args.output_dir)):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
