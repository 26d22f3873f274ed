"""CURVE encryption of the server's front socket, with the authorized client keys re-read live.

Apart from the server loop (engine/server.py) because it is the one part that touches key files:
only clients whose public key file sits in `authorized_clients/` may connect (zmq.auth's
ThreadAuthenticator checks each handshake), and that folder is looked at again every
KEYS_RELOAD_INTERVAL seconds, so adding or removing a client needs no restart.
Keys come from `motion-engine keygen` (engine/commands/keygen.py).
"""

from __future__ import annotations

import logging
from pathlib import Path

import zmq
import zmq.auth
from zmq.auth.thread import ThreadAuthenticator

logger = logging.getLogger(__name__)

KEYS_RELOAD_INTERVAL = 1.0  # seconds between looks at authorized_clients/


class CurveAuth:
    """The authenticator thread of one server, and what it last read from the authorized folder."""

    def __init__(self, context: zmq.Context, secret_file: str, authorized_dir: str | None) -> None:
        self.context = context
        self.secret_file = secret_file  # server.key_secret
        self.authorized_dir = authorized_dir  # public keys of allowed clients
        self.authenticator: ThreadAuthenticator | None = None
        self._keys_seen: tuple = ()
        self._next_check = 0.0

    def enable(self, socket: zmq.Socket) -> None:
        """Start the authenticator and make `socket` a CURVE server with the server's key pair."""
        self.authenticator = ThreadAuthenticator(self.context)
        self.authenticator.start()
        # Only clients whose public key file sits in the authorized directory may connect.
        self.reload(force=True)
        public, secret = zmq.auth.load_certificate(self.secret_file)
        socket.curve_secretkey, socket.curve_publickey, socket.curve_server = secret, public, True

    def reload(self, force: bool = False) -> None:
        """Re-read authorized_clients/ when its files changed (added, removed or rewritten)."""
        folder = Path(self.authorized_dir or "")
        try:
            seen = tuple(sorted((p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in folder.iterdir()))
        except OSError:
            seen = ()
        if force or seen != self._keys_seen:
            self.authenticator.configure_curve(domain="*", location=str(folder))
            if not force:
                logger.info("motion-engine: authorized client keys reloaded from %s (%d files)", folder, len(seen))
            self._keys_seen = seen

    def reload_if_due(self, now: float) -> None:
        """`reload()` at most every KEYS_RELOAD_INTERVAL seconds (`now`: time.monotonic())."""
        if now >= self._next_check:
            self._next_check = now + KEYS_RELOAD_INTERVAL
            self.reload()

    def stop(self) -> None:
        if self.authenticator is not None:
            self.authenticator.stop()
