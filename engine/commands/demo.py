"""`motion-engine demo`: the main job on the bundled default, end to end, written to a folder.

Loads a real mocap clip (a bundled Bandai sample unless --clip is given), brings it onto the
canonical SMPL-22 skeleton, encodes it as HumanML3D features and back, describes a pose and a
pose change with the rule-based describer, and writes a BVH, a GIF and a PNG so a person can look.
When the default model bundle has a text-to-motion model, it also generates from --prompt.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from engine.commands.task_common import add_model_options, language_models, write_motion
from engine.describe import describe_change, describe_pose
from engine.errors import ModelUnavailableError
from engine.models.motion_tasks import generate, sampling_of
from engine.motion import preview
from engine.motion.skeleton import JOINT_INDEX

SAMPLES = Path(__file__).resolve().parents[1] / "assets" / "samples"
DEFAULT_CLIP = SAMPLES / "dataset-2_wave-left-hand_exhausted_009.bvh"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("demo", help="run the main job on the bundled default and write previews")
    parser.add_argument("--out", default="out/demo", help="output folder (default out/demo)")
    parser.add_argument("--clip", default=str(DEFAULT_CLIP), help="motion file to use (default: a bundled Bandai clip)")
    parser.add_argument(
        "--prompt",
        default="a person waves the left hand",
        help="text for the text-to-motion part (when the bundle has a language model)",
    )
    parser.add_argument("--seed", type=int, default=0, help="sampling seed of the generated motion")

    add_model_options(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    # Imported here, as every command does (pyproject.toml): they import scipy (~0.3 s).
    from engine.formats.canonical import CanonicalMotion, load_motion, save_motion
    from engine.motion.features import features_to_joints, joints_to_features

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    motion = load_motion(args.clip)
    # Features re-target the clip to the default skeleton first (HumanML3D's uniform skeleton);
    # `encoded` are the joints they describe, which features_to_joints must give back.
    features, encoded = joints_to_features(motion.positions, return_joints=True)  # (T-1, 263), (T-1, 22, 3)
    recovered = features_to_joints(features)  # (T-1, 22, 3)
    round_trip_mm = float(np.linalg.norm(recovered - encoded, axis=-1).mean() * 1000)

    hand = JOINT_INDEX["left_wrist"]
    peak = int(np.argmax(motion.positions[:, hand, 1]))
    pose_text = describe_pose(motion.positions[peak], deterministic=True)
    change_text = describe_change(motion.positions[0], motion.positions[peak], deterministic=True)

    save_motion(CanonicalMotion(recovered.astype(np.float32)), out / "demo.bvh")
    np.save(out / "features.npy", features.astype(np.float32))
    preview.save_gif(recovered, out / "demo.gif", title=f"{Path(args.clip).name}, via HumanML3D features")
    preview.save_png(recovered, out / "demo.png", title=f"{Path(args.clip).name}, via HumanML3D features")
    preview.save_png(motion.positions, out / "pose.png", frame=peak, title=pose_text)

    lines = [
        f"clip             {args.clip}",
        f"frames           {motion.num_frames} at {motion.fps:g} fps ({motion.num_frames / motion.fps:.1f} s)",
        f"features         {features.shape} (HumanML3D layout)",
        f"features->joints {round_trip_mm:.4f} mm mean joint error (joints -> 263 -> joints)",
        f"pose (frame {peak:3d}) {pose_text}",
        f"frame 0 -> {peak:3d}   {change_text}",
        f"wrote            {out / 'demo.bvh'}, {out / 'demo.gif'}, {out / 'demo.png'}, {out / 'pose.png'}",
    ]
    lines += generate_from_prompt(args, out)
    (out / "summary.txt").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


def generate_from_prompt(args: argparse.Namespace, out: Path) -> list[str]:
    """Text -> motion with the bundle's language model (4 s); one summary line, or why it was skipped."""
    try:
        lm, vq = language_models(args, "text_to_motion")
    except ModelUnavailableError as error:
        return [f"text-to-motion    skipped: {error}"]
    motion = generate(lm, vq, [args.prompt], [80], sampling_of({"seed": args.seed}))[0]  # (80, 22, 3)
    write_motion(motion, out / "generated.bvh")
    preview.save_gif(motion, out / "generated.gif", title=args.prompt)
    return [
        f'text-to-motion   "{args.prompt}" -> {len(motion)} frames: {out / "generated.bvh"}, {out / "generated.gif"}'
    ]
