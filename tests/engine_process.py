"""Start and stop a real `motion-engine serve` process for the server tests (not a test module)."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
START_TIMEOUT = 30.0  # seconds; generous because CI shares 2 cores among many jobs


class EngineProcess:
    """`python -m engine.cli serve ...` on a loopback port; `endpoint` is where it listens."""

    def __init__(self, *extra: str, port: int | str = "*") -> None:
        command = [
            sys.executable,
            "-m",
            "engine.cli",
            "serve",
            "--device",
            "cpu",
            "--bind",
            f"tcp://127.0.0.1:{port}",
            *extra,
        ]
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.process = subprocess.Popen(
            command, cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        self.stderr_lines: list[str] = []
        lines: queue.Queue = queue.Queue()
        threading.Thread(target=self._pump, args=(self.process.stdout, lines), daemon=True).start()
        threading.Thread(target=self._pump, args=(self.process.stderr, self.stderr_lines), daemon=True).start()
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                line = lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                self.kill()
                raise RuntimeError(f"engine did not start: {''.join(self.stderr_lines)}") from None
            if line is None:
                raise RuntimeError(f"engine exited: {''.join(self.stderr_lines)}")
            if "serving on" in line:
                self.endpoint = line.rsplit(" ", 1)[-1].strip()
                self.port = int(self.endpoint.rsplit(":", 1)[-1])
                return

    @staticmethod
    def _pump(stream, sink) -> None:
        for line in stream:
            sink.put(line) if isinstance(sink, queue.Queue) else sink.append(line)
        if isinstance(sink, queue.Queue):
            sink.put(None)

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def rss_kib(self) -> int:
        """Resident memory (VmRSS) of the server process, KiB."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError("no VmRSS line")

    def kill(self) -> None:
        if self.alive():
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.alive():
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.kill()

    def __enter__(self) -> EngineProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
