"""`motion-engine bench`: latency and throughput of each available op through the real server on loopback.

The engine server (engine/server.py, the same code `serve` runs) is started in this process on a
free loopback port with the chosen bundle; a real client (engine/client.py) sends the requests.
Latency: `--requests` sequential requests, one at a time (median and slowest). Throughput: a burst
of `--concurrency` requests sent at once, so that batchable ops can group them. Figures are for the
machine and bundle at hand; ops whose model is missing are listed as unavailable.
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time

from engine import protocol
from engine.bundle import configure_torch, default_bundle_dir, load_bundle
from engine.client import EngineClient, RemoteError
from engine.commands.serve import collect_info, resolve_device
from engine.commands.task_common import add_model_options
from engine.errors import InputError
from engine.operations import build_operations
from engine.server import EngineServer, ServerConfig


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("bench", help="latency/throughput of each op through the server (loopback)")
    parser.add_argument("--requests", type=int, default=5, help="sequential requests per op (default %(default)s)")
    parser.add_argument("--concurrency", type=int, default=4, help="requests in the burst (default %(default)s)")
    parser.add_argument("--frames", type=int, default=80, help="motion length asked for (default %(default)s)")
    parser.add_argument("--ops", default=None, help="comma-separated ops (default: all model and describe ops)")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per request")
    add_model_options(parser)
    parser.set_defaults(run=run)


def requests_for(frames: int) -> dict[str, tuple[dict, dict]]:
    """op -> (args, arrays) of one representative request, on the shipped walk sample."""
    from engine.formats.canonical import load_motion  # scipy (~0.3 s): only to read a file

    sample = default_bundle_dir().parent / "samples" / "dataset-2_walk_active_009.bvh"
    walk = load_motion(sample).positions.astype("float32")
    return {
        "text_to_motion": ({"text": "a person walks forward", "frames": frames}, {}),
        "motion_to_text": ({}, {"motion": walk[:frames]}),
        "predict": ({"frames": frames // 2}, {"motion": walk[:40]}),
        "inbetween": ({"frames": frames // 2}, {"start": walk[:1], "end": walk[60:61]}),
        "edit_pose": ({"text": "raise your left arm"}, {"pose": walk[30]}),
        "describe_pose": ({}, {"pose": walk[30]}),
        "describe_change": ({}, {"pose_a": walk[10], "pose_b": walk[30]}),
        "describe_change:model": ({"method": "model"}, {"pose_a": walk[10], "pose_b": walk[30]}),
    }


def measure(client, op: str, args: dict, arrays: dict, requests: int, concurrency: int, timeout: float) -> dict:
    """{'median_ms', 'max_ms', 'burst_per_s'} of one op; raises the client's RemoteError."""
    wire_op = op.split(":")[0]
    client.request(wire_op, args, arrays, timeout=timeout)  # warm-up: first-call allocations
    latencies = []
    for _ in range(requests):
        start = time.perf_counter()
        client.request(wire_op, args, arrays, timeout=timeout)
        latencies.append(time.perf_counter() - start)
    start = time.perf_counter()
    ids = [client.send(wire_op, args, arrays) for _ in range(concurrency)]
    for request_id in ids:
        client.wait(request_id, timeout)
    burst = time.perf_counter() - start
    return {
        "median_ms": 1000 * statistics.median(latencies),
        "max_ms": 1000 * max(latencies),
        "burst_per_s": concurrency / burst,
    }


def run(args: argparse.Namespace) -> int:

    if args.requests < 1 or args.concurrency < 1:
        raise InputError("--requests and --concurrency must be at least 1")
    bundle, device = _bundle(args)
    operations = build_operations(bundle, device)
    server = EngineServer(ServerConfig(bind="tcp://127.0.0.1:*"), operations, collect_info(device, bundle))
    ready = threading.Event()
    thread = threading.Thread(target=server.serve_forever, args=(ready,), daemon=True)
    thread.start()
    if not ready.wait(30):
        raise RuntimeError("the engine server did not start within 30 s")
    catalogue = requests_for(args.frames)
    chosen = args.ops.split(",") if args.ops else list(catalogue)
    unknown = sorted(set(chosen) - set(catalogue))
    if unknown:
        raise InputError(f"--ops: unknown {unknown}; choose among {', '.join(catalogue)}")
    print(
        f"bench: bundle {bundle.root}, device {device}, {args.requests} sequential requests, "
        f"burst of {args.concurrency}, server {server.endpoint}"
    )
    print(f"{'op':24s} {'median ms':>10s} {'max ms':>10s} {'burst req/s':>12s}  note")
    try:
        with EngineClient(server.endpoint, timeout=args.timeout) as client:
            for op in chosen:
                request_args, arrays = catalogue[op]
                try:
                    row = measure(client, op, request_args, arrays, args.requests, args.concurrency, args.timeout)
                except RemoteError as error:
                    note = "unavailable" if error.code == protocol.ERR_MODEL_UNAVAILABLE else error.code
                    print(f"{op:24s} {'-':>10s} {'-':>10s} {'-':>12s}  {note}")
                    continue
                print(f"{op:24s} {row['median_ms']:10.1f} {row['max_ms']:10.1f} {row['burst_per_s']:12.2f}")
    finally:
        server.stop()
        thread.join(10)
    return 0


def _bundle(args: argparse.Namespace) -> tuple:
    """(bundle, device) of --bundle (default: the shipped one); missing components only turn ops off."""
    device = resolve_device(args.device)
    configure_torch(device, args.threads)
    return load_bundle(args.bundle if args.bundle is not None else default_bundle_dir()), device
