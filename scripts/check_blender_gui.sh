#!/usr/bin/env bash
# A GUI check of the add-on in Debian's packaged Blender, anyone can run it (not in CI; needs root):
#
#   sudo scripts/check_blender_gui.sh [SUITE]      # SUITE: trixie (Blender 4.3, default) or sid (5.x)
#
# 1. builds the extension zip (scripts/build_extension.py --no-wheels: Debian's Blender runs on the
#    system Python, so pyzmq comes from Debian's python3-zmq package in the root file system);
# 2. makes a throw-away Debian root file system with mmdebstrap holding blender, python3-zmq, Xvfb,
#    xdotool and ImageMagick (nothing of Blender on the host);
# 3. starts the REAL engine on the host (the project's Python, a tiny untrained model bundle from
#    tests/tiny_bundle.py) on a loopback port the chroot shares;
# 4. installs the zip with `blender --command extension install-file`, starts Blender under Xvfb
#    with a Mixamo-named rig (`mixamorig:Hips` ..., built at start-up), and presses every panel
#    button through the UI with xdotool (the F3 menu search, on Ctrl+Shift+Alt+M as well, typing
#    the button's name, Return): Check Connection, Generate (8 variations), Continue, In-between, Correct Pose, Describe Pose,
#    Describe Change, Describe Animation, Cancel (of a Generate the stopped engine cannot answer:
#    SIGSTOP), Create SMPL Armature, Generate against a killed engine (the error read in full),
#    Check Connection, and Start / Reconnect after the engine is started again (no "Engine Python"
#    set: the button reconnects and pings); a screenshot of the X display after each, and three
#    while the first Generate runs (`import -window root`; Blender's own screenshot operator saves
#    black images under Xvfb);
# 5. prints one PASS/FAIL line per button, judged from what a timer inside Blender writes down (the
#    panel's "Engine:" line, errors, the assigned action, the armatures, the pose's keys), the time
#    the whole check took, and exits non-zero on a FAIL.
# Panel FIELDS (variations, From/To frames) are set by the start-up file, not typed: the buttons are
# what is checked.
#
# Host needs: mmdebstrap (apt-get install mmdebstrap), network to deb.debian.org, the project's venv.
# Environment: PYTHON (project Python, default .venv/bin/python or python3), WORK (work dir),
# ROOTFS (a root file system to make or reuse, default $WORK/rootfs; one given is kept), KEEP=1
# keeps the root file system, MIRROR (Debian mirror).
set -euo pipefail

SUITE="${1:-trixie}"
HERE="$(cd "$(dirname "$0")/.." && pwd)"
PYTHON="${PYTHON:-$([ -x "$HERE/.venv/bin/python" ] && echo "$HERE/.venv/bin/python" || echo python3)}"
WORK="${WORK:-$(mktemp -d /tmp/mc_gui.XXXXXX)}"
MIRROR="${MIRROR:-http://deb.debian.org/debian}"
KEEP="${KEEP:-$([ -n "${ROOTFS:-}" ] && echo 1 || echo 0)}"
ROOTFS="${ROOTFS:-$WORK/rootfs}"
T0="$(date +%s)"
OUT="$WORK/out"
PORT="${PORT:-5599}"
mkdir -p "$OUT"
log() { printf '[check_blender_gui] %s\n' "$*" >&2; }

[ "$(id -u)" = 0 ] || { log "run as root (mmdebstrap and chroot)"; exit 2; }
command -v mmdebstrap >/dev/null || { log "install mmdebstrap: apt-get install mmdebstrap"; exit 2; }

log "building the extension zip"
PYTHONPATH="$HERE" "$PYTHON" "$HERE/scripts/build_extension.py" --no-wheels --output-dir "$WORK/dist" >&2
ZIP="$(ls "$WORK"/dist/motion_copilot-*.zip | head -n 1)"

if [ ! -x "$ROOTFS/usr/bin/blender" ]; then
  log "making a $SUITE root file system with Debian's Blender in $ROOTFS (downloads a few hundred MB)"
  # Check-Valid-Until off: sid's Release file is re-signed daily and reads as expired on a host
  # whose clock runs ahead (its signature is still checked).
  mmdebstrap --variant=apt --aptopt='Acquire::Check-Valid-Until "false"' --include=blender,python3-zmq,python3-numpy,xvfb,xauth,xdotool,imagemagick,x11-utils \
    "$SUITE" "$ROOTFS" "$MIRROR" >&2
fi
BLENDER_VERSION="$(chroot "$ROOTFS" blender --version 2>/dev/null | head -n 1)"
log "Blender in the chroot: $BLENDER_VERSION"

cleanup() {
  [ -n "${ENGINE_PID:-}" ] && kill "$ENGINE_PID" 2>/dev/null || true
  [ -n "${BLENDER_PID:-}" ] && kill "$BLENDER_PID" 2>/dev/null || true
  [ -n "${XVFB_PID:-}" ] && kill "$XVFB_PID" 2>/dev/null || true  # chroot and host share process ids
  for m in proc dev/shm dev/pts dev sys; do umount -l "$ROOTFS/$m" 2>/dev/null || true; done
  # never remove a root with something still mounted in it (rm would reach the host's /dev)
  [ "$KEEP" = 1 ] || grep -q " $ROOTFS/" /proc/mounts || rm -rf "$ROOTFS"
}
trap cleanup EXIT
trap 'exit 130' INT TERM  # stop here (cleanup runs on the way out)
for m in proc sys dev dev/pts dev/shm; do mount --bind "/$m" "$ROOTFS/$m"; done

log "starting the real engine on tcp://127.0.0.1:$PORT (tiny untrained bundle)"
BUNDLE="$WORK/bundle"
PYTHONPATH="$HERE:$HERE/tests" "$PYTHON" -c "import sys; from pathlib import Path; from tiny_bundle import write_tiny_bundle; write_tiny_bundle(Path(sys.argv[1]))" "$BUNDLE"
start_engine() {  # start_engine N: start it and wait for its Nth "serving on" line in the log
  PYTHONPATH="$HERE" OMP_NUM_THREADS=2 "$PYTHON" -m engine.cli serve --device cpu --bind "tcp://127.0.0.1:$PORT" \
    --bundle "$BUNDLE" >>"$OUT/engine.log" 2>&1 &
  ENGINE_PID=$!
  for _ in $(seq 120); do [ "$(grep -c "serving on" "$OUT/engine.log")" -ge "$1" ] && return 0; sleep 0.5; done
  log "the engine did not start:"; cat "$OUT/engine.log" >&2; exit 1
}
: >"$OUT/engine.log"
start_engine 1

log "installing $(basename "$ZIP") with Blender's own command"
rm -rf "$ROOTFS/work" "$ROOTFS/root/.config/blender"; mkdir -p "$ROOTFS/work"  # a kept root: start afresh
cp "$ZIP" "$ROOTFS/work/motion_copilot.zip"
chroot "$ROOTFS" env HOME=/root blender --command extension install-file -r user_default -e /work/motion_copilot.zip \
  >"$OUT/install.log" 2>&1 || { log "install-file failed:"; cat "$OUT/install.log" >&2; exit 1; }

# Inside Blender: preferences, a Mixamo-named rig (the SMPL rest skeleton, bones aimed joint to
# joint, as tests/blender_fixtures.py limb_bones builds it), the sidebar on the Motion Copilot tab,
# the panel's fields, and a timer that writes the panel's state to /work/state.json twice a second
# (what the PASS/FAIL lines are judged from).
cat >"$ROOTFS/work/setup.py" <<PYEOF
import importlib, json, os, bpy, mathutils
ADDON = next(m for m in bpy.context.preferences.addons.keys() if m.endswith("motion_copilot"))
rig_io = importlib.import_module(ADDON + ".rig_io")
prefs = bpy.context.preferences.addons[ADDON].preferences
prefs.engine_address, prefs.timeout_seconds = "tcp://127.0.0.1:$PORT", 15.0
bpy.context.preferences.view.show_developer_ui = True  # the menu search then finds operators too
# Ctrl+Shift+Alt+M opens the same menu search as F3: under sid's Xvfb (21.1.25) Blender 5.2.2 gets no
# function keys from xdotool (F2, F3 do nothing; letters work).
km = bpy.context.window_manager.keyconfigs.addon.keymaps.new(name="Window", space_type="EMPTY")
km.keymap_items.new("wm.search_menu", "M", "PRESS", ctrl=True, shift=True, alt=True)
for obj in list(bpy.data.objects):
    bpy.data.objects.remove(obj)
MIXAMO = ["Hips", "LeftUpLeg", "RightUpLeg", "Spine", "LeftLeg", "RightLeg", "Spine1", "LeftFoot", "RightFoot",
          "Spine2", "LeftToeBase", "RightToeBase", "Neck", "LeftShoulder", "RightShoulder", "Head", "LeftArm",
          "RightArm", "LeftForeArm", "RightForeArm", "LeftHand", "RightHand"]
def mixamo_rig():
    heads = [(float(p[0]), float(-p[2]), float(p[1])) for p in rig_io.SMPL_REST_YUP]  # Y up -> Blender Z up
    data = bpy.data.armatures.new("mixamo_rig")
    obj = bpy.data.objects.new("mixamo_rig", data)
    bpy.context.scene.collection.objects.link(obj)
    bpy.context.view_layer.objects.active = obj
    obj.select_set(True)
    obj.show_in_front = True
    bpy.ops.object.mode_set(mode="EDIT")
    for j, name in enumerate(MIXAMO):
        eb = data.edit_bones.new("mixamorig:" + name)
        children = [c for c, p in enumerate(rig_io.SMPL_PARENTS) if p == j]
        head = heads[j]
        tail = heads[children[-1 if j == 0 else 0]] if children else (head[0], head[1], head[2] + 0.08)
        if sum((a - b) ** 2 for a, b in zip(head, tail)) < 1e-6:
            tail = (head[0], head[1], head[2] + 0.08)
        eb.head, eb.tail = head, tail
        if rig_io.SMPL_PARENTS[j] >= 0:
            eb.parent = data.edit_bones["mixamorig:" + MIXAMO[rig_io.SMPL_PARENTS[j]]]
    bpy.ops.object.mode_set(mode="OBJECT")
    return obj
mixamo_rig()
settings = bpy.context.scene.motion_copilot
settings.variations, settings.length_seconds = 8, 4.0  # the tiny test model makes at most 4 s
settings.inbetween_start, settings.inbetween_end, settings.compare_frame = 20, 60, 30
FRAMED = []
def show_sidebar():
    for area in bpy.context.screen.areas:
        if area.type == "VIEW_3D":
            space = area.spaces.active
            space.show_region_ui = True
            for region in area.regions:
                if region.type == "UI":
                    with bpy.context.temp_override(area=area, region=region):
                        region.active_panel_category = "Motion Copilot"
            if not FRAMED:
                view = space.region_3d  # from the front, a little from the right and above
                view.view_rotation = mathutils.Euler((1.4, 0.0, 0.45)).to_quaternion()
                view.view_distance, view.view_location = 3.6, (0.0, 0.0, 0.85)
                FRAMED.append(1)
def write_state():
    try:
        show_sidebar()
    except Exception:
        pass
    wm = bpy.context.window_manager
    state = wm.motion_copilot_job
    obj = bpy.context.active_object
    adt = obj.animation_data if obj else None
    action = adt.action.name if adt and adt.action else ""
    keys = 0
    if action and bpy.app.version >= (4, 4, 0):
        from bpy_extras import anim_utils
        bag = anim_utils.action_get_channelbag_for_slot(adt.action, adt.action_slot)
        keys = sum(len(fc.keyframe_points) for fc in bag.fcurves) if bag else 0
    elif action:
        keys = sum(len(fc.keyframe_points) for fc in adt.action.fcurves)
    with open("/work/state.json.tmp", "w") as f:
        json.dump({"connection": state.connection, "error": state.last_error, "running": state.running,
                   "status": state.status, "progress": round(state.progress, 3), "active": obj.name if obj else "",
                   "action": action, "keys": keys, "actions": len(bpy.data.actions),
                   "armatures": [o.name for o in bpy.data.objects if o.type == "ARMATURE"],
                   "frame_end": bpy.context.scene.frame_end, "text": state.last_text,
                   "seed": bpy.context.scene.motion_copilot.seed,
                   "last_op": wm.operators[-1].bl_idname if len(wm.operators) else ""}, f)
    os.replace("/work/state.json.tmp", "/work/state.json")
    return 0.5
bpy.app.timers.register(write_state, first_interval=1.0, persistent=True)
PYEOF

log "starting Xvfb and Blender"
chroot "$ROOTFS" sh -c 'Xvfb :99 -screen 0 1600x900x24 >/work/xvfb.log 2>&1 & echo $!' >"$OUT/xvfb.pid"
XVFB_PID="$(cat "$OUT/xvfb.pid")"
sleep 2
# X displays are shared between chroots: with :99 taken, Blender would draw on someone else's server
kill -0 "$XVFB_PID" 2>/dev/null || { log "Xvfb did not start (display :99 taken?):"; cat "$ROOTFS/work/xvfb.log" >&2; exit 1; }
BLENDER_PID="$(chroot "$ROOTFS" env HOME=/root DISPLAY=:99 sh -c 'blender --python /work/setup.py >/work/blender.log 2>&1 & echo $!')"
X() { chroot "$ROOTFS" env DISPLAY=:99 "$@"; }
for _ in $(seq 120); do [ -s "$ROOTFS/work/state.json" ] && break; sleep 1; done
[ -s "$ROOTFS/work/state.json" ] || { log "Blender did not come up:"; tail -n 30 "$ROOTFS/work/blender.log" >&2; exit 1; }
WIN="$(X xdotool search --sync --onlyvisible --class blender | head -n 1)"
X xdotool windowactivate --sync "$WIN" || true
X xdotool mousemove 300 650 key Escape  # the splash screen closes (a click on it may open a template)
sleep 1
X xdotool click 1  # focus the 3D View, where the search and the sidebar live
sleep 5
# Open and close the search once first: the first search right after start-up was lost once (4.3.2),
# and a lost search sends the button's name to the 3D View as shortcuts (H hides the rig). No
# --clearmodifiers: with sid's Xvfb it presses Alt_L around the key.
X xdotool mousemove 600 400 key ctrl+shift+alt+m
sleep 2
X xdotool key Escape
sleep 1
X xdotool key Escape
sleep 2

state() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$ROOTFS/work/state.json" "$1"; }
changed() { [ "$(state "$1")" != "$2" ]; }
FAILS=0
STEP=0
shot() { X import -window root "/work/$1.png"; cp "$ROOTFS/work/$1.png" "$OUT/"; }
type_in_search() {  # the menu search (F3's, on Ctrl+Shift+Alt+M), QUERY, [a screenshot NAME], Return
  X xdotool mousemove 600 400 key ctrl+shift+alt+m
  sleep 1
  X xdotool type --delay 40 "$1"
  sleep 1
  [ -z "${2:-}" ] || X import -window root "/work/$2.png"  # what the search found (kept on a FAIL)
  X xdotool key Return
}
press() {  # press NAME through the menu search; wait until CHECK (a shell test) holds or TIMEOUT seconds
  # pass; DURING: screenshots to take while the jobs run (the progress bar); QUERY: what to type
  local name="$1" check="$2" timeout="${3:-60}" during="${4:-0}" query="${5:-$1}" slug t0 took ok=0 n
  STEP=$((STEP + 1))
  slug="$(printf %02d "$STEP")-$(echo "$name" | tr 'A-Z /' 'a-z__' | tr -s _ | tr -cd 'a-z0-9_-')"
  t0="$(date +%s)"
  local error0; error0="$(state error)"
  type_in_search "$query" "$slug-search"
  local pids=()
  for n in $(seq "$during"); do  # while the jobs run (the progress bar moving): staggered, in parallel
    (t=$((n * 7 - 4)); sleep "$((t / 10)).$((t % 10))"; X import -window root "/work/$slug-during$n.png") &
    pids+=($!)
  done
  while [ $(( $(date +%s) - t0 )) -lt "$timeout" ]; do
    sleep 0.5
    if eval "$check"; then ok=1; break; fi
    # finished with a new error that the check does not expect: no need to wait out the timeout
    if [ "$(state running)" = 0 ] && [ -n "$(state error)" ] && [ "$(state error)" != "$error0" ]; then
      eval "$check" && ok=1
      break
    fi
  done
  sleep 0.7  # let the panel redraw the last state
  shot "$slug"
  for n in "${!pids[@]}"; do wait "${pids[$n]}" && cp "$ROOTFS/work/$slug-during$((n + 1)).png" "$OUT/"; done
  # An error report pops up under the mouse and takes the next keys: close it (no job runs now, so
  # Escape cancels nothing).
  if [ "$(state running)" = 0 ] && [ -n "$(state error)" ]; then X xdotool mousemove 300 650 key Escape; sleep 1; fi
  took=$(( $(date +%s) - t0 ))
  if [ "$ok" = 1 ]; then
    echo "PASS $name (${took} s; engine $(state connection); action '$(state action)'; text '$(state text)'; error '$(state error)'; $slug.png)"
  else
    cp "$ROOTFS/work/$slug-search.png" "$OUT/"
    echo "FAIL $name (${took} s; engine $(state connection); status '$(state status)'; error '$(state error)'; $slug.png)"
    FAILS=$((FAILS + 1))
  fi
}

shot 00-start
press "Check Connection" '[ "$(state connection)" = connected ]' 10
ACTIONS="$(state actions)"
press "Generate" 'changed actions "$ACTIONS" && [ "$(state running)" = 0 ] && [[ "$(state action)" == MC_* ]]' 120 3
press "Continue" '[[ "$(state action)" == MC_continue* ]] && [ "$(state running)" = 0 ]' 120
press "In-between" '[[ "$(state action)" == MC_inbetween* ]] && [ "$(state running)" = 0 ]' 120
press "Correct Pose" '[[ "$(state last_op)" == *correct_pose ]] && [ "$(state running)" = 0 ] && [ -z "$(state error)" ]' 60
TEXT="$(state text)"
press "Describe Pose" 'changed text "$TEXT" && [ "$(state running)" = 0 ]' 60
TEXT="$(state text)"
press "Describe Change" 'changed text "$TEXT" && [ "$(state running)" = 0 ]' 60
TEXT="$(state text)"
press "Describe Animation" 'changed text "$TEXT" && [ "$(state running)" = 0 ]' 60
# Cancel: a Generate the engine cannot answer (its process stopped), cancelled while it waits.
kill -STOP "$ENGINE_PID"
type_in_search "Generate"
sleep 2
press "Cancel" '[ "$(state running)" = 0 ] && [[ "$(state error)" == *cancelled* ]]' 10
kill -CONT "$ENGINE_PID"
ARMS="$(state armatures)"
press "Create SMPL Armature" 'changed armatures "$ARMS"' 10
kill "$ENGINE_PID"; wait "$ENGINE_PID" 2>/dev/null || true; ENGINE_PID=""
press "Generate" '[ "$(state running)" = 0 ] && [[ "$(state error)" == *"No answer"* ]]' 40
sleep 2
shot "$(printf %02d "$STEP")-generate-error-later"  # the report closed: the panel's message in full
press "Check Connection" '[ "$(state connection)" = "not reachable" ]' 10
start_engine 2
press "Start / Reconnect" '[ "$(state connection)" = connected ]' 20 0 "Reconnect"

echo "Blender: $BLENDER_VERSION; $STEP presses, $FAILS failed; the whole check took $(( $(date +%s) - T0 )) s; screenshots and logs in $OUT"
cp "$ROOTFS/work/blender.log" "$OUT/" 2>/dev/null || true
[ "$FAILS" = 0 ]
