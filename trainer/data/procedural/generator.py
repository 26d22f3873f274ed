"""The procedural motion generator: sample a kind (or a composition), build it, solve it, caption it.

`generate_procedural(n, seed)` yields `n` samples; sample i depends only on (seed, i), so any
sample can be regenerated alone and the output is identical run to run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import NamedTuple

import numpy as np

from engine.errors import InputError
from engine.motion import rotations as R

from . import arms, gait, whole
from .body import Body
from .captions import captions_for
from .solve import DT, solve

Primitive = Callable[[np.random.Generator], "tuple[Body, dict]"]

PRIMITIVES: dict[str, Primitive] = {
    "walk": gait.walk,
    "jog": gait.jog,
    "run": gait.run,
    "walk_backward": gait.walk_backward,
    "walk_curve": gait.walk_curve,
    "jog_curve": gait.jog_curve,
    "walk_toward": gait.walk_toward,
    "run_toward": gait.run_toward,
    "side_steps": gait.side_steps,
    "turn": gait.turn,
    "march": gait.march,
    "wave": arms.wave,
    "clap": arms.clap,
    "punch": arms.punch,
    "throw": arms.throw,
    "reach": arms.reach,
    "raise_arms": arms.raise_arms,
    "arm_circles": arms.arm_circles,
    "squat": whole.squat,
    "crouch": whole.crouch,
    "sit_down": whole.sit_down,
    "stand_up": whole.stand_up,
    "lunge": whole.lunge,
    "jump_up": whole.jump_up,
    "jump_forward": whole.jump_forward,
    "hop": whole.hop,
    "jumping_jacks": whole.jumping_jacks,
    "kick": whole.kick,
    "balance": whole.balance,
    "bow": whole.bow,
    "stretch_up": whole.stretch_up,
    "side_stretch": whole.side_stretch,
    "toe_touch": whole.toe_touch,
}
COMPOSITION = "composition"
KINDS: tuple[str, ...] = tuple(PRIMITIVES) + (COMPOSITION,)
COMPOSITION_SHARE = 0.25  # a quarter of the samples chain two or three primitives
MIN_FRAMES, MAX_FRAMES = 40, 196  # 2 s to 9.8 s at 20 fps, HumanML3D's clip length range
BLEND_FRAMES = 8  # 0.4 s of slerp between consecutive primitives
LOCOMOTION = (
    "walk",
    "jog",
    "run",
    "walk_backward",
    "walk_curve",
    "jog_curve",
    "walk_toward",
    "run_toward",
    "side_steps",
)


class ProceduralSample(NamedTuple):
    """One motion: `positions` `(T, 22, 3)` float32 metres, Y up, 20 fps, canonical; captions; params.

    A named tuple, so `positions, captions, params = sample` works as well as attribute access.
    """

    positions: np.ndarray
    captions: list[str]
    params: dict


def _measure(kind: str, params: dict, positions: np.ndarray) -> dict:
    """Add what was measured after solving (travel speed of locomotion) to the parameters."""
    if kind in LOCOMOTION:
        root = positions[:, 0, [0, 2]]
        middle = slice(len(root) // 4, 3 * len(root) // 4)
        steps = np.linalg.norm(np.diff(root[middle], axis=0), axis=-1)
        params["speed"] = round(float(steps.mean() / DT), 2)
    return params


def _next_allowed(previous: str | None) -> list[str]:
    """Kinds that may follow `previous` in a composition (seated poses only chain to standing up)."""
    if previous == "sit_down":
        return ["stand_up"]
    allowed = [k for k in PRIMITIVES if k not in ("stand_up",)]
    return allowed


def _concat(bodies: list[Body]) -> Body:
    """Chain bodies: each starts where the last one faced, with a slerp blend between poses."""
    quats, heading, contacts, flight = (
        [bodies[0].quats],
        [bodies[0].heading],
        [bodies[0].contacts],
        [bodies[0].flight_velocity],
    )
    for body in bodies[1:]:
        last_q, last_h = quats[-1][-1], heading[-1][-1]
        w = ((np.arange(BLEND_FRAMES) + 1) / (BLEND_FRAMES + 1))[:, None]
        blend = R.quat_slerp(
            np.broadcast_to(last_q, (BLEND_FRAMES,) + last_q.shape),
            np.broadcast_to(body.quats[0], (BLEND_FRAMES,) + last_q.shape),
            w,
        )
        quats += [blend, body.quats]
        heading += [np.full(BLEND_FRAMES, last_h), body.heading + last_h]
        both = contacts[-1][-1] | body.contacts[0]
        contacts += [np.broadcast_to(both, (BLEND_FRAMES, 2)), body.contacts]
        flight += [np.full((BLEND_FRAMES, 3), np.nan), body.flight_velocity]
    return Body(np.concatenate(quats), np.concatenate(heading), np.concatenate(contacts).copy(), np.concatenate(flight))


def _build(kind: str, rng: np.random.Generator) -> tuple[Body, list[tuple[str, dict]]]:
    if kind != COMPOSITION:
        body, params = PRIMITIVES[kind](rng)
        return body, [(kind, params)]
    for _ in range(20):  # draw chains until one fits in MAX_FRAMES
        count = int(rng.integers(2, 4))
        kinds: list[str] = []
        for _ in range(count):
            options = _next_allowed(kinds[-1] if kinds else None)
            kinds.append(options[rng.integers(len(options))])
        built = [PRIMITIVES[k](rng) for k in kinds]
        if sum(b.frames for b, _ in built) + BLEND_FRAMES * (count - 1) <= MAX_FRAMES:
            return _concat([b for b, _ in built]), list(zip(kinds, [p for _, p in built]))
    body, params = PRIMITIVES["walk"](rng)
    return body, [("walk", params)]


def _pad(body: Body) -> Body:
    """Hold the last pose until the clip is MIN_FRAMES long (standing still adds nothing to describe)."""
    missing = MIN_FRAMES - body.frames
    if missing <= 0:
        return body

    def tail(a: np.ndarray) -> np.ndarray:
        return np.concatenate([a, np.repeat(a[-1:], missing, axis=0)])

    contacts = tail(body.contacts)
    contacts[-missing:] = True
    flight = tail(body.flight_velocity)
    flight[-missing:] = np.nan
    return Body(tail(body.quats), tail(body.heading), contacts, flight)


def sample_kind(kind: str, seed: int, caption_count: int = 4) -> ProceduralSample:
    """Build one sample of `kind` (a key of KINDS) deterministically from `seed`."""
    if kind not in KINDS:
        raise InputError(f"procedural kind {kind!r} does not exist; choose one of {', '.join(KINDS)}")
    rng = np.random.default_rng(seed)
    body, parts = _build(kind, rng)
    body = _pad(body)
    positions = solve(body)[:MAX_FRAMES]
    parts = [(k, _measure(k, p, positions)) for k, p in parts]
    captions = captions_for(parts, rng, caption_count)
    params = (
        dict(parts[0][1], kind=kind)
        if len(parts) == 1
        else {"kind": kind, "parts": [dict(p, kind=k) for k, p in parts]}
    )
    params["frames"] = len(positions)
    return ProceduralSample(positions.astype(np.float32), captions, params)


def generate_procedural(n: int, seed: int) -> Iterator[ProceduralSample]:
    """Yield `n` samples; the kind of sample i is drawn from (seed, i), compositions a quarter of the time."""
    if int(n) != n or n < 0:
        raise InputError(f"the number of procedural samples must be a whole number >= 0, got {n!r}")
    for i in range(n):
        rng = np.random.default_rng([seed, i])
        if rng.random() < COMPOSITION_SHARE:
            kind = COMPOSITION
        else:
            kind = tuple(PRIMITIVES)[rng.integers(len(PRIMITIVES))]
        yield sample_kind(kind, int(rng.integers(2**62)))
