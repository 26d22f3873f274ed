"""`motion-engine serve`: run the headless ZeroMQ engine server (see engine/server.py).

motion-engine serve                                          # the shipped default bundle, loopback :5555
motion-engine serve --bundle bundles/default --threads 2     # another bundle
motion-engine serve --bind 'tcp://0.0.0.0:5555' --allow-remote --keys keys/   # CURVE required
motion-engine serve --connect tcp://127.0.0.1:5556           # behind `motion-engine proxy`
motion-engine serve --bind 'tcp://[::1]:5555'               # IPv6 loopback

The socket is bound before any model loads: `ping` and `info` answer at once, model requests wait
(with progress) until the models are ready. Every start-up failure (address in use, bad endpoint,
remote address without keys) is one sentence on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import platform
import signal
import sys
from pathlib import Path
from urllib.parse import urlsplit

import numpy
import zmq

from engine import __version__, protocol
from engine.batching import BatchPolicy
from engine.bundle import configure_torch, default_bundle_dir, load_bundle
from engine.errors import InputError
from engine.operations import build_operations
from engine.server import EngineServer, ServerConfig
from engine.server_info import is_loopback_host

MAX_BATCH = 256  # requests per model call, at most


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("serve", help="run the engine server (ZeroMQ ROUTER)")
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--bind", default="tcp://127.0.0.1:5555", help="endpoint to bind (default %(default)s; port * picks a free one)"
    )
    where.add_argument("--connect", help="connect to a `motion-engine proxy` backend instead")
    models = parser.add_mutually_exclusive_group()
    models.add_argument(
        "--bundle",
        type=Path,
        default=None,
        help="model bundle directory (manifest.json); default: the shipped engine/assets/default_bundle",
    )
    models.add_argument(
        "--no-bundle", action="store_true", help="serve without models (every model op answers model_unavailable)"
    )
    parser.add_argument("--device", choices=("cpu", "cuda", "auto"), default="auto")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch CPU threads for the models (default 1: faster on a busy machine)",
    )
    parser.add_argument(
        "--allow-remote", action="store_true", help="permit a non-loopback --bind/--connect (needs --keys)"
    )
    parser.add_argument(
        "--keys", type=Path, help="directory from `motion-engine keygen` (CURVE server key + authorized_clients/)"
    )
    parser.add_argument("--workers", type=int, default=1, help="worker threads (one per device)")
    parser.add_argument(
        "--batch-window-ms", type=float, default=5.0, help="how long a lone batchable request waits for companions"
    )
    parser.add_argument("--max-batch", type=int, default=32)
    parser.add_argument("--no-batching", action="store_true", help="run every request alone")
    parser.add_argument("--max-array-mb", type=float, default=32.0, help="bytes per array frame (libzmq's limit)")
    parser.add_argument("--max-message-mb", type=float, default=64.0, help="bytes per request and per reply")
    parser.add_argument("--max-prompt-chars", type=int, default=1000)
    parser.add_argument(
        "--no-zmtp-front",
        action="store_true",
        help="read tcp clients with libzmq's ROUTER, not the streaming ZMTP front (then a message of many "
        "frames, each under --max-array-mb, is held whole before it is refused)",
    )
    parser.add_argument(
        "--enable-test-ops", action="store_true", help="serve the test-only ops `sleep` and `synthetic_forward`"
    )
    parser.set_defaults(run=run)


def is_loopback(endpoint: str) -> bool:
    """True for ipc://, inproc:// and tcp:// endpoints on a loopback host."""
    scheme = endpoint.split("://", 1)[0]
    if scheme in ("ipc", "inproc"):
        return True
    try:
        host = urlsplit(endpoint).hostname or ""
    except ValueError:  # e.g. an unclosed '[': not an address at all
        return False
    return is_loopback_host(host)  # '*', interface names and DNS names count as remote


def check_remote(endpoint: str, allow_remote: bool, keys: Path | None) -> None:
    """Refuse a non-loopback endpoint unless the user opted in and gave CURVE keys."""
    if is_loopback(endpoint):
        return
    if not allow_remote:
        raise InputError(
            f"{endpoint} is not a loopback address; anyone on the network could "
            "use this engine. Add --allow-remote and --keys DIR (from "
            "`motion-engine keygen DIR`) to serve it with CURVE encryption."
        )
    if keys is None or not (keys / "server.key_secret").is_file():
        raise InputError(
            "--allow-remote needs --keys DIR holding server.key_secret and "
            "authorized_clients/; create them with `motion-engine keygen DIR`."
        )


def resolve_device(requested: str) -> str:
    if requested == "cpu":
        return "cpu"
    try:
        import torch
    except ImportError:
        if requested == "cuda":
            raise InputError("--device cuda needs torch with CUDA; it is not installed") from None
        return "cpu"
    if requested == "cuda" and not torch.cuda.is_available():
        raise InputError("--device cuda: torch sees no CUDA device; use --device cpu or auto")
    return "cuda" if torch.cuda.is_available() else "cpu"


def _version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def collect_info(device: str, bundle) -> dict:

    return {
        "engine_version": __version__,
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "pyzmq": zmq.__version__,
        "libzmq": zmq.zmq_version(),
        "torch": _version("torch"),
        "transformers": _version("transformers"),
        "device": device,
        "pid": os.getpid(),
        "bundle": bundle.describe(),
    }


def build_server(args: argparse.Namespace) -> EngineServer:
    """The server, not yet bound; its models load on a thread once `serve_forever` runs."""
    endpoint = args.connect or args.bind
    check_remote(endpoint, args.allow_remote, args.keys)
    if args.keys is not None and not (args.keys / "server.key_secret").is_file():
        raise InputError(
            f"--keys {args.keys} holds no server.key_secret; create the keys with `motion-engine keygen {args.keys}`."
        )
    for name in ("workers", "max_batch", "max_prompt_chars"):
        if getattr(args, name) < 1:
            raise InputError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}.")
    if args.max_batch > MAX_BATCH:
        raise InputError(f"--max-batch must be at most {MAX_BATCH} (bounded work per model call).")
    device = resolve_device(args.device) if args.device == "cuda" else args.device  # fail fast on cuda
    bundle = load_bundle(None if args.no_bundle else args.bundle or default_bundle_dir())
    for problem in bundle.problems:
        print(f"motion-engine serve: {problem}", file=sys.stderr)
    megabyte = 1024 * 1024
    limits = protocol.Limits(
        max_array_bytes=int(args.max_array_mb * megabyte),
        max_total_bytes=int(args.max_message_mb * megabyte),
        max_prompt_chars=args.max_prompt_chars,
    )
    policy = BatchPolicy(window=args.batch_window_ms / 1000.0, max_batch=1 if args.no_batching else args.max_batch)
    # CURVE whenever keys are given (also on loopback, e.g. behind an SSH tunnel); required remote.
    use_curve = args.keys is not None
    config = ServerConfig(
        bind=None if args.connect else args.bind,
        connect=args.connect,
        limits=limits,
        policy=policy,
        workers=args.workers,
        curve_secret_file=str(args.keys / "server.key_secret") if use_curve else None,
        curve_authorized_dir=str(args.keys / "authorized_clients") if use_curve else None,
        enable_test_ops=args.enable_test_ops,
        zmtp_front=not args.no_zmtp_front,
    )
    info = collect_info(device, bundle)

    def load() -> dict:
        resolved = resolve_device(device)
        configure_torch(resolved, args.threads)
        info["device"] = resolved
        return build_operations(bundle, resolved, enable_test_ops=args.enable_test_ops, batching=not args.no_batching)

    return EngineServer(config, None, info, loader=load)


def run(args: argparse.Namespace) -> int:
    server = build_server(args)
    server.bind()  # InputError (one sentence, exit 2) when the address cannot be used
    # SIGTERM (e.g. from a process manager) stops the loop; unfinished requests get `shutting_down`.
    signal.signal(signal.SIGTERM, lambda *_: server.stop())
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        server.stop()
    return 0
