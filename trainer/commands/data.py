"""`motion-train data`: build the training dataset (HumanML3D layout, pose pairs, instructions).

motion-train data --out data/built --bandai ../shared/data/bandai-namco-2 --procedural 2000
motion-train data --out data/all --bandai ../shared/data/bandai-namco-2 --bandai ../shared/data/bandai-namco-1
motion-train data --out data/h3d --humanml3d ~/HumanML3D
motion-train data --out data/mine --bvh-dir my_bvh/ --labels labels.csv
motion-train data --out data/amass --amass ~/AMASS --body-models ~/smplh --labels captions.json
"""

from __future__ import annotations

import argparse
from pathlib import Path

from engine.errors import InputError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "data",
        help="build training data: motions+captions, splits, pairs, instructions",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--out", type=Path, required=True, help="new, empty output folder")
    parser.add_argument(
        "--bandai",
        type=Path,
        action="append",
        help="Bandai-Namco dataset-1 or dataset-2 folder (data/, cfg/); repeat for both",
    )
    parser.add_argument("--humanml3d", type=Path, help="HumanML3D or KIT-ML folder to copy in (keeps its splits)")
    parser.add_argument("--bvh-dir", type=Path, help="folder of .bvh files (searched recursively)")
    parser.add_argument(
        "--labels", type=Path, help="JSON or CSV label file: file -> caption(s) (for --bvh-dir/--amass)"
    )
    parser.add_argument("--amass", type=Path, help="folder of AMASS .npz files (needs --body-models)")
    parser.add_argument("--body-models", type=Path, help="folder with your SMPL-H/SMPL-X model files")
    parser.add_argument("--procedural", type=int, default=0, metavar="N", help="add N procedural motions")
    parser.add_argument("--seed", type=int, default=0, help="seed of captions, splits, pairs, instructions")
    parser.add_argument("--captions-per-clip", type=int, default=3, help="Bandai captions per clip")
    parser.add_argument(
        "--limit-per-cell", type=int, help="Bandai: first N clips per content x style cell (a quick subset)"
    )
    parser.add_argument("--no-mirror", action="store_true", help="do not add mirrored copies M<id>")
    parser.add_argument("--no-pairs", action="store_true", help="skip PoseFix pair mining")
    parser.add_argument("--pose-set", type=int, default=4000, help="farthest-point-sampled poses per split for pairs")
    parser.add_argument("--instructions-per-motion", type=int, default=4, help="instruction examples per motion")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    # ~0.4 s (engine.motion.features with scipy.ndimage, tqdm) that `motion-train --help` and the
    # other commands need not pay: `python -X importtime -c "import trainer.data.build"`.
    from trainer.data.build import BuildOptions, build_dataset  # noqa: PLC0415 - see above
    from trainer.data.pairs import PairConfig  # noqa: PLC0415 - see above

    if args.procedural < 0:
        raise InputError(f"--procedural must be >= 0, got {args.procedural}.")
    options = BuildOptions(
        out=args.out,
        bandai=args.bandai,
        humanml3d=args.humanml3d,
        bvh_dir=args.bvh_dir,
        labels=args.labels,
        amass=args.amass,
        body_models=args.body_models,
        procedural=args.procedural,
        seed=args.seed,
        captions_per_clip=args.captions_per_clip,
        limit_per_cell=args.limit_per_cell,
        mirror=not args.no_mirror,
        pairs=not args.no_pairs,
        pair_config=PairConfig(pose_set=args.pose_set, seed=args.seed),
        instructions_per_motion=args.instructions_per_motion,
        progress=not args.quiet,
    )
    report = build_dataset(options)
    print(
        f"wrote {args.out}: {report['clips']} clips, {report['hours']} h, {report['captions']} captions, "
        f"vocabulary {report['vocabulary_size']}, splits {report['splits']}; "
        f"{report['seconds']['total_s']} s. Report: {args.out / 'stats.md'}"
    )
    return 0
