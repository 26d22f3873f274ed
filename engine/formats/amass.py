"""AMASS `.npz` motions -> SMPL-22 joint positions, through `smplx` and the user's body model.

An AMASS file holds `poses` `(T, 156)` (SMPL-H: root 3 + body 63 + hands 90) or `(T, 165)`
(SMPL-X: root 3 + body 63 + jaw 3 + eyes 6 + hands 90) axis-angle radians, `trans` `(T, 3)`
metres, `betas`, `gender` and the frame rate (`mocap_framerate` or `mocap_frame_rate`). Joints
come from the user's SMPL-H (or SMPL-X) model files, which are licence-gated and cannot ship with
this project. Then, as HumanML3D does (Guo et al. 2022; github.com/EricGuo5513/HumanML3D,
`raw_pose_processing.ipynb`): the first
22 joints, the Z-up -> Y-up axis swap `(x, y, z) -> (-x, z, y)`, and 20 fps.

Pickle: SMPL-H model `.npz` files are loaded here with allow_pickle=False and handed to smplx as
a data struct. smplx's SMPL-X class always re-opens its file with `np.load(allow_pickle=True)`, so
for SMPL-X we first load the file without pickle ourselves: a file that needs pickle is refused.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from engine.errors import InputError
from engine.formats.resample import resample_positions
from engine.motion.skeleton import FPS, NUM_JOINTS

# HumanML3D's trans_matrix followed by x *= -1: Z-up AMASS -> Y-up, a proper rotation.
AMASS_TO_Y_UP = np.array([[-1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
NUM_BETAS = 10
CHUNK_FRAMES = 256  # frames per smplx forward pass: bounds memory (vertices are T x 6890 x 3)
MODEL_HELP = (
    "Download the body model from https://mano.is.tue.mpg.de (SMPL-H, 'Extended SMPL+H "
    "model', npz) or https://smpl-x.is.tue.mpg.de after accepting its licence; it cannot "
    "ship with Motion Copilot. Put SMPLH_NEUTRAL.npz / SMPLH_MALE.npz / SMPLH_FEMALE.npz "
    "(or SMPLX_*.npz) in a folder, optionally under smplh/ or smplx/, and pass that folder."
)


def _load_npz_plain(path: Path, what: str) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {key: archive[key] for key in archive.files}
    except ValueError:
        raise InputError(
            f"{path}: this {what} holds pickled Python objects, which Motion Copilot "
            "does not load; re-save it with plain arrays."
        ) from None
    except OSError as error:
        raise InputError(f"{path}: cannot read the {what} ({error}).") from None


def read_amass(path: str | Path) -> dict:
    """Validated AMASS arrays: poses `(T, 156|165)`, trans `(T, 3)`, betas `(B,)`, fps, gender, model."""
    path = Path(path)
    data = _load_npz_plain(path, "AMASS file")
    missing = [key for key in ("poses", "trans") if key not in data]
    if missing:
        raise InputError(f"{path}: not an AMASS motion file: missing {', '.join(missing)}.")
    poses, trans = np.asarray(data["poses"], np.float64), np.asarray(data["trans"], np.float64)
    if poses.ndim != 2 or poses.shape[1] not in (156, 165) or not len(poses):
        raise InputError(f"{path}: poses have shape {poses.shape}; expected (T, 156) SMPL-H or (T, 165) SMPL-X.")
    if trans.shape != (len(poses), 3):
        raise InputError(f"{path}: trans has shape {trans.shape}; expected ({len(poses)}, 3).")
    if not (np.isfinite(poses).all() and np.isfinite(trans).all()):
        raise InputError(f"{path}: poses or trans contain NaN or infinity.")
    rate_key = next((k for k in ("mocap_framerate", "mocap_frame_rate") if k in data), None)
    if rate_key is None:
        raise InputError(f"{path}: no frame rate (mocap_framerate) in the file.")
    fps = float(data[rate_key])
    gender = str(np.asarray(data.get("gender", "neutral")).astype(str)).strip().lower() or "neutral"
    betas = np.asarray(data.get("betas", np.zeros(10)), np.float64).reshape(-1)
    return {
        "poses": poses,
        "trans": trans,
        "betas": betas,
        "fps": fps,
        "gender": gender if gender in ("male", "female") else "neutral",
        "model": "smplh" if poses.shape[1] == 156 else "smplx",
    }


def find_body_model(body_model: str | Path | None, model: str, gender: str) -> Path:
    """The model file: `body_model` itself, or `<dir>[/<model>]/<MODEL>_<GENDER>.npz`
    (gendered first, then neutral)."""
    if body_model is None:
        raise InputError(
            f"AMASS files need your own {model.upper()} body model files; pass their folder "
            f"(motion-engine convert --body-model DIR). {MODEL_HELP}"
        )
    root = Path(body_model)
    if root.is_file():
        return root
    for folder in (root / model, root):
        for g in dict.fromkeys((gender, "neutral")):
            candidate = folder / f"{model.upper()}_{g.upper()}.npz"
            if candidate.is_file():
                return candidate
    raise InputError(
        f"{root}: no {model.upper()}_{gender.upper()}.npz or {model.upper()}_NEUTRAL.npz "
        f"there or in {root / model}. {MODEL_HELP}"
    )


def _build_model(model_file: Path, model: str, num_betas: int):
    # smplx (with torch, ~2 s to import) only for AMASS files; BVH and .npy loading never pay it.
    import smplx  # noqa: PLC0415 - see above
    from smplx.utils import Struct  # noqa: PLC0415 - see above
    from smplx.vertex_ids import vertex_ids as VERTEX_IDS  # noqa: PLC0415 - see above

    data = _load_npz_plain(model_file, "body model file")
    if model == "smplx":  # smplx re-reads the file (with pickle allowed) after the check above
        return smplx.SMPLX(str(model_file), num_betas=num_betas, use_pca=False, flat_hand_mean=True)
    num_vertices = len(data["v_template"])
    # The extra vertex joints (nose, toes, fingertips) are unused here; small test meshes lack them.
    vertex_ids = {k: (v if v < num_vertices else 0) for k, v in VERTEX_IDS["smplh"].items()}
    return smplx.SMPLH(
        str(model_file),
        data_struct=Struct(**data),
        num_betas=num_betas,
        use_pca=False,
        flat_hand_mean=True,
        vertex_ids=vertex_ids,
    )


def amass_joints(path: str | Path, body_model: str | Path | None) -> tuple[np.ndarray, float]:
    """SMPL-22 joints `(T, 22, 3)` float64, metres, Y up, at the file's own frame rate."""
    import torch  # noqa: PLC0415 - torch (~1.7 s) only for AMASS files, not for BVH or .npy loading

    motion = read_amass(path)
    model_file = find_body_model(body_model, motion["model"], motion["gender"])
    # 10 betas, like HumanML3D's BodyModel(num_betas=10); smplx caps SMPL-H/X files with fewer
    # than 300 shape components at 10 anyway.
    body = _build_model(model_file, motion["model"], NUM_BETAS)
    poses = torch.as_tensor(motion["poses"], dtype=torch.float32)
    trans = torch.as_tensor(motion["trans"], dtype=torch.float32)
    betas = torch.zeros(body.num_betas)
    given = torch.as_tensor(motion["betas"][: body.num_betas], dtype=torch.float32)
    betas[: len(given)] = given
    out = []
    for start in range(0, len(poses), CHUNK_FRAMES):
        p, n = poses[start : start + CHUNK_FRAMES], len(poses[start : start + CHUNK_FRAMES])
        args = dict(
            betas=betas.expand(n, -1), global_orient=p[:, :3], body_pose=p[:, 3:66], transl=trans[start : start + n]
        )
        if motion["model"] == "smplh":
            args.update(left_hand_pose=p[:, 66:111], right_hand_pose=p[:, 111:156])
        else:  # every per-frame input explicit, or smplx falls back to batch-1 buffers
            args.update(
                jaw_pose=p[:, 66:69],
                leye_pose=p[:, 69:72],
                reye_pose=p[:, 72:75],
                left_hand_pose=p[:, 75:120],
                right_hand_pose=p[:, 120:165],
                expression=torch.zeros(n, body.num_expression_coeffs),
            )
        with torch.no_grad():
            out.append(body(**args).joints[:, :NUM_JOINTS].double().numpy())
    return np.concatenate(out) @ AMASS_TO_Y_UP.T, motion["fps"]


def load_amass_joints(path: str | Path, body_model: str | Path | None) -> np.ndarray:
    """SMPL-22 joints `(T', 22, 3)` float64, metres, Y up, resampled to 20 fps (not canonicalised)."""
    joints, fps = amass_joints(path, body_model)
    return resample_positions(joints, fps, FPS)
