"""Rotation maths for numpy arrays AND torch tensors: quaternions, matrices, axis-angle, 6D, Euler.

Every function takes either backend and returns the same backend (dispatch on the input type), is
batched over leading dimensions, and the torch path is differentiable (used inside models).
Conventions:
- quaternions are `(..., 4)` in (w, x, y, z) order, Hamilton product, active rotations;
  `quat_multiply(a, b)` applies b first, then a (like matrix products);
- matrices are `(..., 3, 3)` acting on column vectors;
- the continuous 6D representation (Zhou et al. 2019) is HumanML3D's `quaternion_to_cont6d`:
  the first two COLUMNS of the matrix concatenated, `[r00, r10, r20, r01, r11, r21]`
  (pytorch3d's `matrix_to_rotation_6d` takes ROWS instead; we follow HumanML3D because the
  263-dim features store these numbers);
- functions returning quaternions from other forms give w >= 0 (the sign is otherwise free).

Why hand-written rather than scipy: one code path serves numpy and torch (with gradients), so the
two backends agree to rounding; scipy.spatial.transform is the oracle in tests/test_rotations.py
and does the Euler-angle work for numpy. Run the tests with `pytest -q tests/test_rotations.py`.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

from engine.errors import InputError

Array = Any  # np.ndarray or torch.Tensor; the function returns the same kind it was given.

SMALL_ANGLE_SQ = 1e-12  # below this squared angle use Taylor series (avoids 0/0 and NaN gradients)
ANTIPARALLEL_SQ = 1e-14  # quat_between: |cross|^2 + w^2 below this (relative) means u = -v


def _is_torch(x: Any) -> bool:
    torch = sys.modules.get("torch")  # no import: if torch is not loaded, x cannot be a tensor
    return torch is not None and isinstance(x, torch.Tensor)


def _xp(x: Any):
    """The array namespace of x: numpy or torch (their function names used here coincide)."""
    return sys.modules["torch"] if _is_torch(x) else np


def _as_array(x: Any) -> Array:
    if _is_torch(x):
        return x if x.is_floating_point() else x.double()
    x = np.asarray(x)
    return x if np.issubdtype(x.dtype, np.floating) else x.astype(np.float64)


def _check(x: Any, tail: tuple[int, ...], name: str) -> Array:
    x = _as_array(x)
    if len(x.shape) < len(tail) or tuple(x.shape[len(x.shape) - len(tail) :]) != tail:
        want = "(..., " + ", ".join(map(str, tail)) + ")"
        raise InputError(f"{name} must have shape {want}, got {tuple(x.shape)}; reshape it first.")
    return x


def _sum(x: Array, keepdims: bool = False) -> Array:
    if _is_torch(x):
        return x.sum(dim=-1, keepdim=keepdims)
    return x.sum(axis=-1, keepdims=keepdims)


def _cat(xs: list, like: Array) -> Array:
    return _xp(like).cat(xs, -1) if _is_torch(like) else np.concatenate(xs, -1)


def _stack(xs: list, like: Array) -> Array:
    return _xp(like).stack(xs, -1)


def _cross(a: Array, b: Array) -> Array:
    """Broadcasting cross product over the last axis (same formula for both backends)."""
    ax, ay, az = a[..., 0], a[..., 1], a[..., 2]
    bx, by, bz = b[..., 0], b[..., 1], b[..., 2]
    return _stack([ay * bz - az * by, az * bx - ax * bz, ax * by - ay * bx], a)


def _broadcast(a: Array, b: Array) -> tuple[Array, Array]:
    if _is_torch(a) or _is_torch(b):
        torch = sys.modules["torch"]
        a, b = torch.as_tensor(a), torch.as_tensor(b)
        dtype = torch.promote_types(a.dtype, b.dtype)
        a, b = a.to(dtype), b.to(device=a.device, dtype=dtype)
    return a, b


# --------------------------------------------------------------------------- quaternions
def quat_identity(shape: tuple[int, ...] = (), like: Array | None = None) -> Array:
    """Identity quaternions `shape + (4,)`, numpy float64 unless `like` is a tensor."""
    q = np.zeros(tuple(shape) + (4,))
    q[..., 0] = 1.0
    if like is not None and _is_torch(like):
        return sys.modules["torch"].as_tensor(q, dtype=like.dtype, device=like.device)
    return q


def quat_normalize(q: Array, eps: float = 1e-12) -> Array:
    """Unit quaternions `(..., 4)`; a zero quaternion stays (near) zero instead of NaN."""
    q = _check(q, (4,), "quaternion")
    return q / _xp(q).sqrt(_sum(q * q, keepdims=True) + eps * eps)


def quat_standardize(q: Array) -> Array:
    """Flip signs so that w >= 0 (q and -q are the same rotation)."""
    q = _check(q, (4,), "quaternion")
    return _xp(q).where(q[..., :1] < 0, -q, q)


def quat_conjugate(q: Array) -> Array:
    """(w, -x, -y, -z): the inverse of a unit quaternion."""
    q = _check(q, (4,), "quaternion")
    return _cat([q[..., :1], -q[..., 1:]], q)


def quat_inverse(q: Array) -> Array:
    """Inverse of any non-zero quaternion (conjugate over squared norm)."""
    q = _check(q, (4,), "quaternion")
    return quat_conjugate(q) / _sum(q * q, keepdims=True)


def quat_multiply(a: Array, b: Array) -> Array:
    """Hamilton product a * b, broadcasting; rotating by the result = rotate by b, then by a."""
    a, b = _broadcast(_check(a, (4,), "quaternion a"), _check(b, (4,), "quaternion b"))
    aw, ax, ay, az = a[..., 0], a[..., 1], a[..., 2], a[..., 3]
    bw, bx, by, bz = b[..., 0], b[..., 1], b[..., 2], b[..., 3]
    return _stack(
        [
            aw * bw - ax * bx - ay * by - az * bz,
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
        ],
        a,
    )


def quat_apply(q: Array, v: Array) -> Array:
    """Rotate vectors `(..., 3)` by unit quaternions `(..., 4)` (shapes broadcast)."""
    q, v = _broadcast(_check(q, (4,), "quaternion"), _check(v, (3,), "vectors"))
    u = q[..., 1:]
    uv = _cross(u, v)
    return v + 2.0 * (q[..., :1] * uv + _cross(u, uv))


def quat_fix(q: Array) -> Array:
    """Temporal sign continuity along axis 0: flip q[t] when it points away from q[t-1].

    `(T, ..., 4)` -> same; like HumanML3D's `qfix` but for any trailing shape.
    """
    q = _check(q, (4,), "quaternion")
    xp = _xp(q)
    if q.shape[0] < 2:
        return q
    flips = (_sum(q[1:] * q[:-1]) < 0) * 1
    parity = xp.cumsum(flips, 0) % 2
    sign = 1 - 2 * parity[..., None]
    return xp.cat([q[:1], q[1:] * sign], 0) if _is_torch(q) else np.concatenate([q[:1], q[1:] * sign], 0)


def quat_between(u: Array, v: Array) -> Array:
    """Shortest-arc unit quaternion rotating direction u onto direction v, `(..., 3)` -> `(..., 4)`.

    Same formula as HumanML3D's `qbetween` (w = |u||v| + u.v, xyz = u x v, normalised), plus a
    fallback where HumanML3D gives NaN: for u = -v a 180 degree turn about an axis perpendicular
    to u. Zero-length inputs give the identity.
    """
    u, v = _broadcast(_check(u, (3,), "direction u"), _check(v, (3,), "direction v"))
    xp = _xp(u)
    u, v = u + v * 0, v + u * 0  # broadcast both to the common shape
    uv_len = xp.sqrt(_sum(u * u, keepdims=True) * _sum(v * v, keepdims=True))
    q = _cat([uv_len + _sum(u * v, keepdims=True), _cross(u, v)], u)
    q_sq = _sum(q * q, keepdims=True)
    zero = uv_len < 1e-12
    flip = (q_sq < ANTIPARALLEL_SQ * uv_len * uv_len) & ~zero
    # Axis for the 180 degree case: u x (the basis axis least aligned with u).
    use_y = xp.abs(u[..., :1]) > xp.abs(u[..., 1:2])
    basis = xp.where(use_y, u * 0 + _as_like([0.0, 1.0, 0.0], u), u * 0 + _as_like([1.0, 0.0, 0.0], u))
    axis = _cross(u, basis)
    q_flip = _cat([u[..., :1] * 0, axis], u)
    q = xp.where(flip, q_flip, q)
    q = xp.where(zero, u[..., :1] * 0 + _as_like([1.0, 0.0, 0.0, 0.0], u), q)
    return q / xp.sqrt(_sum(q * q, keepdims=True))


def _as_like(values: list, like: Array) -> Array:
    if _is_torch(like):
        return sys.modules["torch"].as_tensor(values, dtype=like.dtype, device=like.device)
    return np.asarray(values, dtype=like.dtype)


def quat_slerp(q0: Array, q1: Array, t: Array | float) -> Array:
    """Spherical interpolation along the shorter arc; t in [0, 1] broadcasts against `q[..., 0]`."""
    q0, q1 = _broadcast(quat_normalize(q0), quat_normalize(q1))
    xp = _xp(q0)
    if _is_torch(q0):
        t = xp.as_tensor(t, dtype=q0.dtype, device=q0.device)[..., None]
    else:
        t = np.asarray(t, dtype=q0.dtype)[..., None]
    dot = _sum(q0 * q1, keepdims=True)
    q1 = xp.where(dot < 0, -q1, q1)
    dot = xp.clip(xp.abs(dot), 0.0, 1.0)
    close = dot > 0.9995  # nearly equal: lerp is exact enough and avoids sin(theta) ~ 0
    theta = xp.arccos(xp.where(close, dot * 0, dot))
    sin_theta = xp.where(close, dot * 0 + 1, xp.sin(theta))
    w0 = xp.where(close, 1 - t, xp.sin((1 - t) * theta) / sin_theta)
    w1 = xp.where(close, t, xp.sin(t * theta) / sin_theta)
    return quat_normalize(w0 * q0 + w1 * q1)


# --------------------------------------------------------------------------- matrices
def quat_to_matrix(q: Array) -> Array:
    """`(..., 4)` -> `(..., 3, 3)`; non-unit quaternions are normalised implicitly."""
    q = _check(q, (4,), "quaternion")
    w, x, y, z = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    s = 2.0 / _sum(q * q)
    rows = [
        1 - s * (y * y + z * z),
        s * (x * y - z * w),
        s * (x * z + y * w),
        s * (x * y + z * w),
        1 - s * (x * x + z * z),
        s * (y * z - x * w),
        s * (x * z - y * w),
        s * (y * z + x * w),
        1 - s * (x * x + y * y),
    ]
    return _stack(rows, q).reshape(tuple(q.shape[:-1]) + (3, 3))


def matrix_to_quat(m: Array) -> Array:
    """`(..., 3, 3)` -> unit `(..., 4)` with w >= 0; robust at 180 degrees.

    Shepperd's method (as in pytorch3d): build the quaternion from whichever of 4|w|, 4|x|,
    4|y|, 4|z| is largest, so no division by a small number happens.
    """
    m = _check(m, (3, 3), "rotation matrix")
    xp = _xp(m)
    m00, m01, m02 = m[..., 0, 0], m[..., 0, 1], m[..., 0, 2]
    m10, m11, m12 = m[..., 1, 0], m[..., 1, 1], m[..., 1, 2]
    m20, m21, m22 = m[..., 2, 0], m[..., 2, 1], m[..., 2, 2]
    sq = _stack([1 + m00 + m11 + m22, 1 + m00 - m11 - m22, 1 - m00 + m11 - m22, 1 - m00 - m11 + m22], m)
    q_abs = xp.sqrt(xp.clip(sq, 1e-12, None))  # 2|w|, 2|x|, 2|y|, 2|z|; clip keeps grads finite
    cands = [
        _stack([q_abs[..., 0] ** 2, m21 - m12, m02 - m20, m10 - m01], m),
        _stack([m21 - m12, q_abs[..., 1] ** 2, m10 + m01, m02 + m20], m),
        _stack([m02 - m20, m10 + m01, q_abs[..., 2] ** 2, m12 + m21], m),
        _stack([m10 - m01, m20 + m02, m21 + m12, q_abs[..., 3] ** 2], m),
    ]
    best = xp.argmax(q_abs, -1)[..., None]
    q = cands[3] / (2 * q_abs[..., 3:4])
    for i in (2, 1, 0):
        q = xp.where(best == i, cands[i] / (2 * q_abs[..., i : i + 1]), q)
    return quat_standardize(quat_normalize(q))


def matrix_to_sixd(m: Array) -> Array:
    """`(..., 3, 3)` -> `(..., 6)`: first two columns, HumanML3D's cont6d order."""
    m = _check(m, (3, 3), "rotation matrix")
    return _cat([m[..., :, 0], m[..., :, 1]], m)


def sixd_to_matrix(d6: Array) -> Array:
    """`(..., 6)` -> `(..., 3, 3)` by Gram-Schmidt exactly as HumanML3D's `cont6d_to_matrix`.

    x = normalise(first 3), z = normalise(x cross second 3), y = z cross x; columns [x, y, z].
    """
    d6 = _check(d6, (6,), "6D rotation")
    xp = _xp(d6)
    x = d6[..., 0:3] / xp.sqrt(_sum(d6[..., 0:3] ** 2, keepdims=True))
    z = _cross(x, d6[..., 3:6])
    z = z / xp.sqrt(_sum(z * z, keepdims=True))
    y = _cross(z, x)
    return xp.stack([x, y, z], -1)


def quat_to_sixd(q: Array) -> Array:
    """`(..., 4)` -> `(..., 6)` (HumanML3D's `quaternion_to_cont6d`)."""
    return matrix_to_sixd(quat_to_matrix(q))


def sixd_to_quat(d6: Array) -> Array:
    """`(..., 6)` -> `(..., 4)` with w >= 0."""
    return matrix_to_quat(sixd_to_matrix(d6))


# --------------------------------------------------------------------------- axis-angle
def axis_angle_to_quat(aa: Array) -> Array:
    """Rotation vectors `(..., 3)` (axis times angle in radians) -> unit `(..., 4)`, w >= 0 for |angle| <= pi."""
    aa = _check(aa, (3,), "axis-angle")
    xp = _xp(aa)
    sq = _sum(aa * aa, keepdims=True)
    small = sq < SMALL_ANGLE_SQ
    angle = xp.sqrt(xp.where(small, sq * 0 + 1, sq))
    scale = xp.where(small, 0.5 - sq / 48.0, xp.sin(angle / 2) / angle)
    w = xp.where(small, 1 - sq / 8.0, xp.cos(angle / 2))
    return _cat([w, aa * scale], aa)


def quat_to_axis_angle(q: Array) -> Array:
    """Unit `(..., 4)` -> rotation vectors `(..., 3)` with angle in [0, pi]."""
    q = quat_standardize(quat_normalize(q))
    xp = _xp(q)
    sq = _sum(q[..., 1:] ** 2, keepdims=True)
    small = sq < SMALL_ANGLE_SQ
    n = xp.sqrt(xp.where(small, sq * 0 + 1, sq))
    w = q[..., :1]
    scale = xp.where(small, 2.0 / xp.where(small, w, w * 0 + 1), 2.0 * xp.arctan2(n, w) / n)
    return q[..., 1:] * scale


def axis_angle_to_matrix(aa: Array) -> Array:
    """`(..., 3)` radians -> `(..., 3, 3)`."""
    return quat_to_matrix(axis_angle_to_quat(aa))


def matrix_to_axis_angle(m: Array) -> Array:
    """`(..., 3, 3)` -> `(..., 3)` radians, angle in [0, pi]."""
    return quat_to_axis_angle(matrix_to_quat(m))


# --------------------------------------------------------------------------- Euler angles
def _check_order(order: str) -> str:
    if len(order) != 3 or not (order.isupper() or order.islower()) or set(order.lower()) - set("xyz"):
        raise InputError(
            f"Euler order {order!r} is not valid: use 3 letters of x/y/z, upper case for intrinsic "
            "(BVH channel order, e.g. 'ZXY') or lower case for extrinsic."
        )
    return order


def euler_to_quat(angles: Array, order: str, degrees: bool = True) -> Array:
    """Euler angles `(..., 3)` -> `(..., 4)` with w >= 0, scipy's convention.

    Upper-case `order` is intrinsic (BVH: channels "Zrotation Xrotation Yrotation" -> "ZXY",
    R = Rz(a0) Rx(a1) Ry(a2)); lower case is extrinsic. numpy goes through scipy; torch is
    composed from single-axis quaternions so it stays differentiable.
    """
    order = _check_order(order)
    angles = _check(angles, (3,), "Euler angles")
    if not _is_torch(angles):
        # scipy (~0.3 s to import) only for Euler angles: the many numpy-only users of this module skip it.
        from scipy.spatial.transform import Rotation  # noqa: PLC0415 - see above

        flat = Rotation.from_euler(order, angles.reshape(-1, 3), degrees=degrees).as_quat(scalar_first=True)
        return quat_standardize(flat.reshape(tuple(angles.shape[:-1]) + (4,)))
    rad = angles * (np.pi / 180.0) if degrees else angles
    quats = []
    for i, axis in enumerate(order.lower()):
        half = rad[..., i] / 2
        parts = [half * 0, half * 0, half * 0]
        parts["xyz".index(axis)] = sys.modules["torch"].sin(half)
        quats.append(_stack([sys.modules["torch"].cos(half)] + parts, angles))
    if order.islower():
        quats = quats[::-1]
    return quat_standardize(quat_multiply(quat_multiply(quats[0], quats[1]), quats[2]))


def quat_to_euler(q: Array, order: str, degrees: bool = True) -> Array:
    """`(..., 4)` -> Euler angles `(..., 3)` via scipy (torch input: NOT differentiable)."""
    from scipy.spatial.transform import Rotation  # noqa: PLC0415 - Euler angles only, as in euler_to_quat

    order = _check_order(order)
    q = _check(q, (4,), "quaternion")
    q_np = q.detach().cpu().numpy() if _is_torch(q) else q
    out = Rotation.from_quat(q_np.reshape(-1, 4), scalar_first=True).as_euler(order, degrees=degrees)
    out = out.reshape(tuple(q.shape[:-1]) + (3,))
    return _as_like(out, q) if _is_torch(q) else out
