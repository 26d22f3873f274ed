"""`motion-engine ping`: is an engine answering at ADDRESS, how fast, and are its models ready?

motion-engine ping                                   # the default tcp://127.0.0.1:5555
motion-engine ping --address tcp://127.0.0.1:5556 --timeout 2

Exit status 0 when the engine answered, 2 (one sentence on stderr) when it did not.
"""

from __future__ import annotations

import argparse

import zmq

from engine.client import EngineClient, EngineTimeout, RemoteError
from engine.errors import EngineError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("ping", help="check that an engine answers (round trip, models ready)")
    parser.add_argument("--address", default="tcp://127.0.0.1:5555", help="engine endpoint (default %(default)s)")
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for an answer")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if not args.timeout > 0 or args.timeout == float("inf"):
        raise EngineError("--timeout must be a positive number of seconds.", "bad_args")
    try:
        with EngineClient(args.address, timeout=args.timeout) as client:
            seconds = client.ping()
            info = client.request("info").result
    except EngineTimeout:
        raise EngineError(
            f"no answer from {args.address} within {args.timeout:g} s; is `motion-engine serve` running there?",
            "timeout",
        ) from None
    except RemoteError as error:
        raise EngineError(f"the engine at {args.address} answered an error: {error}", error.code) from None
    except zmq.ZMQError as error:  # a malformed address
        raise EngineError(f"cannot reach {args.address}: {error}", "bad_args") from None
    ready = "ready" if info.get("models_ready", True) else "still loading"
    print(
        f"{args.address}: pong in {seconds * 1000:.1f} ms; engine {info.get('engine_version')}, "
        f"protocol v{info.get('protocol_version')}, device {info.get('device')}, models {ready}, "
        f"{info.get('queued', 0)} queued, {info.get('running', 0)} running"
    )
    return 0
