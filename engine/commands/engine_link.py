"""The model commands through a running engine: `--engine ADDRESS` and `--no-engine`.

A model command (generate, caption, predict, inbetween, edit-pose) first asks whether an engine
answers at ADDRESS (default: the loopback address `motion-engine serve` binds by default). If one
does, the request goes over the protocol (engine/protocol_ops.py) and the reply is written as the
local path would write it; the command then never imports torch or transformers (a cold local run
spends seconds on them and on loading the models). When nothing answers, the models load in this
process, as with `--no-engine`.

The engine is skipped (the models load here) when:
- nothing listens at ADDRESS: a tcp:// port that refuses the connection is known at once, without
  waiting; otherwise the `info` question must be answered within PROBE_TIMEOUT seconds;
- `--bundle DIR` names another bundle than the one the engine serves;
- the request cannot be expressed in the protocol (e.g. predict with --temperature, which only the
  local path takes; or an argument outside the protocol's range: the local path then answers).
A non-loopback ADDRESS is used only when given explicitly with --engine.

An engine that answers with an error ends the command as the local path would: `unknown_prompt`
prints the refusal and exits 3 (generate), any other error is one sentence and exit status 2.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import zmq

from engine import protocol
from engine.client import EngineClient, EngineTimeout, RemoteError, Reply
from engine.errors import EngineError, ModelUnavailableError, UnknownPromptError

DEFAULT_ENGINE = "tcp://127.0.0.1:5555"  # the default --bind of `motion-engine serve` (engine/commands/serve.py)
PROBE_TIMEOUT = 0.2  # seconds for the engine to answer `info` (the I/O loop answers it, never queued)
REQUEST_TIMEOUT = 900.0  # seconds for the model request itself (it may wait for the models to load)


def add_engine_options(parser: argparse.ArgumentParser) -> None:
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--engine",
        metavar="ADDRESS",
        default=None,
        help=f"use the engine answering at ADDRESS (default {DEFAULT_ENGINE} when one answers there; "
        "otherwise the models load in this process)",
    )
    where.add_argument("--no-engine", action="store_true", help="always load the models in this process")


@dataclass
class EngineRequest:
    """One protocol request: `op`, JSON `args` (None values dropped), `arrays` (name -> ndarray)."""

    op: str
    args: dict = field(default_factory=dict)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.args = {key: value for key, value in self.args.items() if value is not None}
        self.arrays = {name: np.ascontiguousarray(array, np.float32) for name, array in self.arrays.items()}

    def valid(self) -> bool:
        """Whether the protocol takes this request as it is (else the local path answers it)."""
        message = protocol.Message(protocol.PROTOCOL_VERSION, "cli", self.op, self.args, self.arrays)
        try:
            protocol.validate_request(message)
        except protocol.ProtocolError:
            return False
        return True


def _listening(address: str) -> bool:
    """False when nothing can be listening at `address` (a refused tcp:// port, a missing ipc://
    socket file): known in about a millisecond, where ZeroMQ would keep retrying until a timeout."""
    scheme, _, rest = address.partition("://")
    if scheme == "ipc":
        return os.path.exists(rest)
    if scheme != "tcp":
        return True
    try:
        parts = urlsplit(address)
        host, port = parts.hostname, parts.port
    except ValueError:
        return True  # malformed: ZeroMQ says what is wrong with it
    if not host or port is None:
        return True
    try:
        with socket.create_connection((host, port), timeout=PROBE_TIMEOUT):
            return True
    except OSError:
        return False


def _same_bundle(asked: Path | None, info: dict) -> bool:
    """Whether the engine serves the bundle --bundle names (no --bundle: whatever it serves)."""
    if asked is None:
        return True
    served = (info.get("bundle") or {}).get("path")
    return served is not None and Path(served).resolve() == asked.resolve()


def connect(args: argparse.Namespace, command: str) -> EngineClient | None:
    """A client of the engine answering at --engine (or the default loopback address), or None when
    the models must load here: --no-engine, nothing answers, or the engine serves another bundle."""
    if getattr(args, "no_engine", False):
        return None
    explicit = args.engine is not None
    address = args.engine if explicit else DEFAULT_ENGINE  # the default is loopback: remote only when named
    if not _listening(address):
        if explicit:
            print(f"motion-engine {command}: no engine listens at {address}; loading the models here", file=sys.stderr)
        return None
    try:
        client = EngineClient(address, timeout=PROBE_TIMEOUT)
    except zmq.ZMQError as error:  # a malformed address
        raise EngineError(f"--engine {address}: {error}", "bad_args") from None
    try:
        info = client.request("info").result
    except (EngineTimeout, RemoteError, protocol.ProtocolError) as error:
        client.close()
        if explicit:
            why = (
                f"gave no answer within {PROBE_TIMEOUT:g} s"
                if isinstance(error, EngineTimeout)
                else f"failed ({error})"
            )
            print(f"motion-engine {command}: the engine at {address} {why}; loading the models here", file=sys.stderr)
        return None
    bundle = getattr(args, "bundle", None)
    if not _same_bundle(bundle, info):
        client.close()
        if explicit:
            print(
                f"motion-engine {command}: the engine at {address} serves another bundle than {bundle}; "
                "loading the models here",
                file=sys.stderr,
            )
        return None
    client.timeout = REQUEST_TIMEOUT
    return client


def ask(client: EngineClient, request: EngineRequest) -> Reply:
    """Send `request` and wait for its final reply. The engine's errors come back as the local path
    raises them: UnknownPromptError for `unknown_prompt`, else EngineError with the engine's sentence
    and code; no answer within REQUEST_TIMEOUT is EngineError `timeout`. Ctrl-C cancels the request
    on the engine too."""
    request_id = client.send(request.op, request.args, request.arrays)
    try:
        return client.wait(request_id)
    except RemoteError as error:
        if error.code == UnknownPromptError.code:
            raise UnknownPromptError(error.message, {}) from None
        hint = " (--no-engine loads the models here)" if error.code == ModelUnavailableError.code else ""
        raise EngineError(f"{error.message}{hint}", error.code) from None
    except EngineTimeout:
        raise EngineError(
            f"the engine at {client.endpoint} gave no answer within {REQUEST_TIMEOUT:g} s; "
            "is it still running? (--no-engine loads the models here)",
            protocol.ERR_TIMEOUT,
        ) from None
    except KeyboardInterrupt:
        try:  # wait for the engine to take the cancel: closing the socket drops what it has not sent
            client.cancel(request_id, timeout=PROBE_TIMEOUT)
        except (EngineTimeout, RemoteError, protocol.ProtocolError):
            pass  # the request had ended, or the engine is gone: nothing left to cancel
        raise
    finally:
        client.close()


def run_remote(args: argparse.Namespace, command: str, request: EngineRequest) -> Reply | None:
    """The engine's reply to `request`, or None when the models must load here: --no-engine, no
    engine answers, it serves another bundle, or the protocol cannot carry the request as it is."""
    if not request.valid():
        return None
    client = connect(args, command)
    return None if client is None else ask(client, request)
