"""Decisive pose edits with the PoseFix CVAE: sample, restrict, guide, rerank, and (if need be) search.

The shipped editor's most likely edit is timid (a 14 cm lift for "raise your left arm") and moves
joints the command does not name. This module keeps the CVAE as the proposal and adds inference-time
steps, each switchable for the ablation (benchmarks/bench_pose_edits.py):

1. samples: the prior mean and N draws z = mu + sigma * eps of p(z | A, text) (fixed eps: deterministic);
2. restrict: joints the command does not name keep A's local rotations (parser: engine.models.edit_command);
3. guidance: each candidate's change of every joint's local rotation, R_c R_A^T = exp(w), is replayed at
   scales s (exp(s w) R_A), the classifier-free-guidance idea (Ho & Salimans 2022) applied in rotation
   space; the degree word moves the wanted amount, so the chosen s grows with it;
4. rerank: a critic scores every (candidate, s): how far short of (or past) the wanted amount the
   commanded part is (engine.models.edit_goals) plus the total rotation change (the smallest edit that
   does what was asked wins);
5. search: if no CVAE candidate reaches the wanted amount, the critic also scores rigid turns of the
   command's root joint (shoulder, hip, spine, or the elbow/knee hinge) over a fixed grid of axes and
   angles; the rule-based fallback, counted apart in the benchmark.
Every candidate is put through FK on A's own bone lengths, so the edit keeps A's skeleton.

Shapes: local rotation matrices `(K, 22, 3, 3)` float64; positions `(K, 22, 3)` metres, canonical frame
(facing +Z, left +X, Y up, pelvis at the origin).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from engine.models import edit_goals as G
from engine.models.edit_command import Goal, parse_command
from engine.motion import rotations as R
from engine.motion.kinematics import SMPL22_HINGES
from engine.motion.skeleton import JOINT_INDEX, NUM_JOINTS, PARENTS, default_rest_offsets

MIRROR = np.diag([-1.0, 1.0, 1.0])  # the body's sagittal plane in the canonical frame
SCALES = np.concatenate([np.linspace(0.0, 2.0, 17), np.linspace(2.25, 5.0, 12)])
_DIRS = np.array(
    [(x, y, z) for x in (-1, 0, 1) for y in (-1, 0, 1) for z in (-1, 0, 1) if (x, y, z) != (0, 0, 0)], float
)
SEARCH_AXES = _DIRS / np.linalg.norm(_DIRS, axis=1, keepdims=True)  # (26, 3)
SEARCH_ANGLES = np.radians(np.arange(5.0, 181.0, 5.0))  # (36,)
HINGE_ANGLES = np.radians(np.arange(-150.0, 151.0, 2.5))
CHANGE_WEIGHT = 0.3  # critic cost per radian of total rotation change
OVERSHOOT = 1.3  # past this factor of the wanted amount the critic starts to object


@dataclass
class EditOptions:
    """Which inference-time steps run (all on: the shipped behaviour)."""

    samples: int = 8
    restrict: bool = True
    guidance: bool = True
    rerank: bool = True
    search: bool = True
    seed: int = 0


@dataclass
class EditResult:
    local: np.ndarray  # (22, 3, 3) local rotation matrices of the edit
    positions: np.ndarray  # (22, 3) metres, pelvis at the origin, on A's bone lengths
    source: str  # 'cvae' (mean or sample, scaled), 'search' (rule-based fallback) or 'unparsed'
    scale: float
    goals: list[Goal] = field(default_factory=list)

    @property
    def quats(self) -> np.ndarray:
        """`(22, 4)` float32 (w, x, y, z) local rotations."""
        return np.asarray(R.matrix_to_quat(self.local), dtype=np.float32)


def offsets_of(positions: np.ndarray, local: np.ndarray) -> np.ndarray:
    """Rest offsets `(22, 3)` that put the local rotations `local` `(22, 3, 3)` exactly on `positions`
    `(22, 3)`: each bone of A expressed in its parent's frame. FK with them keeps A's bone lengths (and
    the pelvis-to-hip geometry that the default skeleton's directions would bend by up to 3 cm)."""
    _, glob = fk(local[None], default_rest_offsets())
    out = np.zeros((NUM_JOINTS, 3))
    for j in range(1, NUM_JOINTS):
        p = PARENTS[j]
        out[j] = glob[0, p].T @ (positions[j] - positions[p])
    return out


def fk(local: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions `(K, 22, 3)` (pelvis at the origin) and global rotations `(K, 22, 3, 3)`."""
    glob = np.empty_like(local)
    pos = np.zeros(local.shape[:-2] + (3,))
    glob[:, 0] = local[:, 0]
    for j in range(1, NUM_JOINTS):
        p = PARENTS[j]
        glob[:, j] = glob[:, p] @ local[:, j]
        pos[:, j] = pos[:, p] + glob[:, p] @ offsets[j]
    return pos, glob


def rotation_change(local: np.ndarray, local_a: np.ndarray) -> np.ndarray:
    """Sum over joints of the geodesic angle (radians) between each candidate and A: `(K,)`."""
    trace = (local * local_a).sum((-2, -1))  # trace(R_c R_A^T)
    cos = np.clip((trace - 1.0) / 2.0, -1.0, 1.0)
    return np.arccos(cos).sum(-1)


def _hinge_axis(hinge: int) -> np.ndarray:
    """The local bend axis of an elbow or knee (kinematics.SMPL22_HINGES: rest bone x bend direction)."""
    parent = PARENTS[hinge]
    (a, b), bend = SMPL22_HINGES[parent]
    rest = default_rest_offsets()
    bone = rest[a] if PARENTS[a] == b else rest[a] - rest[b]
    axis = np.cross(bone, np.array(bend))
    return axis / np.linalg.norm(axis)


class Critic:
    """Scores candidates against the parsed goals: deficit and overshoot per goal plus rotation change."""

    def __init__(self, goals: list[Goal], pose_a: np.ndarray, local_a: np.ndarray) -> None:
        self.goals, self.pose_a, self.local_a = goals, pose_a, local_a
        self.wanted = [G.desired(g, pose_a) for g in goals]

    def score(self, positions: np.ndarray, local: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Cost `(K,)` (lower is better) and whether each candidate reaches every goal `(K,)`."""
        cost = CHANGE_WEIGHT * rotation_change(local, self.local_a)
        reached = np.ones(len(positions), bool)
        for goal, want in zip(self.goals, self.wanted):
            got = G.amounts(goal, self.pose_a, positions)  # (K, S)
            unit = 10.0 if goal.kind in ("bend", "straighten") else 0.05
            short = np.maximum(want - got, 0.0)
            over = np.maximum(got - (np.abs(want) * OVERSHOOT + 0.4 * unit), 0.0)
            if goal.kind == "hands_on_hips":
                over = np.zeros_like(over)
            cost = cost + ((short + 0.5 * over) / unit).sum(-1)
            reached &= (short <= 0.2 * unit).all(-1)
        return cost, reached


class DecisiveEditor:
    """PoseFix CVAE + the steps of the module docstring. `editor` is an engine.models.pose_editor.PoseEditor."""

    def __init__(self, editor, options: EditOptions | None = None) -> None:
        self.editor = editor
        self.options = options or EditOptions()

    def proposals(self, sixd_a: np.ndarray, text: str) -> np.ndarray:
        """The CVAE's edits: prior mean then samples, local rotation matrices `(1 + N, 22, 3, 3)`."""
        import torch  # noqa: PLC0415 - torch costs ~1.7 s; engine start-up paths import this module

        editor, n = self.editor, self.options.samples if self.options.rerank else 0
        editor.eval()
        device = next(editor.parameters()).device
        with torch.no_grad():
            a = torch.from_numpy(np.asarray(sixd_a, np.float32)[None]).to(device)
            prior, emb = editor.prior(a, [text])
            generator = torch.Generator().manual_seed(self.options.seed)
            eps = torch.randn((n, prior.loc.shape[-1]), generator=generator).to(device)
            z = torch.cat([prior.loc, prior.loc + prior.scale * eps])
            out = editor.decode(z, emb.expand(len(z), -1), a.expand(len(z), -1, -1))
        return np.asarray(R.sixd_to_matrix(out.double().cpu().numpy()), dtype=np.float64)

    def edit(self, sixd_a: np.ndarray, pose_a: np.ndarray, text: str) -> EditResult:
        """Edit pose A given as canonical 6D local rotations `(22, 6)` and its canonical positions
        `(22, 3)` metres (for its bone lengths) with the command `text`."""
        options = self.options
        local_a = np.asarray(R.sixd_to_matrix(np.asarray(sixd_a, np.float64)), dtype=np.float64)
        offsets = offsets_of(np.asarray(pose_a, np.float64), local_a)
        pos_a, glob_a = fk(local_a[None], offsets)
        pos_a, glob_a = pos_a[0], glob_a[0]
        cvae = self.proposals(sixd_a, text)
        goals = parse_command(text)
        if not goals:
            pos, _ = fk(cvae[:1], offsets)
            return EditResult(cvae[0], pos[0], "unparsed", 1.0, goals)
        if options.restrict:
            keep = np.ones(NUM_JOINTS, bool)
            keep[[j for g in goals for j in G.drivers(g)]] = False
            cvae[:, keep] = local_a[keep]
        scales = SCALES if options.guidance else np.ones(1)
        w = R.matrix_to_axis_angle(np.einsum("kjab,jcb->kjac", cvae, local_a))  # (C, 22, 3)
        cand = R.axis_angle_to_matrix(scales[:, None, None, None] * w[None]) @ local_a  # (S, C, 22, 3, 3)
        cand = cand.reshape((-1, NUM_JOINTS, 3, 3))
        critic = Critic(goals, pos_a, local_a)
        pos, _ = fk(cand, offsets)
        cost, reached = critic.score(pos, cand)
        best = int(np.argmin(np.where(reached, cost, np.inf))) if reached.any() else int(np.argmin(cost))
        result = EditResult(cand[best], pos[best], "cvae", float(scales[best // len(cvae)]), goals)
        if options.search and not reached[best]:
            found = search_candidates(goals[0], local_a, glob_a)
            pos_s, _ = fk(found, offsets)
            cost_s, reached_s = critic.score(pos_s, found)
            pick = int(np.argmin(np.where(reached_s, cost_s, np.inf))) if reached_s.any() else int(np.argmin(cost_s))
            if reached_s[pick] or cost_s[pick] < cost[best]:
                result = EditResult(found[pick], pos_s[pick], "search", 0.0, goals)
        return result


def _turn(local_a: np.ndarray, glob_a: np.ndarray, joint: int, q: np.ndarray) -> np.ndarray:
    """Local rotations of `joint` after turning its global rotation by `q` `(K, 3, 3)`: `(K, 3, 3)`."""
    gp = glob_a[PARENTS[joint]]
    return gp.T @ q @ gp @ local_a[joint]


def search_candidates(goal: Goal, local_a: np.ndarray, glob_a: np.ndarray) -> np.ndarray:
    """Rigid turns of the goal's root joint(s) over fixed axes and angles: `(K, 22, 3, 3)`; the two sides
    turn as mirror images when the goal names both."""
    if goal.kind in ("bend", "straighten"):
        out = np.repeat(local_a[None], len(HINGE_ANGLES), 0)
        for side in goal.sides:
            j = JOINT_INDEX[f"{side}_{goal.part}"]
            out[:, j] = local_a[j] @ R.axis_angle_to_matrix(HINGE_ANGLES[:, None] * _hinge_axis(j))
        return out
    w = (SEARCH_AXES[:, None] * SEARCH_ANGLES[None, :, None]).reshape(-1, 3)
    if goal.kind.startswith("lean_"):
        w = w[np.linalg.norm(w, axis=-1) <= np.radians(90.0)]
        out = np.repeat(local_a[None], len(w), 0)
        out[:, JOINT_INDEX["spine1"]] = _turn(local_a, glob_a, JOINT_INDEX["spine1"], R.axis_angle_to_matrix(w))
        return out
    q = R.axis_angle_to_matrix(w)
    q_mirror = MIRROR @ q @ MIRROR
    root = G.ROOT[goal.part]
    bends = np.radians([30.0, 60.0, 90.0]) if goal.kind == "hands_on_hips" else np.zeros(1)
    outs = []
    for bend in bends:
        out = np.repeat(local_a[None], len(w), 0)
        for side in goal.sides:
            j = JOINT_INDEX[f"{side}_{root}"]
            out[:, j] = _turn(local_a, glob_a, j, q if side == "left" or len(goal.sides) == 1 else q_mirror)
            if bend:
                e = JOINT_INDEX[f"{side}_elbow"]
                out[:, e] = local_a[e] @ R.axis_angle_to_matrix(bend * _hinge_axis(e))
        outs.append(out)
    return np.concatenate(outs)
