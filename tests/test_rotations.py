"""Rotation maths against scipy on random batches, for numpy and torch, plus edge cases.

Run: pytest -q tests/test_rotations.py
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from engine.errors import InputError
from engine.motion import rotations as R

RNG = np.random.default_rng(1234)
N = 256


def _random_quats(n: int = N) -> np.ndarray:
    return Rotation.random(n, random_state=7).as_quat(scalar_first=True)


def _same_rotation(q1, q2, atol=1e-9) -> None:
    """q and -q are the same rotation: compare |dot| with 1."""
    q1, q2 = np.asarray(q1), np.asarray(q2)
    dots = np.abs(np.sum(q1 * q2, axis=-1))
    np.testing.assert_allclose(dots, 1.0, atol=atol)


BACKENDS = [lambda x: np.asarray(x), lambda x: torch.as_tensor(x, dtype=torch.float64)]
IDS = ["numpy", "torch"]


def _np(x):
    return x.detach().numpy() if isinstance(x, torch.Tensor) else x


@pytest.mark.parametrize("wrap", BACKENDS, ids=IDS)
def test_quat_to_matrix_matches_scipy(wrap):
    q = _random_quats()
    got = _np(R.quat_to_matrix(wrap(q)))
    np.testing.assert_allclose(got, Rotation.from_quat(q, scalar_first=True).as_matrix(), atol=1e-12)


@pytest.mark.parametrize("wrap", BACKENDS, ids=IDS)
def test_matrix_to_quat_round_trip_and_sign(wrap):
    q = _random_quats()
    m = Rotation.from_quat(q, scalar_first=True).as_matrix()
    back = _np(R.matrix_to_quat(wrap(m)))
    _same_rotation(back, q)
    assert (back[:, 0] >= 0).all()


@pytest.mark.parametrize("wrap", BACKENDS, ids=IDS)
def test_multiply_and_apply_match_scipy(wrap):
    a, b = _random_quats(), Rotation.random(N, random_state=8).as_quat(scalar_first=True)
    v = RNG.normal(size=(N, 3))
    ab = _np(R.quat_multiply(wrap(a), wrap(b)))
    ra, rb = Rotation.from_quat(a, scalar_first=True), Rotation.from_quat(b, scalar_first=True)
    _same_rotation(ab, (ra * rb).as_quat(scalar_first=True))
    np.testing.assert_allclose(_np(R.quat_apply(wrap(a), wrap(v))), ra.apply(v), atol=1e-12)
    ident = _np(R.quat_multiply(wrap(a), R.quat_conjugate(wrap(a))))
    _same_rotation(ident, np.tile([1.0, 0, 0, 0], (N, 1)))
    np.testing.assert_allclose(_np(R.quat_inverse(wrap(2 * a))), R.quat_conjugate(a) / 2, atol=1e-12)


@pytest.mark.parametrize("wrap", BACKENDS, ids=IDS)
def test_axis_angle_matches_scipy_including_zero_and_pi(wrap):
    aa = Rotation.random(N, random_state=9).as_rotvec()
    aa[0] = 0.0
    aa[1] = [np.pi, 0.0, 0.0]
    aa[2] = [1e-9, 0.0, 0.0]
    q = _np(R.axis_angle_to_quat(wrap(aa)))
    _same_rotation(q, Rotation.from_rotvec(aa).as_quat(scalar_first=True))
    back = _np(R.quat_to_axis_angle(wrap(q)))
    # angle = pi is ambiguous in sign of the axis; compare as rotations.
    np.testing.assert_allclose(Rotation.from_rotvec(back).as_matrix(), Rotation.from_rotvec(aa).as_matrix(), atol=1e-9)
    np.testing.assert_allclose(back[3:], aa[3:], atol=1e-9)
    m = _np(R.axis_angle_to_matrix(wrap(aa)))
    np.testing.assert_allclose(m, Rotation.from_rotvec(aa).as_matrix(), atol=1e-12)
    np.testing.assert_allclose(_np(R.matrix_to_axis_angle(wrap(m)))[3:], aa[3:], atol=1e-9)


def test_sixd_is_first_two_columns_and_round_trips():
    m = Rotation.random(N, random_state=10).as_matrix()
    d6 = R.matrix_to_sixd(m)
    np.testing.assert_array_equal(d6[:, :3], m[:, :, 0])
    np.testing.assert_array_equal(d6[:, 3:], m[:, :, 1])
    np.testing.assert_allclose(R.sixd_to_matrix(d6), m, atol=1e-12)
    # Gram-Schmidt: a scaled, slightly sheared 6D still maps to a proper rotation.
    noisy = d6 * 3.0 + RNG.normal(scale=0.01, size=d6.shape)
    out = R.sixd_to_matrix(torch.as_tensor(noisy)).numpy()
    np.testing.assert_allclose(out @ np.swapaxes(out, -1, -2), np.broadcast_to(np.eye(3), out.shape), atol=1e-12)
    np.testing.assert_allclose(np.linalg.det(out), 1.0, atol=1e-12)
    _same_rotation(R.sixd_to_quat(R.quat_to_sixd(_random_quats())), _random_quats())


@pytest.mark.parametrize("wrap", BACKENDS, ids=IDS)
def test_quat_between_including_antiparallel(wrap):
    u = RNG.normal(size=(N, 3))
    v = RNG.normal(size=(N, 3))
    v[0] = -u[0] * 2.0  # exactly opposite
    v[1] = u[1]  # identical
    u[2] = [0.0, 1.0, 0.0]
    v[2] = [0.0, -1.0, 0.0]  # opposite, along y
    u[3] = [1.0, 0.0, 0.0]
    v[3] = [-1.0, 0.0, 0.0]  # opposite, along x
    q = _np(R.quat_between(wrap(u), wrap(v)))
    assert np.isfinite(q).all()
    np.testing.assert_allclose(np.linalg.norm(q, axis=-1), 1.0, atol=1e-12)
    rotated = R.quat_apply(q, u / np.linalg.norm(u, axis=-1, keepdims=True))
    np.testing.assert_allclose(rotated, v / np.linalg.norm(v, axis=-1, keepdims=True), atol=1e-9)
    _same_rotation(q[1], [1.0, 0.0, 0.0, 0.0])


def test_quat_between_zero_vector_gives_identity():
    q = R.quat_between(np.zeros(3), np.array([0.0, 1.0, 0.0]))
    np.testing.assert_allclose(q, [1.0, 0.0, 0.0, 0.0])


@pytest.mark.parametrize("wrap", BACKENDS, ids=IDS)
def test_slerp_matches_scipy(wrap):
    from scipy.spatial.transform import Slerp

    q0, q1 = _random_quats(32), Rotation.random(32, random_state=11).as_quat(scalar_first=True)
    q1[0] = q0[0]  # identical endpoints: the lerp branch
    for t in (0.0, 0.3, 1.0):
        got = _np(R.quat_slerp(wrap(q0), wrap(q1), t))
        for i in range(32):
            key = Rotation.from_quat(np.stack([q0[i], q1[i]]), scalar_first=True)
            want = Slerp([0.0, 1.0], key)([t]).as_quat(scalar_first=True)[0]
            _same_rotation(got[i], want, atol=1e-8)


@pytest.mark.parametrize("order", ["ZXY", "XYZ", "YXZ", "zyx", "xzy"])
def test_euler_numpy_and_torch_agree_with_scipy(order):
    angles = RNG.uniform(-180, 180, size=(N, 3))
    want = Rotation.from_euler(order, angles, degrees=True).as_quat(scalar_first=True)
    _same_rotation(R.euler_to_quat(angles, order), want)
    _same_rotation(R.euler_to_quat(torch.as_tensor(angles), order).numpy(), want)
    back = R.quat_to_euler(want, order)
    _same_rotation(Rotation.from_euler(order, back, degrees=True).as_quat(scalar_first=True), want)


def test_identity_everywhere():
    ident = R.quat_identity((5,))
    np.testing.assert_array_equal(R.quat_to_matrix(ident), np.broadcast_to(np.eye(3), (5, 3, 3)))
    np.testing.assert_allclose(R.matrix_to_quat(np.eye(3)), [1.0, 0, 0, 0])
    np.testing.assert_allclose(R.quat_to_axis_angle(ident), np.zeros((5, 3)))
    np.testing.assert_allclose(R.euler_to_quat(np.zeros(3), "ZXY"), [1.0, 0, 0, 0])


def test_matrix_to_quat_at_180_degrees():
    for axis in np.eye(3):
        m = Rotation.from_rotvec(np.pi * axis).as_matrix()
        q = R.matrix_to_quat(m)
        np.testing.assert_allclose(np.abs(q[1:]), axis, atol=1e-12)


def test_quat_fix_makes_sequence_continuous():
    q = _random_quats(50)
    q = R.quat_slerp(q[:1], q[1:2], np.linspace(0, 1, 50))  # smooth path (50, 4)
    flipped = q * np.where(RNG.random(50) < 0.5, -1.0, 1.0)[:, None]
    fixed = R.quat_fix(flipped)
    assert (np.sum(fixed[1:] * fixed[:-1], axis=-1) > 0).all()
    fixed_t = R.quat_fix(torch.as_tensor(flipped)).numpy()
    np.testing.assert_allclose(fixed_t, fixed)


def test_torch_gradients_are_finite_at_singular_points():
    aa = torch.zeros(4, 3, dtype=torch.float64, requires_grad=True)
    q = R.axis_angle_to_quat(aa)
    m = R.quat_to_matrix(q)
    back = R.matrix_to_axis_angle(m)
    (back.sum() + R.sixd_to_matrix(R.matrix_to_sixd(m)).sum()).backward()
    assert torch.isfinite(aa.grad).all()
    u = torch.tensor([[0.0, 1.0, 0.0]], dtype=torch.float64, requires_grad=True)
    R.quat_between(u, torch.tensor([[0.0, -1.0, 0.0]], dtype=torch.float64)).sum().backward()
    assert torch.isfinite(u.grad).all()


def test_float32_torch_stays_float32():
    q = torch.as_tensor(_random_quats(8), dtype=torch.float32)
    assert R.quat_apply(q, torch.ones(8, 3)).dtype == torch.float32
    assert R.matrix_to_quat(R.quat_to_matrix(q)).dtype == torch.float32


def test_bad_shapes_raise_input_error():
    with pytest.raises(InputError, match=r"\(\.\.\., 4\)"):
        R.quat_to_matrix(np.zeros((3, 3)))
    with pytest.raises(InputError, match=r"\(\.\.\., 3, 3\)"):
        R.matrix_to_quat(np.zeros((4, 3)))
    with pytest.raises(InputError, match="Euler order"):
        R.euler_to_quat(np.zeros(3), "ZxY")
