"""Wording of the codes: noun phrases, pose phrases ("bent at a right angle") and imperative
instructions ("bend {} more"). Written for this project; the meaning of each class follows
PoseScript's `convert_posecodes` and PoseFix's `convert_codes` (Delmas et al. 2022/2023;
github.com/naver/posescript, `src/text2pose/posescript/captioning.py`, `src/text2pose/posefix/correcting.py`).
The first entry of every list is the one the
deterministic mode uses, so it is the plainest.
"""

from __future__ import annotations

PLURALS = {"foot": "feet", "upperarm": "upper arms", "hip": "hips"}
DISPLAY = {"upperarm": "upper arm"}

# Pose phrases after "is/are" (1 component) ...
POSE_1: dict[str, list[str]] = {
    "completely bent": ["completely bent", "fully bent", "bent as far as it goes"],
    "almost completely bent": ["almost completely bent", "sharply bent", "deeply bent"],
    "right angle": ["bent at a right angle", "bent at about 90 degrees", "bent in an L shape"],
    "partially bent": ["partly bent", "somewhat bent", "half bent"],
    "slightly bent": ["slightly bent", "a little bent", "barely bent"],
    "straight": ["straight", "fully extended", "unbent"],
    "close": ["close together", "next to each other", "held together"],
    "shoulder width": ["shoulder width apart", "about shoulder width apart", "a shoulder width apart"],
    "spread": ["spread wider than the shoulders", "spread apart", "apart, wider than the shoulders"],
    "wide": ["wide apart", "spread far apart", "very far apart"],
    "vertical": ["vertical", "upright", "straight up and down"],
    "horizontal": ["horizontal", "parallel to the floor", "level with the floor"],
    "crossed": ["crossed", "crossed over each other", "crossing each other"],
    "on_ground": ["on the ground", "on the floor", "resting on the floor"],
    "kneeling": ["kneeling", "on their knees", "down on both knees"],
    "kneel_on_left": ["kneeling on the left knee", "down on the left knee", "on the left knee"],
    "kneel_on_right": ["kneeling on the right knee", "down on the right knee", "on the right knee"],
}
# ... and before a second body part (2 components).
POSE_2: dict[str, list[str]] = {
    "close": ["close to", "next to", "near"],
    "shoulder width": ["about a shoulder width away from", "shoulder width apart from"],
    "spread": ["farther than shoulder width from", "spread apart from"],
    "wide": ["far from", "wide apart from"],
    "at_right": ["to the right of", "on the right side of", "further right than"],
    "at_left": ["to the left of", "on the left side of", "further left than"],
    "below": ["below", "lower than", "under"],
    "above": ["above", "higher than", "raised above"],
    "behind": ["behind", "further back than", "at the back of"],
    "front": ["in front of", "ahead of", "further forward than"],
    "xy-aligned": ["level with and in line with", "at the same height as, in line with"],
    "yz-aligned": ["level with", "at the same height as", "even with"],
    "xz-aligned": ["vertically in line with", "straight above or below"],
}

# Imperatives for paircodes, by (nature, magnitude 0 slight / 1 normal / 2 much); {} is the part.
PAIR: dict[tuple[str, int], list[str]] = {
    ("bent_more", 0): ["bend {} slightly more", "bend {} a bit more", "fold {} a little more"],
    ("bent_more", 1): ["bend {} more", "fold {} some more", "close {} some more"],
    ("bent_more", 2): ["bend {} much more", "fold {} a lot more", "close {} much more"],
    ("bent_less", 0): ["bend {} slightly less", "open {} a bit", "unfold {} a little"],
    ("bent_less", 1): ["bend {} less", "open {} some more", "unfold {} some more"],
    ("bent_less", 2): ["bend {} much less", "open {} a lot", "unfold {} a lot"],
    ("straighten", 1): ["straighten {}", "extend {} fully", "stretch {} out"],
    ("higher", 0): ["raise {} a little", "lift {} slightly", "bring {} up a bit"],
    ("higher", 1): ["raise {}", "lift {} up", "move {} higher"],
    ("lower", 0): ["lower {} a little", "bring {} down a bit", "drop {} slightly"],
    ("lower", 1): ["lower {}", "bring {} down", "move {} lower"],
    ("left", 0): ["move {} slightly to the left", "shift {} a bit to the left"],
    ("left", 1): ["move {} to the left", "swing {} to the left", "bring {} over to the left"],
    ("right", 0): ["move {} slightly to the right", "shift {} a bit to the right"],
    ("right", 1): ["move {} to the right", "swing {} to the right", "bring {} over to the right"],
    ("front", 0): ["move {} slightly forward", "bring {} a bit to the front"],
    ("front", 1): ["move {} forward", "bring {} to the front", "swing {} forward"],
    ("back", 0): ["move {} slightly back", "pull {} back a bit"],
    ("back", 1): ["move {} back", "pull {} backwards", "swing {} back"],
    ("closer", 0): ["move {} slightly closer together", "bring {} a bit closer together"],
    ("closer", 1): ["move {} closer together", "bring {} together", "draw {} in towards each other"],
    ("farther", 0): ["move {} slightly farther apart", "spread {} a little"],
    ("farther", 1): ["move {} farther apart", "spread {} apart", "pull {} away from each other"],
    ("closer_torso", 0): ["move {} slightly closer to your body", "tuck {} in a little"],
    ("closer_torso", 1): ["move {} closer to your body", "tuck {} in", "bring {} in to your body"],
    ("farther_torso", 0): ["move {} slightly farther from your body", "push {} out a little"],
    ("farther_torso", 1): [
        "move {} farther from your body",
        "move {} away from your body",
        "push {} out",
        "reach out with {}",
    ],
}

# Global orientation change of B relative to A (PoseFix's PAIR_GLOBAL_ROT_CHANGE classes).
ROTATION: dict[str, list[str]] = {
    "around": ["turn around", "turn to face the opposite direction", "turn 180 degrees"],
    "around to the right": ["turn around to the right", "turn most of the way round to the right"],
    "a quarter to the right": ["turn a quarter to the right", "turn 90 degrees to the right"],
    "slightly to the right": ["turn slightly to the right", "rotate a little to the right"],
    "slightly to the left": ["turn slightly to the left", "rotate a little to the left"],
    "a quarter to the left": ["turn a quarter to the left", "turn 90 degrees to the left"],
    "around to the left": ["turn around to the left", "turn most of the way round to the left"],
}

BODY_SUBJECTS = ["the person", "someone", "the figure", "this person", "the subject"]
SAME_POSES = "The two poses are the same."
NO_CHANGE = "The two poses are too similar for any change to be worth describing."
NO_DESCRIPTION = "The person is standing in a neutral pose."


def part_words(side: str | None, part: str) -> tuple[str, bool]:
    """Words for a sided body part (without determiner) and whether they are plural."""
    shown = DISPLAY.get(part, part)
    if side == "both":
        return PLURALS.get(part, shown + "s"), True
    if side is None:
        return shown, False
    return f"{side} {shown}", False


def capitalise(text: str) -> str:
    """Capitalise the first letter of every sentence and tidy spaces."""
    text = " ".join(text.split())
    out, upper = [], True
    for char in text:
        out.append(char.upper() if upper and char.isalpha() else char)
        if char.isalpha():
            upper = False
        elif char in ".!?":
            upper = True
    return "".join(out)
