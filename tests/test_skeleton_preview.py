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


def _ink_columns(image: np.ndarray) -> np.ndarray:
    return np.nonzero((image < 128).any(axis=0))[0]


def test_gif_has_one_picture_per_frame_and_the_view_follows_the_body(tmp_path):
    # Changed on purpose: the camera now tracks the pelvis (before, a fixed box held the whole
    # path, so a figure crossing it was tiny). The figure stays in the middle; the floor ticks move.
    rest = skeleton.default_rest_positions()
    motion = np.repeat(rest[None], 10, axis=0)
    motion[:, :, 0] += np.linspace(0.0, 3.0, 10)[:, None]  # walk sideways three metres
    path = preview.save_gif(motion, tmp_path / "walk.gif")
    with Image.open(path) as gif:
        assert gif.n_frames == 10
        gif.seek(0)
        first = np.asarray(gif.convert("RGB"))
        gif.seek(9)
        last = np.asarray(gif.convert("RGB"))
    for frame in (first, last):
        body = frame[40:280].min(axis=-1)  # below the labels, above the floor ticks
        assert 100 < _ink_columns(body).mean() < 220  # the figure near the middle of a 320 px picture
    # The floor ticks (light grey, under the floor line) slide as the camera follows.
    ticks_first = np.nonzero((first[:, :, 0] == 200).sum(axis=0) >= 3)[0]
    ticks_last = np.nonzero((last[:, :, 0] == 200).sum(axis=0) >= 3)[0]
    assert len(ticks_first) and set(ticks_first) != set(ticks_last)


def test_a_standing_figure_fills_most_of_the_picture_height():
    (image,) = preview.render_frames(skeleton.default_rest_positions()[None], size=320)
    pixels = np.asarray(image).astype(int)
    # Bone pixels only: the dark spine/head and the saturated left/right colours (not the grey floor).
    dark = pixels.max(axis=-1) < 100
    coloured = (np.abs(pixels - preview.LEFT_COLOUR).sum(-1) < 60) | (
        np.abs(pixels - preview.RIGHT_COLOUR).sum(-1) < 60
    )
    rows = np.nonzero((dark | coloured)[30:].any(axis=1))[0]  # below the label / legend line
    assert rows.max() - rows.min() > 0.6 * 320


def test_title_legend_and_time_labels_are_drawn(tmp_path):
    motion = np.repeat(skeleton.default_rest_positions()[None], 40, axis=0)
    plain = np.asarray(preview.render_frames(motion, size=320, only=[0], legend=False, labels=[""] * 40)[0])
    titled = np.asarray(preview.render_frames(motion, size=320, only=[0], title="a person stands still")[0])
    assert (plain[:14] > 250).all() and (titled[:14] < 128).any()  # the title band has text
    legend = titled[14:40, 200:]  # top-right under the title: a blue and a red key
    assert (np.abs(legend.astype(int) - preview.LEFT_COLOUR).sum(-1) < 30).sum() > 10
    assert (np.abs(legend.astype(int) - preview.RIGHT_COLOUR).sum(-1) < 30).sum() > 10
    strip = preview.filmstrip(motion, count=4, size=150, title="a person stands still")
    assert strip.size[0] == 4 * 150 and strip.size[1] > 150  # a title band over the panels
    panels = np.asarray(strip)[strip.size[1] - 150 :]
    for k in range(4):  # each panel's top-left corner carries its time (grey text)
        corner = panels[2:14, k * 150 + 2 : k * 150 + 60]
        assert (corner < 200).any(), k


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
