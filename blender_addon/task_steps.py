"""The bodies of the panel's engine tasks: generators that yield engine requests and get their replies
back (tasks.py runs them on the timer), then key the result. One per button.
"""

from __future__ import annotations

import math

import numpy as np

from . import control_rig, pose_blend, rig_io, tasks
from .engine_requests import (
    ENGINE_FPS,
    canonical_poses,
    canonical_request,
    current_heads,
    finish_take,
    live_object,
    reply_text,
    retarget_request,
    retargeted_keys,
    rig_parts,
    rig_target,
    show_text,
    take_seed,
    write_take,
)

# ----------------------------------------------------------------------------- task bodies


def generate_steps(context, obj, settings):
    scene = context.scene
    target = rig_target(context, obj)
    frames = max(1, int(round(settings.length_in_seconds(scene) * ENGINE_FPS)))
    prompt, seed, start = settings.prompt, take_seed(settings), scene.frame_current
    anyway = {"anyway": True} if settings.generate_anyway else {}  # else an unknown prompt is refused
    jobs = yield [
        ("text_to_motion", {"text": prompt, "frames": frames, "seed": seed + v} | anyway, {})
        for v in range(settings.variations)
    ]
    jobs = yield [retarget_request(target.args, target.arrays, j.arrays["positions"]) for j in jobs]
    obj, written = live_object(obj.name), []
    for v, job in enumerate(jobs):
        quats, root, root_bone = retargeted_keys(job, target.args)
        action = write_take(
            context,
            obj,
            target,
            rig_io.unique_action_name(prompt),
            quats,
            root,
            root_bone,
            start,
            push_to_nla=settings.push_to_nla,
            metadata={"prompt": prompt, "seed": seed + v, "operation": "generate"},
        )
        written.append(action)
    finish_take(scene, settings, written)
    return f"Generated {', '.join(a.name for a in written)} (seed {seed})"


def continue_steps(context, obj, settings):
    """Predict what follows the assigned action and key it as a NEW action, from one engine frame
    (1/20 s) after the last key: the animator's keys are never written over."""
    scene = context.scene
    span = rig_io.keyed_frame_range(obj)
    if span is None:
        raise ValueError(f"{obj.name!r} has no animation to continue; key some frames first")
    step = rig_io.scene_fps(scene) / ENGINE_FPS  # scene frames per engine frame
    # Sample back from the last key (at most the last 2 s, enough context) so that the history's
    # last sample IS the last key: the engine's reply starts one engine frame after it.
    samples = int(min((span[1] - span[0]) / step + 1e-6, 2.0 * ENGINE_FPS))
    rig_args, rig_arrays, rig = rig_parts(context, obj)
    target = rig_target(context, obj)
    heads = rig_io.sample_pose_heads(obj, scene, span[1] - samples * step, span[1])
    last_key = None if target.control is not None else rig_io.pose_quats_at(obj, scene, span[1])
    (job,) = yield [canonical_request(rig_args, rig_arrays, heads)]
    motion, _ = canonical_poses(job)
    frames = int(round(settings.continue_seconds * ENGINE_FPS))
    prompt, seed = settings.prompt, take_seed(settings)
    (job,) = yield [("predict", {"text": prompt, "frames": frames, "seed": seed}, {"motion": motion})]
    # The reply continues the history in the rig's own frame: the engine keeps it there.
    (job,) = yield [retarget_request(target.args, target.arrays, job.arrays["positions"], None, True, last_key)]
    quats, root, root_bone = retargeted_keys(job, target.args)
    action = write_take(
        context,
        live_object(obj.name),
        target,
        rig_io.unique_action_name("continue " + prompt),
        quats,
        root,
        root_bone,
        span[1] + step,
        push_to_nla=settings.push_to_nla,
        metadata={"prompt": prompt, "seed": seed, "operation": "continue"},
        extend=(span[1], math.inf),  # the take and what follows it, in one new action
    )
    finish_take(scene, settings, [action])
    return f"Continued into {action.name} (seed {seed})"


def inbetween_frames(a: float, b: float, fps: float) -> int:
    """Engine frames strictly between scene frames a < b: the gap's 20 fps steps minus one."""
    frames = int(round((b - a) / fps * ENGINE_FPS)) - 1
    if frames < 1:
        raise ValueError(
            f"frames {a:g} and {b:g} are less than two engine frames apart "
            f"({2 * fps / ENGINE_FPS:g} scene frames at {fps:g} fps): nothing to fill; "
            "pick two keys further apart"
        )
    return frames


def inbetween_steps(context, obj, settings):
    """Fill the frames strictly between the poses at 'From' and 'To' as a NEW action (the keyed
    poses stay in the animator's action, untouched)."""
    scene = context.scene
    a, b = settings.inbetween_start, settings.inbetween_end
    if b <= a:
        raise ValueError(f"'To frame' ({b}) must come after 'From frame' ({a})")
    fps = rig_io.scene_fps(scene)
    frames = inbetween_frames(a, b, fps)
    rig_args, rig_arrays, rig = rig_parts(context, obj)
    target = rig_target(context, obj)
    heads = np.concatenate([rig_io.sample_pose_heads(obj, scene, f, f) for f in (a, b)])
    first_key = None if target.control is not None else rig_io.pose_quats_at(obj, scene, a)
    (job,) = yield [canonical_request(rig_args, rig_arrays, heads)]
    (start, end), _ = canonical_poses(job)
    prompt, seed = settings.prompt, take_seed(settings)
    (job,) = yield [
        (
            "inbetween",
            {"text": prompt, "frames": frames, "seed": seed},
            {"start": start[None], "end": end[None]},
        )
    ]
    # The reply lies between the two poses in the rig's own frame: the engine keeps it there.
    (job,) = yield [retarget_request(target.args, target.arrays, job.arrays["positions"], None, True, first_key)]
    quats, root, root_bone = retargeted_keys(job, target.args)
    # The engine spreads its frames evenly over frames + 1 steps from a to b; keying them at that
    # spacing (1/20 s when b - a is a whole number of engine frames) ends them one step before b
    # even when the gap is not.
    spacing_fps = fps * (frames + 1) / (b - a)
    action = write_take(
        context,
        live_object(obj.name),
        target,
        rig_io.unique_action_name("inbetween"),
        quats,
        root,
        root_bone,
        a + (b - a) / (frames + 1),
        source_fps=spacing_fps,
        push_to_nla=settings.push_to_nla,
        metadata={"prompt": prompt, "seed": seed, "operation": "inbetween", "from_frame": a, "to_frame": b},
        extend=(a, b),  # the take with the gap filled, in one new action
    )
    finish_take(scene, settings, [action])
    return f"In-between written to {action.name} (seed {seed})"


def describe_motion_steps(context, obj, settings):
    span = rig_io.keyed_frame_range(obj)
    if span is None:
        raise ValueError(f"{obj.name!r} has no animation to describe")
    rig_args, rig_arrays, _ = rig_parts(context, obj)
    (job,) = yield [canonical_request(rig_args, rig_arrays, rig_io.sample_pose_heads(obj, context.scene, *span))]
    (job,) = yield [("motion_to_text", {"seed": settings.seed}, {"motion": canonical_poses(job)[0]})]
    return show_text(context, "Motion", reply_text(job))


def correct_pose_steps(context, obj, settings):
    rig_args, rig_arrays, rig = rig_parts(context, obj)
    target = rig_target(context, obj)
    frame = context.scene.frame_current
    current_key = rig_io.read_pose_quats(obj)
    (job,) = yield [canonical_request(rig_args, rig_arrays, current_heads(context, obj))]
    pose, placement = canonical_poses(job)
    (job,) = yield [("edit_pose", {"text": settings.pose_prompt, "seed": settings.seed}, {"pose": pose[0]})]
    # The editor answers at the origin facing +Z (PoseFix drops the heading and translation):
    # the placement turns and moves the edited pose back to where the animator's pose stood, and
    # the new key takes the quaternion signs of the pose it replaces (its neighbours' hemisphere).
    pose = job.arrays["pose"][None]
    if target.control is not None:  # keyed on the FK controls, as a Generate is
        (job,) = yield [retarget_request(target.args, target.arrays, pose, placement)]
        quats, root, _ = retargeted_keys(job, target.args)
        obj = live_object(obj.name)
        names, quats, root = control_rig.bake_fk(context, obj, target.control, rig_io.SMPL_PARENTS, quats, root)
        control_rig.key_pose(obj, target.control, frame, names, quats[0], root[0])
        return f"Pose corrected and keyed on the {target.control.name} FK controls at frame {frame}"
    (job,) = yield [retarget_request(rig_args, rig_arrays, pose, placement, previous_key=current_key)]
    quats, root, root_bone = retargeted_keys(job, rig_args)
    # Key only the bones the engine drives: the others (fingers, twist bones) come back at rest,
    # and keying that would flatten the animator's hands.
    driven = job.result["driven_bones"]
    keep = [rig["names"].index(b) for b in driven]
    obj = live_object(obj.name)
    root_before = np.array(obj.pose.bones[root_bone].location) if root_bone else None
    # On an animated rig the change fades into the keys around the frame (no one-frame pop).
    pose_blend.key_pose_edit(
        obj,
        frame,
        list(driven),
        current_key[keep],
        quats[0, keep],
        root_before,
        root[0],
        root_bone,
        blend_frames=settings.pose_blend_frames,
    )
    return f"Pose corrected and keyed at frame {frame}"


def describe_pose_steps(context, obj, settings):
    rig_args, rig_arrays, _ = rig_parts(context, obj)
    (job,) = yield [canonical_request(rig_args, rig_arrays, current_heads(context, obj))]
    (job,) = yield [("describe_pose", {"deterministic": True}, {"pose": canonical_poses(job)[0][0]})]
    return show_text(context, "Pose", reply_text(job))


def describe_change_steps(context, obj, settings):
    rig_args, rig_arrays, _ = rig_parts(context, obj)
    other = rig_io.sample_pose_heads(obj, context.scene, settings.compare_frame, settings.compare_frame)
    heads = np.concatenate([other, current_heads(context, obj)])
    (job,) = yield [canonical_request(rig_args, rig_arrays, heads)]
    poses, _ = canonical_poses(job)
    (job,) = yield [("describe_change", {"deterministic": True}, {"pose_a": poses[0], "pose_b": poses[1]})]
    return show_text(context, f"From frame {settings.compare_frame}", reply_text(job))


def ping_steps(context, obj, settings):
    state = context.window_manager.motion_copilot_job
    state.connection = "checking..."
    yield [("ping", {}, {})]
    state.connection = "connected"
    return f"Engine at {tasks.RUNNER.client.address} answered"
