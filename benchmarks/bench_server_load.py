"""Load test of the real engine server: N concurrent clients x M requests, batching vs one-at-a-time.

    nice python benchmarks/bench_server_load.py [--clients 16] [--requests 50]

For each workload it starts two `motion-engine serve` processes on free loopback ports, one with
dynamic batching (default settings) and one with `--no-batching` (the baseline, measured in the same
run), and drives each with `--clients` threads, each its own DEALER client sending `--requests`
requests one after another (the next once the previous reply is in). Reported: lost replies
(requests without a final reply within the client timeout, or with an error), p50/p99 latency,
throughput, and the throughput ratio batching / baseline.

Workloads:
  synthetic_forward  test op sleeping 20 ms per call + 1 ms per item: the shape of a model forward
                     on an accelerator (fixed launch/weights cost, small per-item cost). Sleeping
                     keeps the CPU free, as a GPU would.
  describe_pose      the real rule-based describer (engine/describe), numpy on the CPU.
  text_to_motion     the shipped default bundle's motion-language model + tokenizer on the CPU
                     (80 frames per request, varied prompts): the real model forward.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

from engine.client import EngineClient, EngineTimeout, RemoteError
from engine.motion import skeleton

PROJECT_ROOT = Path(__file__).resolve().parents[1]
CLIENT_TIMEOUT = 60.0  # seconds per request: a lost reply, not a slow one, is what we count


def start_engine(*extra: str) -> tuple[subprocess.Popen, str]:
    # The engine loads the shipped default bundle (its models serve the text_to_motion workload).
    command = [
        sys.executable,
        "-m",
        "engine.cli",
        "serve",
        "--device",
        "cpu",
        "--bind",
        "tcp://127.0.0.1:*",
        "--enable-test-ops",
        *extra,
    ]
    process = subprocess.Popen(command, cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    for line in process.stdout:
        if "serving on" in line:
            return process, line.rsplit(" ", 1)[-1].strip()
    raise RuntimeError("engine did not start")


def workload(name: str, rng: np.random.Generator):
    """(op, args, arrays) factory for one request."""
    if name == "synthetic_forward":
        return lambda: (
            "synthetic_forward",
            {"fixed_ms": 20.0, "item_ms": 1.0},
            {"x": rng.standard_normal(16).astype(np.float32)},
        )
    if name == "text_to_motion":
        prompts = [
            "a person walks",
            "someone waves the left hand",
            "a person raises both hands",
            "a person runs in an energetic way",
        ]
        return lambda: ("text_to_motion", {"text": prompts[rng.integers(len(prompts))], "frames": 80}, {})
    rest = skeleton.default_rest_positions()
    return lambda: ("describe_pose", {}, {"pose": (rest + rng.normal(0, 0.05, rest.shape)).astype(np.float32)})


def drive(endpoint: str, make, clients: int, requests: int) -> dict:
    latencies: list[float] = []
    lost = [0]
    lock = threading.Lock()

    def client_loop() -> None:
        with EngineClient(endpoint, timeout=CLIENT_TIMEOUT) as client:
            for _ in range(requests):
                op, args, arrays = make()
                start = time.perf_counter()
                try:
                    client.request(op, args, arrays)
                    with lock:
                        latencies.append(time.perf_counter() - start)
                except (EngineTimeout, RemoteError):
                    with lock:
                        lost[0] += 1

    threads = [threading.Thread(target=client_loop) for _ in range(clients)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    latencies.sort()
    return {
        "sent": clients * requests,
        "lost": lost[0],
        "seconds": elapsed,
        "p50_ms": 1000 * statistics.median(latencies),
        "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))],
        "rps": len(latencies) / elapsed,
    }


def measure(name: str, extra: tuple[str, ...], clients: int, requests: int) -> dict:
    process, endpoint = start_engine(*extra)
    try:
        with EngineClient(endpoint, timeout=30) as warm:  # lazy imports before the clock starts
            op, args, arrays = workload(name, np.random.default_rng(1))()
            warm.request(op, args, arrays)
            stats = drive(endpoint, workload(name, np.random.default_rng(0)), clients, requests)
            counters = warm.request("info").result["counters"]
        stats["mean_batch"] = counters["batched_jobs"] / max(1, counters["batches"])
        return stats
    finally:
        process.terminate()
        process.wait(timeout=10)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--workloads", nargs="+", default=["synthetic_forward", "describe_pose"])
    args = parser.parse_args()
    print(f"{args.clients} clients x {args.requests} requests each, one engine process, 1 worker")
    header = (
        f"{'workload':18s} {'mode':12s} {'sent':>5s} {'lost':>5s} {'p50 ms':>8s} "
        f"{'p99 ms':>8s} {'req/s':>8s} {'batch':>6s} {'ratio':>6s}"
    )
    print(header)
    print("-" * len(header))
    for name in args.workloads:
        baseline = measure(name, ("--no-batching",), args.clients, args.requests)
        batched = measure(name, (), args.clients, args.requests)
        for mode, stats in (("one-at-a-time", baseline), ("batching", batched)):
            ratio = stats["rps"] / baseline["rps"]
            print(
                f"{name:18s} {mode:12s} {stats['sent']:5d} {stats['lost']:5d} "
                f"{stats['p50_ms']:8.1f} {stats['p99_ms']:8.1f} {stats['rps']:8.1f} "
                f"{stats['mean_batch']:6.1f} {ratio:5.2f}x"
            )
    print("ratio = req/s / one-at-a-time req/s of the same workload; batch = mean jobs per call")
    return 0


if __name__ == "__main__":
    sys.exit(main())
