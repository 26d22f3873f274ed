"""Do pose edits do what was asked, as far as it was meant, and nothing else? Held-out commands x start poses.

    OMP_NUM_THREADS=1 python benchmarks/bench_pose_edits.py [--bandai /work/shared/data/bandai-namco-2]

Commands: benchmarks/prompts/pose_edits_held_out.json (animator phrasings, none a training text: see
tests/test_pose_edits.py), each with a rule read by trainer.evaluate.pose_reading.check_pose_edit.
Start poses: test-split frames of Bandai dataset-2 (trainer/data/splits.py, seed 0: standing, arms up,
mid-walk) and procedural motions (crouch, squat, sit, lunge). A command runs from the starts it applies
to (the limb has room to go that way and the rule does not already hold). Printed, every row measured
in the same run: per command; totals per editor variant (the ablation: today's prior mean, then each
inference-time step of engine/models/edit_search.py added); the degree-word check ("slightly" < plain <
"a lot" in the amount moved); the median movement of joints the command does not name; bone-length error;
one-edit latency p50 on one thread from 6D rotations; controls: no edit (must be 0 %), each rule on the
other commands' edits from the same start (cross-command, must stay low), and Real: for each command the
real test-clip frame pair that moves the named part furthest that way while the rest stays within 6 cm
(a reachability check of the thresholds, selected by the rule's own amount).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from engine.describe.joints import mirror_poses, normalise
from engine.formats.canonical import load_motion
from engine.models.edit_search import DecisiveEditor, EditOptions
from engine.models.pose_codec import positions_to_sixd, sixd_to_positions
from engine.models.pose_editor import PoseEditor
from engine.motion.skeleton import JOINT_INDEX, PARENTS
from trainer.data import bandai
from trainer.data.procedural.generator import sample_kind
from trainer.data.splits import split_by_cell
from trainer.evaluate.pose_reading import check_pose_edit, pose_edit_amount, pose_edit_named

ROOT = Path(__file__).resolve().parents[1]
PROMPTS = ROOT / "benchmarks" / "prompts" / "pose_edits_held_out.json"
EDITOR = ROOT / "engine" / "assets" / "default_bundle" / "pose_editor"
BANDAI = Path("/work/shared/data/bandai-namco-2")
# (label, procedural kind, seed, which frame: a fraction of the clip) for the procedural starts.
PROCEDURAL_STARTS = (("crouching", "crouch", 1, 0.5), ("squat", "squat", 2, 0.4), ("sitting", "sit_down", 3, 0.95))
PROCEDURAL_STARTS += (("lunge", "lunge", 4, 0.5),)
REAL_KINDS = ("crouch", "squat", "lunge", "bow", "side_stretch", "toe_touch", "jumping_jacks", "clap", "reach")
REAL_KINDS += ("punch", "kick", "balance", "stretch_up", "raise_arms", "march", "sit_down", "wave", "walk")
VARIANTS = {
    "today: prior mean, default skeleton": None,
    "mean, restricted, A's lengths": EditOptions(samples=0, rerank=False, guidance=False, search=False),
    "+ guidance (scaled mean)": EditOptions(samples=0, rerank=False, guidance=True, search=False),
    "+ 8 samples reranked": EditOptions(samples=8, guidance=True, search=False),
    "+ rule-based search fallback (shipped)": EditOptions(),
    "shipped without restriction": EditOptions(restrict=False),
}
SHIPPED = "+ rule-based search fallback (shipped)"
LIMB = {"hand": ("shoulder", "elbow", "wrist"), "elbow": ("shoulder", "elbow"), "knee": ("hip", "knee")}
LIMB["foot"] = ("hip", "knee", "ankle")


def canonical(pose: np.ndarray) -> np.ndarray:
    """`(22, 3)` -> facing +Z, pelvis at the origin (float64)."""
    out = normalise(np.asarray(pose, np.float64)[None])[0]
    return out - out[0]


def bandai_test_clips(bandai_dir: Path) -> dict[str, list[Path]]:
    """Test-split BVH paths of Bandai dataset-2 by content (split_by_cell over content x style, seed 0)."""
    clips = bandai.list_clips(bandai_dir)
    split = split_by_cell({c.bvh_path.stem: c.cell for c in clips}, seed=0)
    out: dict[str, list[Path]] = {}
    for clip in clips:
        if split[clip.bvh_path.stem] == "test":
            out.setdefault(clip.content, []).append(clip.bvh_path)
    return out


def load_starts(bandai_dir: Path) -> tuple[list[tuple[str, np.ndarray]], list[np.ndarray]]:
    """Start poses (label, canonical `(22, 3)`) and the real clips `(T, 22, 3)` they come from."""
    test = bandai_test_clips(bandai_dir)
    starts, clips = [], []

    def clip(path: Path) -> np.ndarray:
        motion = load_motion(path, preset="bandai").positions.astype(np.float64)
        clips.append(motion)
        return motion

    for content, index in (("raise-up-left-hand", 0), ("wave-both-hands", 0), ("raise-up-right-hand", 1)):
        starts.append((f"standing ({content})", canonical(clip(test[content][index])[0])))
    for content, index in (("raise-up-both-hands", 0), ("raise-up-right-hand", 0)):
        motion = clip(test[content][index])
        top = int(np.argmax(motion[:, [JOINT_INDEX["left_wrist"], JOINT_INDEX["right_wrist"]], 1].max(1)))
        starts.append((f"arms up ({content})", canonical(motion[top])))
    for content, index in (("walk", 0), ("walk", 1)):
        motion = clip(test[content][index])
        starts.append((f"mid-walk ({content} {index})", canonical(motion[len(motion) // 2])))
    for label, kind, seed, at in PROCEDURAL_STARTS:
        motion = sample_kind(kind, seed).positions.astype(np.float64)
        starts.append((f"{label} (procedural)", canonical(motion[int(at * (len(motion) - 1))])))
    for i, kind in enumerate(REAL_KINDS):
        clips.append(sample_kind(kind, 100 + i).positions.astype(np.float64))
    return starts, clips


def _room(rule: dict, a: np.ndarray, side: str, direction: np.ndarray) -> float:
    names = LIMB[rule["part"]]
    joints = [JOINT_INDEX[f"{side}_{n}"] for n in names]
    length = sum(np.linalg.norm(a[j] - a[i]) for i, j in zip(joints, joints[1:]))
    return float((a[joints[0]] - a[joints[-1]]) @ direction + 0.9 * length)  # the furthest reachable point


def applies(rule: dict, a: np.ndarray) -> bool:
    """Whether the command makes sense from A: not already done, and the body has room to do it."""
    if check_pose_edit(rule, a, a):
        return False
    kind, sides = rule["type"], (("left", "right") if rule["side"] == "both" else (rule["side"],))
    if kind == "hips":
        return True
    if kind in ("bend", "straighten"):
        names = ("shoulder", "elbow", "wrist") if rule["part"] in ("hand", "elbow") else ("hip", "knee", "ankle")
        for side in sides:
            u, v, w = (a[JOINT_INDEX[f"{side}_{n}"]] for n in names)
            x, y = u - v, w - v
            angle = np.degrees(np.arccos(np.clip(x @ y / np.linalg.norm(x) / np.linalg.norm(y), -1, 1)))
            if kind == "bend" and angle - 45.0 < max(rule["min"], 0.0) + (rule.get("to_deg") or 0.0) * 0.0:
                return False
            if kind == "bend" and rule.get("to_deg") is not None and angle < rule["to_deg"] + 25.0:
                return False
            if kind == "straighten" and angle > 140.0:
                return False
        return True
    if kind == "lean":
        offset = a[JOINT_INDEX["head"]] - a[0]
        return {"forward": offset[2] < 0.25, "back": offset[2] > -0.05, "left": offset[0] < 0.12}.get(
            rule["axis"], offset[0] > -0.12
        )
    if kind in ("closer", "apart"):
        eff = {"hand": "wrist", "foot": "ankle", "knee": "knee", "elbow": "elbow"}[rule["part"]]
        d = np.linalg.norm(a[JOINT_INDEX[f"left_{eff}"]] - a[JOINT_INDEX[f"right_{eff}"]])
        floor = {"wrist": 0.06, "ankle": 0.16, "knee": 0.16, "elbow": 0.25}[eff]
        return d - floor >= rule["min"] + 0.03 if kind == "closer" else d < (1.1 if eff == "wrist" else 0.6)
    for side in sides:
        if kind in ("rise", "drop"):
            direction = np.array([0.0, 1.0 if kind == "rise" else -1.0, 0.0])
        elif rule["axis"] == "out":
            direction = np.array([1.0 if side == "left" else -1.0, 0.0, 0.0])
        else:
            direction = {"forward": (0, 0, 1), "back": (0, 0, -1), "left": (1, 0, 0), "right": (-1, 0, 0)}[rule["axis"]]
            direction = np.array(direction, float)
        if _room(rule, a, side, direction) < rule["min"] + 0.05:
            return False
        if rule.get("above") == "head":
            shoulder = a[JOINT_INDEX[f"{side}_shoulder"], 1]
            reach = sum(
                np.linalg.norm(a[JOINT_INDEX[f"{side}_{p}"]] - a[JOINT_INDEX[f"{side}_{q}"]])
                for p, q in (("elbow", "shoulder"), ("wrist", "elbow"))
            )
            if shoulder + 0.9 * reach < a[JOINT_INDEX["head"], 1] + 0.05:
                return False
    return True


def bone_error(a: np.ndarray, b: np.ndarray) -> float:
    """Largest bone-length difference (metres) between two poses."""
    parents = list(PARENTS[1:])
    return float(np.abs(np.linalg.norm(a[1:] - a[parents], axis=1) - np.linalg.norm(b[1:] - b[parents], axis=1)).max())


def others_moved(rule: dict, a: np.ndarray, b: np.ndarray) -> float:
    """Median movement (metres) of the joints the command does not name."""
    named = pose_edit_named(rule)
    rest = [j for j in range(22) if j not in named and j != 0]
    return float(np.median(np.linalg.norm(b[rest] - a[rest], axis=-1)))


def run_variant(editor: PoseEditor, options: EditOptions | None, prompts: list[dict], starts, sixds) -> dict:
    """Edits of every applicable (command, start): {(i, s): (B canonical, seconds, source)}."""
    decisive = DecisiveEditor(editor, options) if options is not None else None
    out = {}
    for i, prompt in enumerate(prompts):
        for s, (_, a) in enumerate(starts):
            if not applies(prompt["rule"], a):
                continue
            t = time.perf_counter()
            if decisive is None:
                with torch.no_grad():
                    sixd = editor.sample(torch.from_numpy(sixds[s][None]), [prompt["text"]])
                b, source = sixd_to_positions(sixd)[0].numpy().astype(np.float64), "cvae"
            else:
                result = decisive.edit(sixds[s], a, prompt["text"])
                b, source = result.positions, result.source
            out[(i, s)] = (b - b[0], time.perf_counter() - t, source)
    return out


def degree_check(prompts: list[dict], starts, edits: dict) -> tuple[int, int]:
    """(ordered, total) over (group, start): slightly < plain < a lot in the amount moved."""
    groups: dict[str, dict[str, int]] = {}
    for i, p in enumerate(prompts):
        if p.get("group"):
            groups.setdefault(p["group"], {})[p["degree"]] = i
    ordered = total = 0
    for members in groups.values():
        for s, (_, a) in enumerate(starts):
            keys = [(members[d], s) for d in ("slightly", "plain", "a lot")]
            if not all(k in edits for k in keys):
                continue
            amount = [pose_edit_amount(prompts[k[0]]["rule"], a, edits[k][0]) for k in keys]
            total += 1
            ordered += int(amount[0] < amount[1] < amount[2])
    return ordered, total


def family(rule: dict) -> tuple:
    return rule["type"], rule["side"], rule["part"], rule.get("axis")


def real_row(prompts: list[dict], clips: list[np.ndarray]) -> tuple[int, int, list[str]]:
    """For each command: the real frame pair (every 4th frame, up to 2 s apart, also mirrored) whose A the
    command applies to, moving the named part furthest that way while the other joints stay within 6 cm."""
    pairs = []
    for motion in clips:
        for poses in (motion, mirror_poses(motion)):
            frames = [canonical(p) for p in poses[::4]]
            pairs += [
                (frames[i], frames[j]) for i in range(len(frames)) for j in range(i + 1, min(i + 11, len(frames)))
            ]
    passed, total, failed = 0, 0, []
    for prompt in prompts:
        rule, best = prompt["rule"], None
        for a, b in pairs:
            if others_moved(rule, a, b) > 0.06 or not applies(rule, a):
                continue
            amount = pose_edit_amount(rule, a, b)
            if best is None or amount > best[0]:
                best = (amount, a, b)
        if best is None:
            continue
        total += 1
        ok = check_pose_edit(rule, best[1], best[2])
        passed += int(ok)
        if not ok:
            failed.append(prompt["text"])
    return passed, total, failed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bandai", type=Path, default=BANDAI)
    parser.add_argument("--editor", type=Path, default=EDITOR)
    parser.add_argument("--no-real", action="store_true", help="skip the Real row (the slowest part)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    prompts = json.loads(PROMPTS.read_text())["prompts"]
    starts, clips = load_starts(args.bandai)
    sixds = [positions_to_sixd(a[None])[0] for _, a in starts]
    editor = PoseEditor.load(args.editor)
    print(f"{len(prompts)} commands x {len(starts)} start poses: {', '.join(label for label, _ in starts)}")
    results = {name: run_variant(editor, options, prompts, starts, sixds) for name, options in VARIANTS.items()}
    shipped, today = results[SHIPPED], results["today: prior mean, default skeleton"]

    print("\nper command (shipped | today): passed / applicable starts")
    for i, prompt in enumerate(prompts):
        keys = [k for k in shipped if k[0] == i]
        ok = sum(check_pose_edit(prompt["rule"], starts[s][1], shipped[(i, s)][0]) for _, s in keys)
        old = sum(check_pose_edit(prompt["rule"], starts[s][1], today[(i, s)][0]) for _, s in keys)
        print(f"  {prompt['text']:<48} {ok:>2}/{len(keys):<2} | {old:>2}/{len(keys)}")

    print("\n| editor | pass | degree order | others moved (median cm) | bone error (max cm) | p50 ms | search used |")
    print("|---|---|---|---|---|---|---|")
    for name, edits in results.items():
        passes = [check_pose_edit(prompts[i]["rule"], starts[s][1], b) for (i, s), (b, _, _) in edits.items()]
        ordered, total = degree_check(prompts, starts, edits)
        moved = [others_moved(prompts[i]["rule"], starts[s][1], b) for (i, s), (b, _, _) in edits.items()]
        bones = [bone_error(starts[s][1], b) for (i, s), (b, _, _) in edits.items()]
        p50 = statistics.median(t for _, t, _ in edits.values()) * 1000
        search = sum(src == "search" for _, _, src in edits.values())
        print(
            f"| {name} | {100 * np.mean(passes):.0f} % ({sum(passes)}/{len(passes)}) | {ordered}/{total} "
            f"| {100 * np.median(moved):.1f} | {100 * max(bones):.1f} | {p50:.1f} | {search} |"
        )

    no_edit = [check_pose_edit(prompts[i]["rule"], starts[s][1], starts[s][1]) for i, s in shipped]
    cross, cross_total = 0, 0
    for i, prompt in enumerate(prompts):
        for (j, s), (b, _, _) in shipped.items():
            if j != i and (i, s) in shipped and family(prompts[j]["rule"]) != family(prompt["rule"]):
                cross_total += 1
                cross += int(check_pose_edit(prompt["rule"], starts[s][1], b))
    print(
        f"\ncontrols: no edit {100 * np.mean(no_edit):.0f} % ({sum(no_edit)}/{len(no_edit)}); cross-command "
        f"{100 * cross / max(cross_total, 1):.1f} % ({cross}/{cross_total}, other commands' shipped edits)"
    )
    if not args.no_real:
        passed, total, failed = real_row(prompts, clips)
        print(
            f"Real: {100 * passed / max(total, 1):.0f} % ({passed}/{total} commands with a real pair); fails: {failed}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
