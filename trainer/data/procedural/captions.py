"""Captions for procedural motions: several varied sentences per sample, built from its parameters.

Each kind has verb phrases (no subject) with slots filled from the sample's parameters: side,
direction, repetitions, speed, amplitude. A phrase only names what the parameters say the motion
does: a phrase with a slot is used only when that parameter is present, and words for speed or
amplitude are chosen from measured or sampled values, never invented.
"""

from __future__ import annotations

import numpy as np

SUBJECTS = ("a person", "someone", "the person", "somebody", "a figure")
NUMBER_WORDS = {
    1: "one",
    2: "two",
    3: "three",
    4: "four",
    5: "five",
    6: "six",
    7: "seven",
    8: "eight",
    9: "nine",
    10: "ten",
    11: "eleven",
    12: "twelve",
}
COUNT_WORDS = {
    1: "once",
    2: "twice",
    3: "three times",
    4: "four times",
    5: "five times",
    6: "six times",
    7: "seven times",
    8: "eight times",
    9: "nine times",
}


def _side_phrase(side: str, part: str) -> list[str]:
    """'the left hand' / 'their left hand' / 'both hands' for a side and a body part."""
    if side == "both":
        return [f"both {part}s", f"both of their {part}s"]
    return [f"the {side} {part}", f"their {side} {part}", f"the {side} {part}"]


def _speed_words(gait: str, speed: float) -> list[str]:
    if gait == "walk":
        if speed < 0.9:
            return ["slowly", "at a slow pace", "leisurely"]
        if speed > 1.25:
            return ["briskly", "quickly", "at a fast pace"]
        return ["at a normal pace", "steadily", ""]
    if speed > 3.7:
        return ["fast", "quickly", "at high speed"]
    return ["", "steadily", "at an easy pace"] if gait == "jog" else ["", "steadily"]


def _locomotion(p: dict) -> list[str]:
    gait, direction = p["gait"], p["direction"]
    verb = {"walk": "walks", "jog": "jogs", "run": "runs"}[gait]
    speed = _speed_words(gait, p.get("speed", 1.0))
    out = []
    for s in speed:
        s = f" {s}" if s else ""
        if direction == "forward":
            out += [f"{verb} forward{s}", f"{verb} straight ahead{s}", f"{verb} forward{s} in a straight line"]
        elif direction == "backward":
            out += [f"{verb} backward{s}", f"{verb} backwards{s}", f"takes steps backward{s}"]
        elif direction.startswith("diagonal"):
            turn = direction.split("_")[1]
            out += [
                f"{verb} diagonally forward to the {turn}{s}",
                f"{verb} off{s} toward the front {turn}",
                f"turns slightly {turn} and {verb}{s}",
            ]
        elif direction.startswith("to_"):
            turn = direction.split("_")[1]
            out += [
                f"turns {turn} and {verb} away{s}",
                f"{verb} off to the {turn}{s}",
                f"turns to the {turn} and {verb}{s} in that direction",
            ]
        else:
            turn = "left" if direction == "curve_left" else "right"
            out += [
                f"{verb}{s} in a curve to the {turn}",
                f"{verb} forward{s} while turning {turn}",
                f"{verb}{s} along a path that bends to the {turn}",
            ]
    return out


def _number(n: int) -> str:
    return NUMBER_WORDS.get(int(n), str(n))


def _reps(p: dict) -> str:
    return COUNT_WORDS.get(int(p.get("repetitions", 1)), f"{p.get('repetitions')} times")


def phrases(kind: str, p: dict) -> list[str]:
    """Verb phrases (third person, no subject) describing one primitive with parameters `p`."""
    side = p.get("side", "")
    reps = _reps(p) if "repetitions" in p else ""
    if kind in ("walk", "jog", "run", "walk_backward", "walk_curve", "jog_curve", "walk_toward", "run_toward"):
        return _locomotion(p)
    if kind == "side_steps":
        return [
            f"steps sideways to the {side} {reps}",
            f"side steps to the {side}",
            f"shuffles to the {side} with side steps",
            f"takes {_number(p['repetitions'])} steps to the {side}",
        ]
    if kind == "turn":
        d = p["degrees"]
        if d >= 180:
            return [
                f"turns around to the {side}",
                "turns around",
                "turns around on the spot",
                "steps around to face the other way",
            ]
        out = [f"turns to the {side}", f"turns {d} degrees to the {side}", f"turns {side} on the spot"]
        if d == 90:
            out.append(f"steps around to face the {side}")
        return out + ([f"turns slightly to the {side}"] if d < 90 else [])
    if kind == "march":
        knees = " high" if p["amplitude"] == "high" else ""
        return [
            "marches in place",
            f"marches on the spot lifting the knees{knees}",
            f"marches in place, taking {_number(p['repetitions'])} steps",
        ]
    if kind == "wave":
        hand = _side_phrase(side, "hand")
        high = " high above the head" if p["amplitude"] == "high" else ""
        return [f"waves {h}{high}" for h in hand] + [
            f"raises {hand[0]} and waves {reps}",
            f"waves hello with {hand[0]}",
        ]
    if kind == "clap":
        return [
            f"claps {reps}",
            f"claps their hands {reps}",
            f"claps the hands together {reps}",
            "claps in front of the chest",
        ]
    if kind == "punch":
        fist = _side_phrase(side, "fist")
        hand = "alternating both fists" if side == "both" else f"with the {side} fist"
        punches = f"{_number(p['repetitions'])} punches" if p["repetitions"] > 1 else "a punch"
        return [
            f"punches {reps} {hand}",
            f"throws {punches} {hand}",
            f"punches forward with {fist[0]}",
            f"raises a guard and punches {hand}",
        ]
    if kind == "throw":
        return [
            f"throws something overhand with the {side} hand",
            f"makes a throwing motion with the {side} arm",
            f"winds up and throws with the {side} arm",
        ]
    if kind == "reach":
        arm = _side_phrase(side, "arm")
        d = p["direction"]
        out = [f"reaches {d} with {a}" for a in arm] + [f"extends {arm[0]} {d}"]
        return out + ([f"stretches {arm[0]} out {d}"] if d in ("forward", "to the side") else [])
    if kind == "raise_arms":
        arm = _side_phrase(side, "arm")
        where = "above the head" if p["amplitude"] == "overhead" else "to shoulder height"
        plane = "in front" if p["direction"] == "forward" else "out to the side"
        times = f" {reps}" if p["repetitions"] > 1 else ""
        return [
            f"raises {arm[0]} {plane}{times}",
            f"lifts {arm[1]} {where}{times}",
            f"raises {arm[0]} {plane} {where}{times}",
            f"raises and lowers {arm[0]}{times}",
        ]
    if kind == "arm_circles":
        arm = _side_phrase(side, "arm")
        size = p["amplitude"]
        return [
            f"makes {size} {p['direction']} circles with {arm[0]}",
            f"circles {arm[1]} {p['direction']}",
            f"holds {arm[0]} out and rotates {'them' if side == 'both' else 'it'} {p['direction']} in {size} circles",
        ]
    if kind == "squat":
        depth = "deep " if p["amplitude"] == "deep" else "shallow "
        one = f"does a {depth}squat" if p["repetitions"] == 1 else f"does {_number(p['repetitions'])} {depth}squats"
        return [one, f"squats down and stands up {reps}", f"squats {reps}", f"performs {depth}squats"]
    if kind == "crouch":
        return [
            "crouches down and gets back up",
            "crouches low and then stands up",
            "squats down into a crouch, then rises",
        ]
    if kind == "sit_down":
        return ["sits down", "sits down on a chair", "lowers themselves onto a seat", "takes a seat"]
    if kind == "stand_up":
        return ["stands up from a chair", "gets up from sitting", "rises from a seat", "stands up"]
    if kind == "lunge":
        return [
            f"lunges forward with the {side} leg",
            f"steps forward into a lunge with the {side} foot",
            f"does a forward lunge on the {side} leg and steps back",
        ]
    if kind in ("jump_up", "jump_forward"):
        where = "forward" if kind == "jump_forward" else "up"
        times = f" {reps}" if p["repetitions"] > 1 else ""
        verb = "jumps forward" if where == "forward" else "jumps in place"
        return [f"{verb}{times}", f"jumps {where} with both feet{times}", f"bends the knees and jumps {where}{times}"]
    if kind == "hop":
        return [
            f"hops on the {side} foot {reps}",
            f"hops {reps} on the {side} leg",
            f"lifts one leg and hops on the {side} foot",
            f"stands on the {side} leg and hops",
        ]
    if kind == "jumping_jacks":
        return [f"does {_number(p['repetitions'])} jumping jacks", "does jumping jacks", "performs jumping jacks"]
    if kind == "kick":
        height = "high " if p["amplitude"] == "high" else ""
        return [
            f"kicks {height}with the {side} leg",
            f"does a {height}front kick with the {side} foot",
            f"kicks forward with the {side} foot",
        ]
    if kind == "balance":
        other = "right" if side == "left" else "left"
        return [
            f"balances on the {side} leg",
            f"stands on the {side} foot with the {other} leg raised",
            f"lifts the {other} leg and balances on one leg",
            "balances on one foot with the arms out",
        ]
    if kind == "bow":
        return [f"bows {p['amplitude']}", f"bows {p['amplitude']} from the waist", "bends forward in a bow"]
    if kind == "stretch_up":
        return [
            "stretches both arms up over the head",
            "reaches up high with both arms",
            "stretches upward with the arms above the head",
        ]
    if kind == "side_stretch":
        return [
            f"leans to the {side} in a side stretch",
            f"stretches by bending to the {side}",
            f"bends the upper body to the {side} with one arm over the head",
        ]
    if kind == "toe_touch":
        times = f" {reps}" if p["repetitions"] > 1 else ""
        # The hands get to about shin height, so no caption claims they touch the toes.
        return [
            f"bends forward and reaches down toward the toes{times}",
            f"reaches down towards the feet{times}",
            f"bends over toward the toes{times}",
            f"folds forward with the arms hanging down{times}",
        ]
    raise KeyError(f"no captions for kind {kind!r}")


def _tidy(text: str) -> str:
    return " ".join(text.split())


def captions_for(parts: list[tuple[str, dict]], rng: np.random.Generator, count: int = 4) -> list[str]:
    """`count` distinct captions for a sample made of `parts` [(kind, params), ...] in order."""
    options = [list(dict.fromkeys(_tidy(x) for x in phrases(kind, p))) for kind, p in parts]
    joins = (", then ", " and then ", ", and after that ")
    seen: list[str] = []
    for _ in range(count * 6):
        subject = SUBJECTS[rng.integers(len(SUBJECTS))]
        chosen = [opts[rng.integers(len(opts))] for opts in options]
        if len(chosen) == 1:
            text = f"{subject} {chosen[0]}"
        else:
            join = joins[rng.integers(len(joins))]
            text = (
                f"{subject} " + ", ".join(chosen[:-1]) + join + chosen[-1]
                if len(chosen) > 2
                else f"{subject} {chosen[0]}{join}{chosen[1]}"
            )
        text = _tidy(text)
        if text not in seen:
            seen.append(text)
        if len(seen) == count:
            break
    return seen
