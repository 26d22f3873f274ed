"""What the server's `info` reply says about each operation, and what it hides from a remote client.

Apart from the I/O loop (engine/server.py) because it decides one privacy rule on its own: `info`
gives the process id and file paths only to clients on this machine, judged by the request's
Peer-Address (ipc:// and inproc:// peers carry none: they are local); behind a
`motion-engine proxy` the server cannot see the client, so the proxy's endpoint decides.
`motion-engine serve` uses `is_loopback_host` too, to refuse a non-loopback bind without
--allow-remote.
"""

from __future__ import annotations

import copy
import ipaddress
import os

import zmq

from engine import protocol
from engine.operations import Operation

ANSWERED_BY_THE_LOOP = ("ping", "info", "cancel")  # never queued, never loading


def is_loopback_host(host: str) -> bool:
    """True for a loopback IP address (IPv4 or IPv6, bracketed or not) or 'localhost'."""
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def peer_is_local(frame: zmq.Frame, connect: str | None) -> bool:
    """Whether the client that sent `frame` (its first frame) is on this machine. `connect`: the
    proxy backend the server connects to, or None when it binds."""
    if connect:  # behind a proxy: its endpoint decides
        host = connect.split("://", 1)[-1].rsplit(":", 1)[0]
        return connect.startswith(("ipc://", "inproc://")) or is_loopback_host(host)
    try:
        address = frame.get("Peer-Address")
    except (zmq.ZMQError, KeyError):
        return True  # no transport metadata: an inproc peer
    # ipc:// and inproc:// peers carry no Peer-Address: they are on this machine.
    return not address or is_loopback_host(address)


def operations_info(
    specs: dict[str, protocol.OperationSpec],
    operations: dict[str, Operation],
    batchable: dict[str, bool],
    ready: bool,
) -> dict[str, dict]:
    """`info["operations"]`: per op, whether it can be used now, why not, whether it waits for the
    models (`ready`: the models are loaded), whether it is batched, and its one-line doc."""
    answer = {}
    for name, spec in specs.items():
        operation = operations.get(name)
        loading = operation is None and name not in ANSWERED_BY_THE_LOOP and not ready
        answer[name] = {
            "available": (operation.unavailable is None) if operation is not None else not loading,
            "why_unavailable": operation.unavailable if operation is not None else None,
            "loading": loading,
            "batchable": bool(batchable.get(name, False)),
            "doc": spec.doc,
        }
    return answer


def without_local_details(info: dict) -> dict:
    """`info` for a client on another machine: no process id, no file paths."""
    info = copy.deepcopy(info)
    info.pop("pid", None)
    bundle = info.get("bundle")
    if isinstance(bundle, dict):
        if bundle.get("path"):
            bundle["path"] = os.path.basename(str(bundle["path"]).rstrip("/\\"))
        for component in (bundle.get("components") or {}).values():
            if isinstance(component, dict) and component.get("path"):
                component["path"] = os.path.basename(str(component["path"]).rstrip("/\\"))
        bundle["problems"] = (
            [f"{len(bundle.get('problems') or [])} problem(s); see the engine log"] if bundle.get("problems") else []
        )
    return info
