"""The engine against hostile (but legal-protocol) clients, on loopback, with bounded loops.

    python benchmarks/bench_hostile_clients.py             # the default bundle; ~5-10 min on 2 cores
    python benchmarks/bench_hostile_clients.py --quick     # no models, smaller counts (what CI runs)
    python benchmarks/bench_hostile_clients.py --only multipart   # 1 GiB messages + ping cost, ~1 min

Prints one table: the server's peak RSS growth (VmHWM after /proc/PID/clear_refs, minus VmRSS
before) for the largest legal request of each operation and for 1 GiB messages (also against an
engine started with --no-zmtp-front, libzmq's ROUTER reading tcp itself, for comparison), the `ping`
round trip with and without the ZMTP front (engine/zmtp_front.py); the final replies a slow reader
loses over 2,000 requests; the batched requests that fail beside one bad request; and the fuzz
totals (tests/test_server_fuzz.py's fuzzer). tests/test_hostile_clients.py runs the same checks,
smaller. Linux only (/proc).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import zmq

TESTS = Path(__file__).resolve().parents[1] / "tests"
sys.path.insert(0, str(TESTS))

from engine_process import EngineProcess  # noqa: E402 - tests/ is put on the path just above
from retarget_rigs import UP, body, build_rig, random_motion  # noqa: E402

from engine import protocol  # noqa: E402
from engine.motion import skeleton  # noqa: E402
from engine.motion.skeleton import JOINT_NAMES, PARENTS  # noqa: E402

LIMITS = protocol.DEFAULT_LIMITS
MIB = 1024 * 1024
POSE = skeleton.default_rest_positions().astype(np.float32)  # (22, 3) metres


# ----------------------------------------------------------------------------- measuring
def _status_kib(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {key} in /proc/{pid}/status")


def peak_growth_mib(pid: int, action) -> tuple[float, object]:
    """(peak RSS growth in MiB while `action()` ran, its return value)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # reset VmHWM to the current RSS
    before = _status_kib(pid, "VmRSS")
    value = action()
    return (_status_kib(pid, "VmHWM") - before) / 1024, value


def exchange(socket: zmq.Socket, frames: list[bytes], timeout: float = 300.0) -> protocol.Message | None:
    """Send one request and return its final reply (None when none came within `timeout`)."""
    socket.send_multipart(frames, copy=False)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if socket.poll(200):
            reply = protocol.decode_message(socket.recv_multipart(), LIMITS)
            if reply.status != "progress":
                return reply
    return None


def dealer(endpoint: str, **options: int) -> zmq.Socket:
    socket = zmq.Context.instance().socket(zmq.DEALER)
    socket.linger = 0
    for name, value in options.items():
        socket.setsockopt(getattr(zmq, name), value)
    socket.connect(endpoint)
    return socket


def wait_ready(engine: EngineProcess, timeout: float = 300.0) -> None:
    """Until `info` says the engine's operations (and models) are loaded: loading grows its memory."""
    deadline = time.monotonic() + timeout
    with dealer(engine.endpoint) as probe:
        while not exchange(probe, protocol.encode_request("info")).result["models_ready"]:
            if time.monotonic() > deadline:
                raise RuntimeError("the engine's models did not load in time")
            time.sleep(0.2)


def outcome(reply: protocol.Message | None) -> str:
    if reply is None:
        return "no reply"
    return "ok" if reply.status == "ok" else reply.error["code"]


# ----------------------------------------------------------------------------- requests
def big_rig(bones: int):
    """The SMPL rig plus leaf bones under the head until it has `bones` bones (a rig description)."""
    joints = body()
    spec = [("root", None, np.zeros(3), 0.1 * UP)]
    for j, name in enumerate(JOINT_NAMES):
        parent = JOINT_NAMES[PARENTS[j]] if PARENTS[j] >= 0 else "root"
        spec.append((name, parent, joints[name], joints[name] + 0.1 * UP))
    head = joints["head"]
    for i in range(bones - len(spec)):
        spec.append((f"extra_{i}", "head", head + 0.001 * i * UP, head + 0.001 * i * UP + 0.05 * UP))
    return build_rig(spec)


def rig_request(op: str, bones: int, frames: int) -> list[bytes]:
    rig = big_rig(bones)
    header, arrays = rig.to_wire()
    if op == "retarget":
        arrays["positions"] = random_motion(frames).astype(np.float32)
    else:
        quats = np.zeros((frames, bones, 4))
        quats[..., 0] = 1.0
        arrays["local_quats"] = quats
    return protocol.encode_request(op, {"rig": header}, arrays)


def largest_requests(models: bool, scale: float = 1.0) -> list[tuple[str, list[bytes]]]:
    """(label, frames) of the largest legal request of each operation (`scale` < 1: smaller)."""
    most = int(LIMITS.max_bone_frames * scale)
    frames = int(LIMITS.max_motion_frames * scale)
    prompt = ("walk forward and wave with the left hand " * 40)[: LIMITS.max_prompt_chars]
    motion = np.repeat(POSE[None], frames, axis=0)
    wide = min(LIMITS.max_bones, 2048)
    out = [
        (f"retarget {wide} bones x {most // wide} frames", rig_request("retarget", wide, most // wide)),
        (f"retarget 23 bones x {min(frames, most // 23)} frames", rig_request("retarget", 23, min(frames, most // 23))),
        (f"rig_to_canonical {wide} x {most // wide}", rig_request("rig_to_canonical", wide, most // wide)),
        ("describe_pose", protocol.encode_request("describe_pose", {}, {"pose": POSE})),
        ("describe_change", protocol.encode_request("describe_change", {}, {"pose_a": POSE, "pose_b": POSE})),
    ]
    if models:
        out += [
            (f"motion_to_text {frames} frames", protocol.encode_request("motion_to_text", {}, {"motion": motion})),
            # The shipped model writes at most 50 codes (200 frames) per call, context included: 195 new
            # frames is the longest continuation it takes and 191 the longest gap (longer: bad_input at once).
            (
                f"predict 195 frames after {frames}",
                protocol.encode_request("predict", {"frames": 195}, {"motion": motion}),
            ),
            (
                f"inbetween 191 frames between 2 x {frames}",
                protocol.encode_request("inbetween", {"frames": 191}, {"start": motion, "end": motion}),
            ),
            (
                "text_to_motion 1000-char prompt",  # anyway: a prompt this long is far from every caption
                protocol.encode_request("text_to_motion", {"text": prompt, "anyway": True}),
            ),
            ("edit_pose 1000-char prompt", protocol.encode_request("edit_pose", {"text": prompt}, {"pose": POSE})),
            (
                "describe_change (model)",
                protocol.encode_request("describe_change", {"method": "model"}, {"pose_a": POSE, "pose_b": POSE}),
            ),
        ]
    return out


# ----------------------------------------------------------------------------- checks
def check_largest_requests(engine: EngineProcess, models: bool, scale: float = 1.0) -> list[tuple]:
    """(label, peak growth MiB, seconds, outcome) per largest legal request."""
    rows = []
    with dealer(engine.endpoint) as socket:
        exchange(socket, protocol.encode_request("ping"))
        for label, frames in largest_requests(models, scale):
            start = time.perf_counter()
            growth, reply = peak_growth_mib(engine.pid, lambda f=frames: exchange(socket, f))
            rows.append((label, growth, time.perf_counter() - start, outcome(reply)))
    return rows


def check_huge_messages(engine: EngineProcess, gib: float = 1.0, under_limit: bool = False) -> list[tuple]:
    """(label, peak growth MiB, outcome) of `gib` GiB sent as one frame and as max_frames frames.

    A frame over max_array_bytes disconnects the sender at that frame's header (the ZMTP front,
    engine/zmtp_front.py; with --no-zmtp-front libzmq's ZMQ_MAXMSGSIZE), so no reply is the expected
    outcome; the engine must still answer a ping afterwards. `under_limit` adds `gib` GiB as frames
    of 16 MiB, each under the per-frame limit (over max_frames and max_total_bytes): the front skips
    it as it streams and answers `too_large`; libzmq's ROUTER buffered it whole first."""
    size = int(gib * 1024 * MIB)
    header = protocol.encode_request("ping")[0]
    piece = np.zeros(size // (LIMITS.max_frames - 1) + 1, np.uint8)  # calloc'd: no client RSS
    layouts = {
        f"{gib:g} GiB in 1 frame": [header, np.zeros(size, np.uint8)],
        f"{gib:g} GiB in {LIMITS.max_frames} frames": [header] + [piece] * (LIMITS.max_frames - 1),
    }
    if under_limit:
        small = np.zeros(16 * MIB, np.uint8)
        count = max(1, size // (16 * MIB))
        # The worst case for the front: a header that describes 16-MiB arrays, so the frames up to
        # max_total_bytes look legal and are kept until the one that crosses it.
        claims = json.loads(protocol.encode_request("synthetic_forward")[0])
        claims["arrays"] = [{"name": f"a{i}", "dtype": "float32", "shape": [4 * MIB]} for i in range(count)]
        layouts[f"{gib:g} GiB as {count} x 16 MiB (ping header)"] = [header] + [small] * count
        layouts[f"{gib:g} GiB as {count} x 16 MiB (header claims them)"] = [json.dumps(claims).encode()] + [
            small
        ] * count
    rows = []
    for label, frames in layouts.items():
        wait = 120.0 if " x 16 MiB" in label else 5.0  # a frame over the per-frame limit gets no reply
        with dealer(engine.endpoint) as rude:
            growth, reply = peak_growth_mib(engine.pid, lambda f=frames, s=rude, w=wait: exchange(s, f, timeout=w))
        with dealer(engine.endpoint) as polite:
            alive = exchange(polite, protocol.encode_request("ping"), timeout=30.0) is not None
        rows.append((label, growth, f"{outcome(reply)}; ping after: {'ok' if alive else 'NO ANSWER'}"))
    return rows


def ping_p50_ms(endpoint: str, requests: int = 200) -> float:
    """Median `ping` round trip (ms) over `requests`, one at a time on one DEALER, after 20 warm-ups."""
    times = []
    with dealer(endpoint) as socket:
        for i in range(requests + 20):
            start = time.perf_counter()
            exchange(socket, protocol.encode_request("ping"), timeout=10.0)
            if i >= 20:
                times.append(time.perf_counter() - start)
    return float(np.median(times) * 1000)


def check_front_cost(engine: EngineProcess, requests: int = 200) -> tuple[float, float]:
    """(p50 ms through the ZMTP front of `engine`, p50 ms of an engine with --no-zmtp-front), measured
    alternately in rounds of 50 so both see the same machine load."""
    with EngineProcess("--no-bundle", "--no-zmtp-front") as plain:
        wait_ready(plain)
        front, direct = [], []
        for _ in range(max(1, requests // 50)):
            front.append(ping_p50_ms(engine.endpoint, 50))
            direct.append(ping_p50_ms(plain.endpoint, 50))
    return float(np.median(front)), float(np.median(direct))


def print_huge_messages(engine: EngineProcess, compare: bool) -> None:
    print(f"\n{'oversized message':48s} {'peak RSS growth':>16s}")
    for label, growth, result in check_huge_messages(engine, 1.0, under_limit=True):
        print(f"{label:48s} {growth:13.1f} MiB  {result}")
    if compare:
        with EngineProcess("--no-bundle", "--no-zmtp-front") as plain:
            wait_ready(plain)
            print(f"\n{'... with --no-zmtp-front (libzmq reads tcp)':48s} {'peak RSS growth':>16s}")
            for label, growth, result in check_huge_messages(plain, 1.0, under_limit=True):
                print(f"{label:48s} {growth:13.1f} MiB  {result}")
    front, direct = check_front_cost(engine)
    print(f"\nping round trip p50 (200 each): {front:.3f} ms through the ZMTP front, {direct:.3f} ms without it")


def check_slow_reader(engine: EngineProcess, requests: int = 2000) -> dict:
    """A client sends `requests` requests (half progress-heavy `sleep`, half `synthetic_forward`
    with a 32 KiB reply: more than libzmq's queues and the socket buffers hold), reads nothing until
    the engine is done with them, then reads everything: how many final replies never arrive."""
    sent: list[str] = []
    payload = {"x": np.ones(8192, np.float32)}
    with dealer(engine.endpoint, RCVHWM=10) as slow, dealer(engine.endpoint) as probe:
        for i in range(requests):
            if i % 2:
                frames = protocol.encode_request("synthetic_forward", {"fixed_ms": 0.0, "item_ms": 0.0}, payload)
            else:
                frames = protocol.encode_request("sleep", {"seconds": 0.0, "steps": 5})
            sent.append(protocol.peek_request_id(frames[0])[0])
            slow.send_multipart(frames)
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:  # wait until every request was answered by the engine
            info = exchange(probe, protocol.encode_request("info"), timeout=30.0)
            if info is not None and info.result["queued"] == 0 and info.result["running"] == 0:
                break
            time.sleep(0.5)
        finals: dict[str, str] = {}
        progress = 0
        quiet_since = time.monotonic()
        while len(finals) < requests and time.monotonic() - quiet_since < 10.0:
            if not slow.poll(200):
                continue
            quiet_since = time.monotonic()
            reply = protocol.decode_message(slow.recv_multipart(), LIMITS)
            if reply.status == "progress":
                progress += 1
            else:
                finals[reply.id] = outcome(reply)
        counters = exchange(probe, protocol.encode_request("info")).result["counters"]
    codes: dict[str, int] = {}
    for code in finals.values():
        codes[code] = codes.get(code, 0) + 1
    return {"sent": requests, "lost": len(set(sent) - set(finals)), "finals": codes, "progress": progress, **counters}


def check_batch_isolation(engine: EngineProcess, good: int = 16) -> list[tuple]:
    """(case, good requests that failed, good answers that differ from their answer alone)."""
    collapsed = np.zeros((22, 3), np.float32)
    cases = {
        "describe_pose + collapsed pose": (
            lambda: protocol.encode_request("describe_pose", {"deterministic": True}, {"pose": POSE}),
            protocol.encode_request("describe_pose", {"deterministic": True}, {"pose": collapsed}),
        ),
        "describe_change + collapsed pose": (
            lambda: protocol.encode_request(
                "describe_change", {"deterministic": True}, {"pose_a": POSE, "pose_b": POSE}
            ),
            protocol.encode_request("describe_change", {"deterministic": True}, {"pose_a": collapsed, "pose_b": POSE}),
        ),
        "text_to_motion + lone surrogate": (
            lambda: protocol.encode_request("text_to_motion", {"text": "a person walks", "seed": 1, "frames": 40}),
            [b'{"v":1,"id":"bad-surrogate","op":"text_to_motion","args":{"text":"\\ud800walk"},"arrays":[]}'],
        ),
        "edit_pose + lone surrogate": (
            lambda: protocol.encode_request("edit_pose", {"text": "raise the left arm", "seed": 1}, {"pose": POSE}),
            [b'{"v":1,"id":"bad-surrogate","op":"edit_pose","args":{"text":"\\ud800up"},"arrays":[]}'],
        ),
    }
    rows = []
    with dealer(engine.endpoint) as socket:
        for case, (make_good, bad) in cases.items():
            alone = exchange(socket, make_good())
            burst = [make_good() for _ in range(good)]
            burst.insert(good // 2, bad)
            ids = [protocol.peek_request_id(frames[0])[0] for frames in burst]
            for frames in burst:
                socket.send_multipart(frames)
            replies: dict[str, protocol.Message] = {}
            deadline = time.monotonic() + 300
            while len(replies) < len(burst) and time.monotonic() < deadline:
                if socket.poll(200):
                    reply = protocol.decode_message(socket.recv_multipart(), LIMITS)
                    if reply.status != "progress":
                        replies[reply.id] = reply
            bad_id = ids[good // 2]
            good_ids = [i for i in ids if i != bad_id]
            unavailable = outcome(alone) == protocol.ERR_MODEL_UNAVAILABLE
            failed = sum(outcome(replies.get(i)) not in ("ok", outcome(alone)) for i in good_ids)
            differ = sum(
                outcome(alone) == "ok" and replies.get(i) is not None and replies[i].result != alone.result
                for i in good_ids
            )
            bad_outcome = outcome(replies.get(bad_id))
            rows.append(
                (case + (" (no model: all model_unavailable)" if unavailable else ""), failed, differ, bad_outcome)
            )
    return rows


def check_fuzz(engine: EngineProcess, examples: int) -> dict:
    """tests/test_server_fuzz.py's fuzzer, `examples` messages: replies by status, and crashes."""
    import test_server_fuzz as fuzz  # noqa: PLC0415 - a test module (hypothesis), only for this check

    with dealer(engine.endpoint) as socket:
        before = dict(fuzz.COUNTS)
        crashed = False
        try:
            fuzz._fuzz(engine, socket, examples)
        except AssertionError as error:
            crashed = not engine.alive()
            print(f"fuzz: a check failed: {str(error)[:300]}")
        counts = {key: fuzz.COUNTS[key] - before.get(key, 0) for key in fuzz.COUNTS}
    return {**counts, "crashes": int(crashed or not engine.alive())}


# ----------------------------------------------------------------------------- the run
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="no models, smaller counts")
    parser.add_argument("--fuzz", type=int, default=None, help="fuzz messages (default 10000, quick 300)")
    parser.add_argument(
        "--only", choices=("multipart",), help="multipart: only the oversized messages and the ping cost (no models)"
    )
    args = parser.parse_args(argv)
    models = not args.quick and args.only is None
    extra = () if models else ("--no-bundle",)
    with EngineProcess(*extra, "--enable-test-ops", "--threads", "1") as engine:
        wait_ready(engine)  # the socket is up at once; wait for the models before measuring
        print(f"engine pid {engine.pid}, {'default bundle' if models else 'no bundle'}, limits {vars(LIMITS)}\n")
        if args.only == "multipart":
            print_huge_messages(engine, compare=True)
            return 0
        print(f"{'largest legal request':48s} {'peak RSS growth':>16s} {'seconds':>8s}  outcome")
        for label, growth, seconds, result in check_largest_requests(engine, models):
            print(f"{label:48s} {growth:13.1f} MiB {seconds:8.2f}  {result}")
        print_huge_messages(engine, compare=not args.quick)
        slow = check_slow_reader(engine, 2000)
        print(
            f"\nslow reader: {slow['sent']} requests, {slow['lost']} final replies lost "
            f"(finals {slow['finals']}, {slow['progress']} progress read, kept for it {slow['replies_kept']}, "
            f"progress dropped {slow['progress_dropped']})"
        )
        print(f"\n{'batch with one bad request':48s} {'good failed':>11s} {'good differ':>11s}  bad one got")
        for case, failed, differ, bad in check_batch_isolation(engine):
            print(f"{case:48s} {failed:11d} {differ:11d}  {bad}")
        examples = args.fuzz if args.fuzz is not None else (300 if args.quick else 10000)
        fuzz = check_fuzz(engine, examples)
        print(f"\nfuzz: {fuzz['inputs']} messages, {fuzz['error']} errors, {fuzz['ok']} ok, {fuzz['crashes']} crashes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
