"""`motion-engine keygen DIR`: CURVE key pairs for serving beyond loopback (zmq.auth).

Writes DIR/server.key (public), DIR/server.key_secret, DIR/client.key, DIR/client.key_secret and
copies client.key into DIR/authorized_clients/, the directory `serve --keys DIR` trusts. Give the
client machine server.key and client.key_secret; add more clients by dropping their public .key
files into authorized_clients/: a running engine re-reads that folder within a second or two, no
restart needed (removing a file revokes that key for new connections).
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import zmq.auth

from engine.errors import InputError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("keygen", help="create CURVE keys for remote serving")
    parser.add_argument("directory", type=Path)
    parser.add_argument("--force", action="store_true", help="overwrite existing keys")
    parser.set_defaults(run=run)


def generate_keys(directory: Path, force: bool = False) -> dict[str, Path]:

    if (directory / "server.key_secret").exists() and not force:
        raise InputError(
            f"{directory} already holds keys; pass --force to replace them "
            "(connected clients will then need the new server.key)"
        )
    authorized = directory / "authorized_clients"
    authorized.mkdir(parents=True, exist_ok=True)
    server_public, server_secret = zmq.auth.create_certificates(str(directory), "server")
    client_public, client_secret = zmq.auth.create_certificates(str(directory), "client")
    shutil.copy(client_public, authorized / "client.key")
    for secret in (server_secret, client_secret):
        Path(secret).chmod(0o600)  # secret keys readable by their owner only
    return {
        "server_public": Path(server_public),
        "server_secret": Path(server_secret),
        "client_public": Path(client_public),
        "client_secret": Path(client_secret),
        "authorized": authorized,
    }


def run(args: argparse.Namespace) -> int:
    paths = generate_keys(args.directory, args.force)
    for name, path in paths.items():
        print(f"{name:14s} {path}")
    print(f"serve with: motion-engine serve --bind tcp://0.0.0.0:5555 --allow-remote --keys {args.directory}")
    print(
        f"more clients: put their public .key files in {paths['authorized']}; a running engine picks them "
        "up within 2 s, no restart needed"
    )
    return 0
