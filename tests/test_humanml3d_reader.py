"""HumanML3D / KIT-ML folder reading and writing, text-line parsing, clear errors."""

from __future__ import annotations

import numpy as np
import pytest

from engine.errors import InputError
from engine.formats.humanml3d import (
    TextAnnotation,
    format_text_line,
    open_dataset,
    parse_text_line,
    write_mean_std,
    write_motion,
    write_split,
)

# Lines in the style of HumanML3D's texts/000000.txt.
LINES = [
    "a man kicks something or someone with his left leg.#a/DET man/NOUN kick/VERB something/PRON "
    "or/CCONJ someone/PRON with/ADP his/DET left/ADJ leg/NOUN#0.0#0.0",
    "the person is jumping#the/DET person/NOUN be/AUX jump/VERB#1.5#4.0",
    "someone waves #2#someone/PRON wave/VERB#nan#nan",
]


def test_parse_text_lines():
    first, second, third = (parse_text_line(line) for line in LINES)
    assert first.caption.startswith("a man kicks") and first.tokens[1] == "man/NOUN" and first.whole_clip
    assert (second.start, second.end) == (1.5, 4.0) and not second.whole_clip
    assert third.caption == "someone waves #2" and third.whole_clip  # '#' inside a caption, NaN times
    assert parse_text_line(format_text_line(second)) == second


@pytest.mark.parametrize(
    "line, problem",
    [
        ("no separators at all", "expected 'caption#"),
        ("a walk#a/DET walk/NOUN#zero#0.0", "not numbers"),
        ("a walk#a DET walk#0.0#0.0", "word/POS"),
    ],
)
def test_bad_text_lines(line, problem):
    with pytest.raises(InputError, match=problem):
        parse_text_line(line, "texts/x.txt", 3)


def _make(root, dim=263, joints=22, ids=("000001", "000002")):
    rng = np.random.default_rng(0)
    for n, motion_id in enumerate(ids):
        write_motion(
            root,
            motion_id,
            features=rng.normal(size=(40 + n, dim)),
            joints=rng.normal(size=(41 + n, joints, 3)),
            texts=[parse_text_line(LINES[0]), parse_text_line(LINES[1])],
        )
    write_split(root, "train", ids[:1])
    write_split(root, "all", ids)
    write_mean_std(root, np.zeros(dim), np.ones(dim))


def test_write_then_read_humanml3d_folder(tmp_path):
    _make(tmp_path)
    data = open_dataset(tmp_path)
    assert data.kind == "humanml3d" and data.feature_dim == 263 and data.num_joints == 22
    assert data.ids("train") == ["000001"] and data.ids() == ["000001", "000002"]
    feats = data.features("000002")
    assert feats.shape == (41, 263) and feats.dtype == np.float32
    assert data.joints("000001").shape == (41, 22, 3)
    texts = data.texts("000001")
    assert [t.caption for t in texts] == [
        "a man kicks something or someone with his left leg.",
        "the person is jumping",
    ]
    mean, std = data.mean_std()
    assert mean.shape == std.shape == (263,)


def test_kit_folder_is_detected(tmp_path):
    _make(tmp_path, dim=251, joints=21)
    data = open_dataset(tmp_path)
    assert data.kind == "kit" and data.joints("000001").shape == (41, 21, 3)


def test_missing_pieces_give_clear_errors(tmp_path):
    with pytest.raises(InputError, match="dataset folder not found"):
        open_dataset(tmp_path / "absent")
    with pytest.raises(InputError, match="neither new_joint_vecs"):
        open_dataset(tmp_path)
    _make(tmp_path)
    data = open_dataset(tmp_path)
    with pytest.raises(InputError, match=r"test.txt: split file missing \(present: train, all\)"):
        data.ids("test")
    with pytest.raises(InputError, match="motion '009999' has no new_joint_vecs"):
        data.features("009999")
    (tmp_path / "Std.npy").unlink()
    with pytest.raises(InputError, match="Std.npy: missing"):
        data.mean_std()
    np.save(tmp_path / "new_joint_vecs" / "000003.npy", np.zeros((5, 100)))
    with pytest.raises(InputError, match=r"expected \(T, 263\)"):
        data.features("000003")
    with pytest.raises(InputError, match="plain file name"):
        write_motion(tmp_path, "../evil", texts=[TextAnnotation("x", ("x/X",))])
