"""`motion-engine proxy`: several engines behind ZeroMQ's own proxy (scale-out).

    motion-engine proxy --frontend tcp://127.0.0.1:5555 --backend tcp://127.0.0.1:5556 &
    CUDA_VISIBLE_DEVICES=0 motion-engine serve --connect tcp://127.0.0.1:5556 --device cuda &
    CUDA_VISIBLE_DEVICES=1 motion-engine serve --connect tcp://127.0.0.1:5556 --device cuda &

Clients talk to the frontend exactly as to one engine. zmq.proxy moves frames between a ROUTER
frontend and a DEALER backend; the DEALER hands requests to connected engines round-robin, and
each reply finds its client by the routing id the ROUTER prepended. Limits: `cancel` reaches the
engine that got the target only by chance (its answer is then `state: unknown`), and `info`/`ping`
describe whichever engine answers. The proxy has no CURVE support yet, so both of its endpoints
must be loopback (engines on other machines: run one proxy per machine or bind engines directly
with `serve --allow-remote --keys`).
"""
from __future__ import annotations

import argparse

from engine.commands.serve import is_loopback
from engine.errors import InputError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("proxy", help="load-balance clients over several engines")
    parser.add_argument("--frontend", default="tcp://127.0.0.1:5555", help="clients connect here")
    parser.add_argument("--backend", default="tcp://127.0.0.1:5556",
                        help="engines connect here with `serve --connect`")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import zmq

    for endpoint in (args.frontend, args.backend):
        if not is_loopback(endpoint):
            raise InputError(f"proxy endpoint {endpoint} is not loopback; the proxy has no CURVE "
                             "encryption yet, so it only serves this machine")
    context = zmq.Context()
    frontend, backend = context.socket(zmq.ROUTER), context.socket(zmq.DEALER)
    frontend.bind(args.frontend)
    backend.bind(args.backend)
    print(f"motion-engine proxy: clients -> {args.frontend}, engines -> {args.backend}", flush=True)
    try:
        zmq.proxy(frontend, backend)
    except (KeyboardInterrupt, zmq.ContextTerminated):
        pass
    finally:
        frontend.close(linger=0)
        backend.close(linger=0)
        context.term()
    return 0
