"""Caption text helpers: HumanML3D text lines, a small POS tagger, and left/right mirroring.

A HumanML3D text file holds one caption per line as `caption#tokens#start#end`, where tokens are
`lemma/POS` pairs (spaCy's universal tags) and start/end are seconds of a sub-span (0.0 = whole
clip). HumanML3D ran spaCy; we have no spaCy model installed and may not download one, so the tagger
here is hand-written: a lexicon of the words our caption builders use plus suffix rules for words
from users' own label files. It only needs to be good enough for the evaluator text encoder's
word/POS features, and every caption we write ourselves only uses lexicon words (a test checks it).

Run: `python -m trainer.data.captions "a person waves the left hand"` prints the text line.
"""

from __future__ import annotations

import re
import sys

# word -> (lemma, universal POS tag). Covers every word our own caption builders emit.
LEXICON: dict[str, tuple[str, str]] = {}


def _add(pos: str, words: str) -> None:
    for entry in words.split():
        word, _, lemma = entry.partition(":")
        LEXICON[word] = (lemma or word, pos)


_add("DET", "a an the their his her its both each one's")
_add("PRON", "someone somebody they it he she person's")
_add(
    "NOUN",
    "person:person people:person human:human figure:figure character:character "
    "hand:hand hands:hand arm:arm arms:arm way:way manner:manner style:style energy:energy "
    "man:man woman:woman body:body motion:motion air:air head:head side:side left:left "
    "right:right walk:walk run:run turn:turn pace:pace vigour:vigour mood:mood adult:adult "
    "fatigue:fatigue grace:grace strength:strength spring:spring step:step",
)
_add(
    "VERB",
    "walks:walk walking:walk walk:walk runs:run running:run run:run turns:turn "
    "turning:turn turn:turn waves:wave waving:wave wave:wave raises:raise raising:raise "
    "raise:raise lifts:lift lifting:lift lift:lift puts:put putting:put put:put holds:hold "
    "is:be are:be moves:move moving:move move:move goes:go going:go go:go makes:make "
    "strolls:stroll takes:take seems:seem looks:look tired:tire exhausted:exhaust "
    "heads:head bends:bend keeps:keep",
)
_add(
    "ADJ",
    "left right active energetic elderly old exhausted tired weary feminine masculine "
    "normal ordinary youthful young lively worn-out calm relaxed aged spirited upward",
)
_add(
    "ADV",
    "energetically actively vigorously wearily tiredly youthfully normally up upward "
    "upwards overhead around then while slowly briskly",
)
_add("ADP", "in with like of to as at into over above while for")
# Words of the procedural generator's captions and of common user labels.
_add(
    "VERB",
    "steps:step jogs:jog jumps:jump stands:stand reaches:reach does:do squats:squat "
    "stretches:stretch throws:throw punches:punch claps:clap hops:hop marches:march crouches:crouch "
    "bows:bow kicks:kick lowers:lower balances:balance rises:rise gets:get sits:sit winds:wind "
    "performs:perform extends:extend bending:bend lunges:lunge leans:lean shuffles:shuffle "
    "folds:fold hanging:hang taking:take raised:raise sitting:sit rotates:rotate throwing:throw "
    "jumping:jump circles:circle stretch:stretch squat:squat crouch:crouch kick:kick punch:punch "
    "lunge:lunge bow:bow jog:jog jump:jump sit:sit stand:stand",
)
_add(
    "NOUN",
    "leg:leg legs:leg foot:foot feet:foot front:front times:time knees:knee knee:knee "
    "place:place line:line jacks:jack seat:seat path:path toes:toe curve:curve spot:spot fist:fist "
    "fists:fist chair:chair shoulder:shoulder height:height waist:waist chest:chest guard:guard "
    "hello:hello direction:direction degrees:degree face:face lunge:lunge squat:squat",
)
_add(
    "ADV",
    "forward down twice steadily straight ahead slightly backward back out off overhand "
    "leisurely deeply diagonally together sideways away backwards once high low",
)
# Words of the Bandai dataset-1 captions (trainer.data.bandai1).
_add(
    "VERB",
    "answer:answer answering:answer backs:back breaks:break calls:call dances:dance dancing:dance "
    "dashes:dash gestures:gesture get:get gives:give looking:look points:point respond:respond "
    "say:say says:say shouts:shout show:show shows:show slashes:slash sprints:sprint "
    "swaggering:swagger swings:swing kicking:kick",
)
_add(
    "NOUN",
    "actor:actor attention:attention bye:bye child:child class:class confidence:confidence "
    "dance:dance flair:flair gangster:gangster giant:giant goodbye:goodbye kid:kid look:look "
    "lots:lot musical:musical performer:performer posture:posture punk:punk question:question "
    "speed:speed sprint:sprint stage:stage street:street swagger:swagger sword:sword thug:thug",
)
_add(
    "ADJ",
    "angry big cheerful childlike frail full furious happy heavy huge imaginary ladylike little long "
    "macho manly proud sad showy shy small-time theatrical thuggish timid unsure worn",
)
_add(
    "ADV",
    "angrily cheerfully childishly dejectedly furiously gloomily gracefully happily heavily hesitantly "
    "joyfully playfully proudly sadly shyly theatrically timidly",
)
_add("ADP", "without")
_add("ADP", "on after toward towards from along by onto")
_add("ADJ", "easy slow small upper shallow large deep other straight")
_add("NUM", "one two three four five six seven eight nine ten eleven")
_add("PRON", "something themselves them that")
_add("CCONJ", "and or but")
_add("SCONJ", "as if while")
_add("PART", "to not")
_add("PUNCT", ", .")

# Left/right words and what they become in a mirrored clip (HumanML3D mirrors text this way).
_MIRROR_WORDS = {
    "left": "right",
    "right": "left",
    "Left": "Right",
    "Right": "Left",
    "LEFT": "RIGHT",
    "RIGHT": "LEFT",
    "clockwise": "counterclockwise",
    "counterclockwise": "clockwise",
    "counter-clockwise": "clockwise",
    "anticlockwise": "clockwise",
    "anti-clockwise": "clockwise",
}
_MIRROR_PATTERN = re.compile(r"\b(" + "|".join(sorted(map(re.escape, _MIRROR_WORDS), key=len, reverse=True)) + r")\b")
_WORD_PATTERN = re.compile(r"[A-Za-z][A-Za-z'\-]*|\d+(?:\.\d+)?|[,.;:!?]")


def mirror_text(text: str) -> str:
    """Swap left/right (and clockwise/anticlockwise) words, as for a clip mirrored in x."""
    return _MIRROR_PATTERN.sub(lambda m: _MIRROR_WORDS[m.group(0)], text)


def _guess(word: str) -> tuple[str, str]:
    """Suffix rules for words outside the lexicon (users' own labels)."""
    if word.isdigit() or re.fullmatch(r"\d+\.\d+", word):
        return word, "NUM"
    if word.endswith("ly") and len(word) > 4:
        return word, "ADV"
    if word.endswith("ing") and len(word) > 5:
        return word[:-3], "VERB"
    if word.endswith("s") and not word.endswith("ss") and len(word) > 3:
        return word[:-1], "VERB" if word.endswith("es") else "NOUN"
    return word, "NOUN"


def tag_words(caption: str) -> list[tuple[str, str]]:
    """Split a caption into words and tag each as (lemma, POS); punctuation is dropped."""
    tagged = []
    for word in _WORD_PATTERN.findall(caption.lower()):
        lemma, pos = LEXICON.get(word) or _guess(word)
        if pos != "PUNCT":
            tagged.append((lemma, pos))
    return tagged


def unknown_words(caption: str) -> list[str]:
    """Words of a caption that the lexicon does not know (tagged by suffix rules instead)."""
    return [w for w in _WORD_PATTERN.findall(caption.lower()) if w not in LEXICON]


def tokens(caption: str) -> list[str]:
    """HumanML3D `lemma/POS` tokens of a caption."""
    return [f"{lemma}/{pos}" for lemma, pos in tag_words(caption)]


def text_line(caption: str, start: float = 0.0, end: float = 0.0) -> str:
    """One HumanML3D text line: `caption#lemma/POS ...#start#end` (start = end = 0: whole clip)."""
    caption = " ".join(caption.replace("#", " ").split())
    tokens = " ".join(f"{lemma}/{pos}" for lemma, pos in tag_words(caption))
    return f"{caption}#{tokens}#{start:.1f}#{end:.1f}"


if __name__ == "__main__":
    for arg in sys.argv[1:] or ["a person waves the left hand"]:
        print(text_line(arg))
        print(text_line(mirror_text(arg)))
