"""Real-time text-to-motion on one CPU thread: one table, measured in one run.

    python benchmarks/bench_realtime.py [--repeats 30] [--clients 16] [--requests 50] [--base-repeats 5]
    python benchmarks/bench_realtime.py --cli-only [--cli-runs 5]      # the three command-line rows only

Rows (all with `--threads 1` / torch.set_num_threads(1) and OMP_NUM_THREADS=1):
- engine text_to_motion: a real `motion-engine serve` on a loopback port (shipped bundle), a real
  ZeroMQ client (engine.client.EngineClient), 196 frames (49 codes), seeded (so each request runs
  alone), p50 / p99 of the round trip after 3 warm-ups; codes/s = 49 / p50.
- MotionGPT's architecture: FLAN-T5-base shapes with Hugging Face `generate`, in this process
  (benchmarks/bench_motion_lm.py `build_motiongpt_base`, text -> joints, same prompt and length);
  the ratio of its p50 to the engine's (target >= 40x, engine p50 <= 50 ms).
- cold `motion-engine generate ... -o OUT.npy --no-engine` (a fresh process: imports, bundle load,
  one motion) against a bare `python -c "import torch, transformers"`: wall time and ratio (target
  <= 1.4x); and `motion-engine generate ... --engine ADDRESS` with a running engine (the whole CLI
  process, which sends the request to the engine: target < 1 s). Median of `--cli-runs` runs, the
  three commands taking turns so that a change in the machine's load hits them alike.
- `serve` time to first ping answer: from spawning the process to the first `ping` reply.
- load: `--clients` threads, each with its own client, `--requests` unseeded requests each (the
  batchable kind), against the server with dynamic batching and again with `--no-batching`:
  throughput (requests/s), p50, p99, p99/p50 and lost (no reply within the timeout, or an error).

It only measures; the numbers depend on the machine and on what else runs on it (the load average is
printed). Nothing is downloaded.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # engine_process: the tests' way to start a real engine

import numpy as np  # noqa: E402
import torch  # noqa: E402
from engine_process import EngineProcess  # noqa: E402

from benchmarks.bench_motion_lm import FRAMES, PROMPT, build_motiongpt_base, build_small, time_text_to_motion  # noqa: E402
from engine.client import EngineClient  # noqa: E402

CODES = FRAMES // 4
os.environ.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")  # for the engines started below too
ENV = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONPATH=str(ROOT))


@contextmanager
def serving(*extra: str) -> Iterator[tuple[EngineProcess, float]]:
    """A real engine on a free loopback port (tests/engine_process.py), one torch thread, and the
    seconds from spawning it to its first `ping` answer."""
    started = time.perf_counter()
    with EngineProcess("--threads", "1", *extra) as engine:
        with EngineClient(engine.endpoint, timeout=120.0) as client:
            client.ping()
        yield engine, time.perf_counter() - started


def engine_latency(endpoint: str, repeats: int) -> list[float]:
    """Round trips (s) of seeded text_to_motion requests, 196 frames, after 3 warm-ups."""
    times = []
    with EngineClient(endpoint, timeout=120) as client:
        for run in range(repeats + 3):
            start = time.perf_counter()
            reply = client.request("text_to_motion", {"text": PROMPT, "frames": FRAMES, "seed": run})
            elapsed = time.perf_counter() - start
            assert reply.arrays["positions"].shape == (FRAMES, 22, 3)
            if run >= 3:
                times.append(elapsed)
    return times


def load(endpoint: str, clients: int, requests: int, timeout: float) -> dict[str, float]:
    """`clients` threads x `requests` unseeded text_to_motion requests; throughput, p50, p99, lost."""
    latencies: list[float] = []
    lost = [0]
    lock = threading.Lock()
    barrier = threading.Barrier(clients + 1)

    def client_thread(index: int) -> None:
        with EngineClient(endpoint, timeout=timeout) as client:
            barrier.wait()
            for _ in range(requests):
                start = time.perf_counter()
                try:
                    reply = client.request("text_to_motion", {"text": PROMPT, "frames": FRAMES})
                    ok = reply.arrays["positions"].shape == (FRAMES, 22, 3)
                except Exception:  # noqa: BLE001 - a timeout or an error reply counts as lost
                    ok = False
                with lock:
                    if ok:
                        latencies.append(time.perf_counter() - start)
                    else:
                        lost[0] += 1

    threads = [threading.Thread(target=client_thread, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    barrier.wait()
    start = time.perf_counter()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - start
    p50, p99 = (float(np.percentile(latencies, q)) for q in (50, 99)) if latencies else (float("nan"),) * 2
    return {"rps": len(latencies) / wall, "p50": p50, "p99": p99, "lost": lost[0], "wall": wall}


def wall(command: list[str]) -> float:
    """Wall time (s) of a fresh process running `command`."""
    start = time.perf_counter()
    subprocess.run(command, cwd=ROOT, env=ENV, check=True, capture_output=True)
    return time.perf_counter() - start


def cli_rows(runs: int) -> list[tuple[str, str]]:
    """The command-line rows: bare torch + transformers import, cold `generate` loading the models
    itself, and `generate` through a running engine; medians of `runs` runs taken in turns."""
    with tempfile.TemporaryDirectory() as tmp, serving() as (server, _):
        generate = [sys.executable, "-m", "engine.cli", "generate", PROMPT, "--frames", str(FRAMES), "--seed", "0"]
        generate += ["-o", str(Path(tmp) / "out.npy")]
        commands = {
            "import": [sys.executable, "-c", "import torch, transformers"],
            "cold": [*generate, "--threads", "1", "--no-engine"],
            "engine": [*generate, "--engine", server.endpoint],
        }
        wall(commands["engine"])  # the engine's first prompt loads its sentence encoder (prompt gate)
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(runs):
            for name, command in commands.items():
                times[name].append(wall(command))
    import_s, cold_s, engine_s = (statistics.median(times[name]) for name in commands)
    return [
        (f"cold `motion-engine generate` {FRAMES} frames --no-engine, wall", f"{cold_s:.2f} s"),
        (
            "bare `python -c 'import torch, transformers'`",
            f"{import_s:.2f} s (cold generate / import x{cold_s / import_s:.2f}; target <= 1.4: "
            f"{'meets' if cold_s <= 1.4 * import_s else 'misses'})",
        ),
        (
            f"`motion-engine generate` {FRAMES} frames, running engine, wall",
            f"{engine_s:.2f} s (target < 1 s: {'meets' if engine_s < 1.0 else 'misses'}; "
            f"/ import x{engine_s / import_s:.2f}, / cold generate x{engine_s / cold_s:.2f})",
        ),
    ]


def print_table(rows: list[tuple[str, str]], title: str) -> None:
    print(f"{title}; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:{width}s}  {value}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30, help="engine text_to_motion round trips")
    parser.add_argument("--base-repeats", type=int, default=5, help="MotionGPT-size runs (seconds each)")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--requests", type=int, default=50, help="per client")
    parser.add_argument("--timeout", type=float, default=120.0, help="a load request without reply by then is lost")
    parser.add_argument("--cli-runs", type=int, default=3, help="runs of each command-line row (median)")
    parser.add_argument("--cli-only", action="store_true", help="measure the command-line rows only")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.cli_only:
        print_table(cli_rows(args.cli_runs), "motion-engine generate from the command line, one CPU thread")
        return
    rows: list[tuple[str, str]] = []

    with serving() as (server, ping_s):
        times = engine_latency(server.endpoint, args.repeats)
        p50, p99 = statistics.median(times), float(np.percentile(times, 99))
        batched = load(server.endpoint, args.clients, args.requests, args.timeout)
    with serving("--no-batching") as (server, _):
        alone = load(server.endpoint, args.clients, args.requests, args.timeout)

    small_lm, _ = build_small()
    base_lm, base_vq = build_motiongpt_base(small_lm.tokenizer)
    base = time_text_to_motion(base_lm, base_vq, args.base_repeats, "hf", "fp32")
    del base_lm, base_vq

    ratio = base["p50_ms"] / (1000 * p50)
    rows += [
        ("engine text_to_motion 196 frames, p50 / p99", f"{1000 * p50:.1f} ms / {1000 * p99:.1f} ms"),
        ("engine codes per second (49 / p50)", f"{CODES / p50:.0f}"),
        ("MotionGPT arch. (FLAN-T5-base, HF generate), p50", f"{base['p50_ms']:.0f} ms"),
        (
            "ratio MotionGPT / engine p50 (target >= 40x)",
            f"x{ratio:.1f} ({'meets' if ratio >= 40 else 'misses'}); engine p50 <= 50 ms: "
            f"{'meets' if p50 <= 0.05 else 'misses'}",
        ),
        *cli_rows(args.cli_runs),
        ("`serve` spawn to first ping answer", f"{ping_s:.2f} s"),
    ]
    for name, r in (("dynamic batching", batched), ("one at a time (--no-batching)", alone)):
        rows.append(
            (
                f"{args.clients} clients x {args.requests}, {name}",
                f"{r['rps']:.1f} req/s, p50 {1000 * r['p50']:.0f} ms, p99 {1000 * r['p99']:.0f} ms, "
                f"p99/p50 {r['p99'] / r['p50']:.2f}, lost {r['lost']}",
            )
        )
    rows.append(("throughput batching / one at a time", f"x{batched['rps'] / alone['rps']:.2f}"))
    print_table(rows, "real-time text-to-motion, one CPU thread")


if __name__ == "__main__":
    main()
