"""A small parser from a pose-editing command to what it asks for: body part, side, direction, degree.

    >>> parse_command("raise your left arm slightly")
    [Goal(kind='raise', sides=('left',), part='hand', scale=0.5, target=None, degrees=None)]

The vocabulary is the rule-based describer's (engine/describe/templates.py: raise/lower, bend/straighten,
closer/farther, forward/back/left/right, lean) plus the words animators use for it ("bring up",
"overhead", "akimbo"). Degree words scale the edit ("slightly" x0.5, "a lot" x1.6, "all the way" x2);
targets ("to shoulder height", "above your head", "90 degrees", "by your side") replace the amount.
A command the parser does not understand gives no goal: the editor then returns the CVAE's own edit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

SCALE_SLIGHT = 0.5
SCALE_MUCH = 1.6
SCALE_FULL = 2.0

# Word -> part: 'hand' (wrist is the effector), 'elbow', 'knee', 'foot', 'torso'.
_PARTS: tuple[tuple[str, str, bool], ...] = (  # (regex, part, plural)
    (r"upper ?arms", "elbow", True),
    (r"upper ?arm", "elbow", False),
    (r"forearms|arms|hands|wrists|fists|palms", "hand", True),
    (r"forearm|arm|hand|wrist|fist|palm", "hand", False),
    (r"elbows", "elbow", True),
    (r"elbow", "elbow", False),
    (r"knees|thighs", "knee", True),
    (r"knee|thigh", "knee", False),
    (r"legs|feet|ankles|heels|toes", "foot", True),
    (r"leg|foot|ankle|heel|toe", "foot", False),
    (r"stance", "foot", True),
    (r"torso|chest|upper body|trunk|head|back|body|shoulders|waist", "torso", False),
)
_SLIGHT = (
    r"\b(slightly|a little|a bit|a touch|a tad|just a bit|barely|small|little|gentle|gently|subtle|"
    r"a few (?:cm|centimetres|centimeters|inches))\b"
)
_MUCH = r"\b(a lot|much|way|far|really|very|as far|as high|high up|high|big|deep|deeply|hard|strongly)\b"
_FULL = r"\b(all the way|fully|completely|as far as (?:you|it) can|as high as (?:you|it) can)\b"
_HEAD = r"\b(above (?:your|the) head|over (?:your|the) head|overhead|sky|ceiling|straight up)\b"
_SHOULDER = r"\b(to shoulder (?:height|level)|level with (?:your|the) shoulders?|shoulder[- ]high|horizontal)\b"
_SIDE_REST = r"\b(by your sides?|at your sides?|to your sides?|down to your sides?|hang(?:ing)? down|dangle)\b"
_HIPS = r"\b((?:on|to) (?:your |the )?(?:hips|waist)|akimbo)\b"
_TOGETHER = (
    r"\b(together|touch(?:ing)? each other|meet|clasp|close the gap|closer to each other|in toward each other)\b"
)
_APART = r"\b(apart|spread|wider|wide|widen|further from each other|farther from each other|away from each other)\b"
_BEND = r"\b(bend|bent|flex|crook|fold|tuck|deepen|sink)\b"
_STRAIGHT = r"\b(straighten|extend|unbend|lock out|lock|straight(?! ahead| up| out| down| back| in))\b"
_LEAN = r"\b(lean|tilt|tip|bow|hunch|slouch|incline|arch)\b"
_UP = r"\b(raise|lift|up|upward|upwards|higher|hoist|overhead|above|elevate|reach up)\b"
_DOWN = r"\b(lower|drop|down|lower down|let .* (?:hang|fall)|relax|sink)\b"
_FORWARD = r"\b(forward|forwards|in front|ahead|out front|front)\b"
_BACK = r"\b(back|backward|backwards|behind|rearward)\b"
_OUT = r"\b(to the side|sideways|out to|outward|outwards|out wide|out to the side|away from your body|laterally)\b"
_TO_LEFT = r"\b(to (?:the|your) left|leftward|leftwards)\b"
_TO_RIGHT = r"\b(to (?:the|your) right|rightward|rightwards)\b"


@dataclass(frozen=True)
class Goal:
    """One thing a command asks for.

    kind: raise, lower, forward, back, out, left, right (move the part that way), bend, straighten
    (the elbow or knee), closer, apart (the two sides' parts), lean_forward/back/left/right,
    hands_on_hips. part: hand, elbow, knee, foot or torso. sides: ('left',), ('right',) or both.
    scale: the degree word's factor. target: 'head', 'shoulder' or 'side' (an absolute height).
    degrees: an explicit joint angle to bend to (interior angle), None otherwise.
    """

    kind: str
    sides: tuple[str, ...]
    part: str
    scale: float = 1.0
    target: str | None = None
    degrees: float | None = None


def _find_part(text: str) -> tuple[str | None, tuple[str, ...], int]:
    """The first body part named, its sides and its position in the text."""
    best = None
    for pattern, part, plural in _PARTS:
        for match in re.finditer(rf"\b(?:(left|right|both)\s+)?({pattern})\b", text):
            if best is None or match.start() < best[0]:
                side = match.group(1)
                if side in ("left", "right"):
                    sides = (side,)
                elif side == "both" or plural:
                    sides = ("left", "right")
                else:
                    sides = ("right",)  # one unnamed arm or leg: the right one
                best = (match.start(), part, sides)
    if best is None:
        return None, (), -1
    return best[1], best[2], best[0]


def _scale(text: str) -> float:
    if re.search(_FULL, text):
        return SCALE_FULL
    if re.search(_SLIGHT, text):
        return SCALE_SLIGHT
    if re.search(_MUCH, text):
        return SCALE_MUCH
    return 1.0


def _lean_direction(text: str) -> str:
    if re.search(_BACK, text) and not re.search(r"\b(forward|front)\b", text):
        return "back"
    if re.search(r"\bleft\b", text):
        return "left"
    if re.search(r"\bright\b", text):
        return "right"
    return "forward"


def parse_command(text: str) -> list[Goal]:
    """Goals of one command (lower-cased, punctuation ignored); [] when nothing is understood."""
    text = " ".join(re.sub(r"[^a-z0-9 ]+", " ", text.lower()).split())
    scale = _scale(text)
    if re.search(_HIPS, text):
        return [Goal("hands_on_hips", ("left", "right"), "hand", scale)]
    part, sides, _ = _find_part(text)
    lean = re.search(_LEAN, text) or re.search(r"\bbend (over|forward|backward|back|sideways)\b", text)
    if lean and part in (None, "torso") or (part == "torso" and re.search(r"\b(forward|back|left|right)\b", text)):
        return [Goal("lean_" + _lean_direction(text), (), "torso", scale)]
    if part is None:
        return []
    degrees = re.search(r"\b(\d{2,3}) ?(?:degrees|deg)\b", text)
    angle = float(degrees.group(1)) if degrees else (90.0 if re.search(r"right angle|l shape", text) else None)
    if part in ("hand", "foot", "knee", "elbow") and len(sides) == 2:
        if re.search(_TOGETHER, text):
            return [Goal("closer", sides, part, scale)]
        if re.search(_APART, text) and not re.search(_UP, text):
            return [Goal("apart", sides, part, scale)]
    if re.search(_STRAIGHT, text) and not re.search(r"\bstraight up\b", text):
        joint = "elbow" if part in ("hand", "elbow") else "knee"
        return [Goal("straighten", sides, joint, scale)]
    if re.search(_BEND, text) and not re.search(_UP, text):
        joint = "elbow" if part in ("hand", "elbow") else "knee"
        return [Goal("bend", sides, joint, scale, degrees=angle)]
    if re.search(_HEAD, text):
        return [Goal("raise", sides, part, scale, target="head")]
    if re.search(_SHOULDER, text):
        return [Goal("raise", sides, part, scale, target="shoulder")]
    if re.search(_SIDE_REST, text):
        return [Goal("lower", sides, part, scale, target="side")]
    for kind, pattern in (
        ("out", _OUT),
        ("left", _TO_LEFT),
        ("right", _TO_RIGHT),
        ("forward", _FORWARD),
        ("raise", _UP),
        ("lower", _DOWN),
        ("back", _BACK),
    ):
        if re.search(pattern, text):
            return [Goal(kind, sides, part, scale)]
    return []
