"""`motion-engine proxy`: several engines behind ZeroMQ's own proxy (scale-out), one command.

    motion-engine proxy --engines 2 --pin-gpus -- --bundle bundles/default --device cuda

starts the proxy (clients connect to --frontend, default tcp://127.0.0.1:5555) and two
`motion-engine serve --connect BACKEND ...` processes, engine i seeing only GPU i. Engines can also
be started by hand, on this machine or any other that reaches the backend:

    motion-engine proxy --frontend tcp://127.0.0.1:5555 --backend tcp://127.0.0.1:5556 &
    CUDA_VISIBLE_DEVICES=0 motion-engine serve --connect tcp://127.0.0.1:5556 --device cuda &
    CUDA_VISIBLE_DEVICES=1 motion-engine serve --connect tcp://127.0.0.1:5556 --device cuda &

Clients talk to the frontend exactly as to one engine. zmq.proxy moves frames between a ROUTER
frontend and a DEALER backend; the DEALER hands requests to connected engines round-robin, and
each reply finds its client by the routing id the ROUTER prepended. Limits: `cancel` reaches the
engine that got the target only by chance (otherwise its answer is `state: unknown`), `info`/`ping`
describe whichever engine answers, and round-robin ignores how busy an engine is. The proxy has no
CURVE support yet, so both of its endpoints must be loopback.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading

import zmq

from engine.commands.serve import is_loopback
from engine.errors import InputError
from engine.protocol import DEFAULT_LIMITS


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("proxy", help="load-balance clients over several engines")
    parser.add_argument("--frontend", default="tcp://127.0.0.1:5555", help="clients connect here")
    parser.add_argument("--backend", default="tcp://127.0.0.1:5556", help="engines connect here with `serve --connect`")
    parser.add_argument(
        "--engines", type=int, default=0, help="start this many `serve --connect BACKEND` processes (default none)"
    )
    parser.add_argument("--pin-gpus", action="store_true", help="give engine i CUDA_VISIBLE_DEVICES=i")
    parser.add_argument(
        "serve_args", nargs=argparse.REMAINDER, help="after --: arguments for every started engine (e.g. --bundle DIR)"
    )
    parser.set_defaults(run=run)


def start_engines(count: int, backend: str, serve_args: list[str], pin_gpus: bool) -> list:
    processes = []
    for index in range(count):
        env = dict(os.environ)
        if pin_gpus:
            env["CUDA_VISIBLE_DEVICES"] = str(index)
        command = [sys.executable, "-m", "engine.cli", "serve", "--connect", backend, *serve_args]
        processes.append(subprocess.Popen(command, env=env))
    return processes


def run(args: argparse.Namespace) -> int:

    for endpoint in (args.frontend, args.backend):
        if not is_loopback(endpoint):
            raise InputError(
                f"proxy endpoint {endpoint} is not loopback; the proxy has no CURVE "
                "encryption yet, so it only serves this machine"
            )
    serve_args = [a for a in args.serve_args if a != "--"]
    context = zmq.Context()
    frontend, backend = context.socket(zmq.ROUTER), context.socket(zmq.DEALER)
    # Refuse oversized frames here, as an engine would: else one rude client would make the
    # engines drop their link to the proxy (and every other client's replies with it).
    frontend.setsockopt(zmq.MAXMSGSIZE, DEFAULT_LIMITS.max_array_bytes)
    frontend.bind(args.frontend)
    backend.bind(args.backend)
    # zmq.proxy blocks inside libzmq where Python signal handlers cannot run, so it runs in a
    # thread and the main thread stops it through the steerable proxy's control socket.
    control, control_peer = context.socket(zmq.PAIR), context.socket(zmq.PAIR)
    control.bind("inproc://proxy-control")
    control_peer.connect("inproc://proxy-control")
    thread = threading.Thread(target=zmq.proxy_steerable, args=(frontend, backend, None, control_peer), daemon=True)
    thread.start()
    backend_endpoint = backend.getsockopt_string(zmq.LAST_ENDPOINT)
    engines = start_engines(args.engines, backend_endpoint, serve_args, args.pin_gpus)
    print(
        f"motion-engine proxy: clients -> {frontend.getsockopt_string(zmq.LAST_ENDPOINT)}, "
        f"engines -> {backend_endpoint} ({len(engines)} started here)",
        flush=True,
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        control.send(b"TERMINATE")
        thread.join(timeout=5)
        for engine in engines:
            engine.terminate()
        for engine in engines:
            engine.wait(timeout=10)
        context.destroy(linger=0)
    return 0
