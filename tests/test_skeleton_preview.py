"""The SMPL-22 constants agree with HumanML3D's chains, and previews draw what they are given."""

import numpy as np
import pytest
from PIL import Image

from engine.errors import InputError
from engine.motion import preview, skeleton


def test_parents_follow_the_humanml3d_kinematic_chains():
    for chain in skeleton.KINEMATIC_CHAINS:
        for parent, child in zip(chain[:-1], chain[1:]):
            assert skeleton.PARENTS[child] == parent
    assert all(skeleton.PARENTS[j] < j for j in range(1, skeleton.NUM_JOINTS))


def test_mirror_map_swaps_left_and_right_names():
    for joint, mirrored in enumerate(skeleton.MIRROR_MAP):
        name, other = skeleton.JOINT_NAMES[joint], skeleton.JOINT_NAMES[mirrored]
        assert name.replace("left", "#").replace("right", "left").replace("#", "right") == other
    assert all(skeleton.MIRROR_MAP[m] == j for j, m in enumerate(skeleton.MIRROR_MAP))


def test_default_rest_skeleton_is_an_adult_standing_on_the_floor_facing_z():
    rest = skeleton.default_rest_positions()
    assert rest[:, 1].min() == pytest.approx(0.0)
    height = rest[skeleton.JOINT_INDEX["head"], 1] - rest[:, 1].min()
    assert 1.3 < height < 1.7  # head joint sits ~0.15 m below the top of the skull
    assert rest[skeleton.JOINT_INDEX["left_wrist"], 0] > 0.5 > -0.5 > rest[skeleton.JOINT_INDEX["right_wrist"], 0]
    assert rest[skeleton.JOINT_INDEX["left_foot"], 2] > rest[skeleton.JOINT_INDEX["left_ankle"], 2]  # toes forward
    lengths = skeleton.bone_lengths(rest)
    left = [left_joint for left_joint, _ in skeleton.LEFT_RIGHT_PAIRS]
    right = [r for _, r in skeleton.LEFT_RIGHT_PAIRS]
    np.testing.assert_allclose(lengths[left], lengths[right], atol=0.02)


def test_gif_has_one_picture_per_frame_and_the_figure_moves(tmp_path):
    rest = skeleton.default_rest_positions()
    motion = np.repeat(rest[None], 10, axis=0)
    motion[:, :, 0] += np.linspace(0.0, 1.0, 10)[:, None]  # walk sideways one metre
    path = preview.save_gif(motion, tmp_path / "walk.gif")
    with Image.open(path) as gif:
        assert gif.n_frames == 10
        gif.seek(0)
        first = np.asarray(gif.convert("L"))
        gif.seek(9)
        last = np.asarray(gif.convert("L"))
    ink_first = np.nonzero((first < 128).any(axis=0))[0].mean()
    ink_last = np.nonzero((last < 128).any(axis=0))[0].mean()
    assert ink_last > ink_first + 20  # the figure moved right across the picture


def test_png_frame_and_filmstrip(tmp_path):
    motion = np.repeat(skeleton.default_rest_positions()[None], 12, axis=0)
    single = Image.open(preview.save_png(motion, tmp_path / "one.png", frame=3, size=200))
    strip = Image.open(preview.save_png(motion, tmp_path / "strip.png", size=150))
    assert single.size == (200, 200)
    assert strip.size[0] == 6 * strip.size[1]


@pytest.mark.parametrize("bad", [np.zeros((5, 21, 3)), np.full((3, 22, 3), np.nan), np.zeros((0, 22, 3))])
def test_preview_rejects_bad_arrays_with_a_clear_error(bad, tmp_path):
    with pytest.raises(InputError, match="22|finite"):
        preview.save_gif(bad, tmp_path / "x.gif")
