"""Scripted whack-a-mole expert: IK toward the visible target under a joint-speed limit.

It plays the role of the demonstrator and of a perfect-perception chunk policy: from an
observation it outputs an action chunk ``A_t = [a_t, ..., a_{t+H-1}]`` of absolute joint position
targets (VLASH Sec. 3, Eq. (1)), i.e. what a VLA fine-tuned on its demonstrations would output.
The target position is read from the env (privileged state at observation time), so under an
inference delay the chunk is exactly as stale as a VLA's would be.
"""

from __future__ import annotations

import math

import mujoco
import numpy as np
from lerobot_env_so101.ik_control import solve_ik

from vlash_sim.so101_env import NUM_ARM_JOINTS, Observation, WhackAMoleEnv

# A solution whose tip misses the target by more than this is retried from the home pose, which
# escapes the local minima that seeding from a folded current pose can fall into.
IK_RETRY_ERROR_M = 0.01
IK_ITERATIONS = 40
IK_DAMPING = 0.05
# Peak joint speed of the demonstrations: a third of the executor's 3 rad/s limit, like human
# teleoperation, which moves well below what the arm allows. That headroom is what VLASH's
# action quantization (Sec. 4.4) turns into speed: q merged actions still fit under the limit.
DEMONSTRATION_JOINT_SPEED_RAD_S = 1.0


class ScriptedExpert:
    """Chunk policy: straight joint-space motion toward the IK solution of the current target.

    Each action moves every joint by at most ``max_joint_speed_rad_s * control_period`` from the
    previous one, so chunks look like a real arm's motion rather than a jump to the goal. With no
    visible target the goal is the env's home pose. The gripper joint stays at its home value.
    """

    def __init__(
        self,
        env: WhackAMoleEnv,
        *,
        max_joint_speed_rad_s: float = DEMONSTRATION_JOINT_SPEED_RAD_S,
    ) -> None:
        speed = float(max_joint_speed_rad_s)
        if not math.isfinite(speed) or speed <= 0.0:
            raise ValueError(f"max_joint_speed_rad_s must be finite and > 0, got {speed}")
        self.max_step_rad = speed * env.control_period_s
        self._model = env.model
        # IK runs on its own MjData so planning never disturbs the simulation state.
        self._ik_data = mujoco.MjData(env.model)
        self._arm_ids = np.arange(NUM_ARM_JOINTS)
        self._tip_site_id = env.tip_site_id
        self._home = env.home_position.copy()
        self._lower = env.lower.copy()
        self._upper = env.upper.copy()

    def goal_positions(self, env: WhackAMoleEnv, start_positions: np.ndarray) -> np.ndarray:
        """Joint configuration (6,) that puts the tip on the current target (home if none)."""
        target = env.current_target()
        if target is None:
            return self._home.copy()
        best_q, best_error = None, math.inf
        for seed in (start_positions[:NUM_ARM_JOINTS], self._home[:NUM_ARM_JOINTS]):
            self._ik_data.qpos[:] = 0.0
            q = solve_ik(
                self._model,
                self._ik_data,
                self._tip_site_id,
                self._arm_ids,
                target.position,
                ik_damping=IK_DAMPING,
                ik_iterations=IK_ITERATIONS,
                seed_q=np.asarray(seed, dtype=np.float64),
            )
            self._ik_data.qpos[self._arm_ids] = q
            mujoco.mj_kinematics(self._model, self._ik_data)
            error = float(
                np.linalg.norm(self._ik_data.site_xpos[self._tip_site_id] - target.position)
            )
            if error < best_error:
                best_q, best_error = q, error
            if error <= IK_RETRY_ERROR_M:
                break
        goal = self._home.copy()
        goal[:NUM_ARM_JOINTS] = best_q
        return np.clip(goal, self._lower, self._upper)

    def plan_chunk(
        self,
        observation: Observation,
        env: WhackAMoleEnv,
        horizon: int,
        *,
        start_positions: np.ndarray | None = None,
    ) -> np.ndarray:
        """Action chunk (horizon, 6) of absolute joint targets starting after ``start_positions``.

        ``start_positions`` defaults to the observed joints ``s_t``; passing the rolled-forward
        state ``s_{t+Δ}`` gives VLASH's future-state-aware chunk (VLASH Sec. 4.1).
        """
        if isinstance(horizon, bool) or not isinstance(horizon, int) or horizon < 1:
            raise ValueError(f"horizon must be an int >= 1, got {horizon!r}")
        if start_positions is None:
            start_positions = observation.joint_positions
        q = np.asarray(start_positions, dtype=np.float64).copy()
        if q.shape != self._home.shape:
            raise ValueError(f"start_positions must have shape {self._home.shape}, got {q.shape}")
        goal = self.goal_positions(env, q)
        chunk = np.empty((horizon, q.size))
        for k in range(horizon):
            q = q + np.clip(goal - q, -self.max_step_rad, self.max_step_rad)
            chunk[k] = q
        return chunk

    def act(self, observation: Observation, env: WhackAMoleEnv) -> np.ndarray:
        """Single next joint target (6,): the first action of a one-step chunk."""
        return self.plan_chunk(observation, env, 1)[0]
