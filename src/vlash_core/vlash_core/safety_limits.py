"""The executor's safety model: the one definition of how an action becomes a joint command.

Both sides of the VLASH loop use it. The executor (``vlash_executor.chunk_executor``) turns every
due action into the command it sends; the policy's roll-forward (:mod:`vlash_core.rollforward`,
VLASH Sec. 4.1) replays the same pipeline over the actions that execute during the inference
delay, so the rolled state ``s_{t+Δ}`` is the position the executor really commands at step
``t+Δ-1``, not an unclamped guess. The pipeline, per chunk and per control step:

1. quantization (VLASH Sec. 4.4, Eq. (5)): the chunk's ``q`` micro-actions per block are merged
   into one macro-action per control step (:func:`vlash_core.quantization.quantize_actions`,
   applied once when the chunk is accepted or planned);
2. delta -> absolute: a DELTA action is added to the previous command, an ABSOLUTE one is the
   target itself (:mod:`vlash_core.action_space`);
3. position clamp to ``[lower, upper]``;
4. per-tick step clamp: the command moves at most ``max_step`` from the previous command.

Steps 2-4 are :meth:`SafetyLimits.command`. The previous command of the first step is the hold
position the executor seeded from the measured joints (:meth:`SafetyLimits.hold_position`), so the
first command also moves from the measured position within one step. NumPy only: the executor
imports this without torch and without ROS.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from vlash_core.action_space import ActionSpace, parse_action_space

PerJoint = Sequence[float] | np.ndarray | float


def per_joint(name: str, value: PerJoint, joint_count: int) -> np.ndarray:
    """``value`` as a float64 ``(joint_count,)`` array; a scalar applies to every joint."""
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim == 0:
        arr = np.full(joint_count, float(arr))
    if arr.shape != (joint_count,):
        raise ValueError(
            f"{name} must be a scalar or have {joint_count} entries (one per joint), "
            f"got shape {arr.shape}"
        )
    if np.any(np.isnan(arr)):
        raise ValueError(f"{name} must not contain NaN, got {arr.tolist()}")
    return arr


@dataclass(frozen=True)
class SafetyLimits:
    """Joint position limits and the largest command change per control step.

    ``lower``/``upper`` may be infinite (no position limit) and ``max_step`` may be infinite (no
    velocity limit); a robot's executor is built with finite ones (:attr:`is_finite`).
    """

    lower: np.ndarray
    upper: np.ndarray
    max_step: np.ndarray
    """Largest change of each joint command in one control step (rad per tick)."""

    def __post_init__(self) -> None:
        joints = np.asarray(self.lower).reshape(-1).shape[0]
        if joints < 1:
            raise ValueError("SafetyLimits needs at least one joint")
        for name in ("lower", "upper", "max_step"):
            arr = per_joint(name, getattr(self, name), joints)
            arr.setflags(write=False)
            object.__setattr__(self, name, arr)
        bad = np.flatnonzero(self.lower > self.upper)
        if bad.size:
            j = int(bad[0])
            raise ValueError(
                f"joint limit lower > upper for joint index {j}: {self.lower[j]} > {self.upper[j]}"
            )
        if np.any(self.max_step <= 0):
            raise ValueError(f"max_step_per_tick must be > 0, got {self.max_step.tolist()}")

    @classmethod
    def create(
        cls,
        joint_count: int,
        *,
        lower: PerJoint | None = None,
        upper: PerJoint | None = None,
        max_step_per_tick: PerJoint | None = None,
    ) -> SafetyLimits:
        """Limits for ``joint_count`` joints; None leaves that limit off (infinite)."""
        if isinstance(joint_count, bool) or not isinstance(joint_count, int) or joint_count < 1:
            raise ValueError(f"joint_count must be an integer >= 1, got {joint_count!r}")

        def resolve(name: str, value: PerJoint | None, fill: float) -> np.ndarray:
            return (
                np.full(joint_count, fill) if value is None else per_joint(name, value, joint_count)
            )

        return cls(
            lower=resolve("lower", lower, -np.inf),
            upper=resolve("upper", upper, np.inf),
            max_step=resolve("max_step_per_tick", max_step_per_tick, np.inf),
        )

    @classmethod
    def from_velocity(
        cls,
        *,
        lower: PerJoint,
        upper: PerJoint,
        max_velocity: PerJoint,
        control_period_s: float,
        joint_count: int,
    ) -> SafetyLimits:
        """Limits from a speed limit (rad/s): ``max_step = max_velocity * control_period_s``.

        This is how the executor node's ``max_joint_velocity`` parameter becomes the per-tick
        limit; a policy that knows the same velocity and the executor's control period (from its
        ``ExecutedActions.control_period``) builds identical limits for its roll-forward.
        """
        if not (np.isfinite(control_period_s) and control_period_s > 0):
            raise ValueError(f"control_period_s must be finite and > 0, got {control_period_s}")
        velocity = per_joint("max_velocity", max_velocity, joint_count)
        if not np.all((velocity > 0) & np.isfinite(velocity)):
            raise ValueError(
                f"max_velocity must be in (0, inf) rad/s for every joint, got {velocity.tolist()}"
            )
        return cls.create(
            joint_count,
            lower=lower,
            upper=upper,
            max_step_per_tick=velocity * float(control_period_s),
        )

    @property
    def joint_count(self) -> int:
        return int(self.lower.shape[0])

    @property
    def is_finite(self) -> bool:
        """True when every position and step limit is finite (what a real arm needs)."""
        return bool(
            np.all(np.isfinite(self.lower))
            and np.all(np.isfinite(self.upper))
            and np.all(np.isfinite(self.max_step))
        )

    def hold_position(self, measured: PerJoint) -> np.ndarray:
        """The hold position seeded from measured joints: clipped into the position limits.

        A measured position outside the limits (a calibration offset) is clipped: nothing is
        ever commanded outside ``[lower, upper]``, which takes precedence over the step limit.
        """
        position = per_joint("position", measured, self.joint_count)
        if not np.all(np.isfinite(position)):
            raise ValueError(f"position must be finite, got {position.tolist()}")
        return np.clip(position, self.lower, self.upper)

    def command(
        self,
        action: np.ndarray,
        previous: np.ndarray,
        action_space: ActionSpace | str | int,
    ) -> tuple[np.ndarray, bool]:
        """The command for one control step and whether a limit changed it (steps 2-4 above).

        ``action`` is the macro-action due at this step, ``previous`` the command in force
        before it (the executor's last command or its seeded hold position).
        """
        space = parse_action_space(action_space)
        target = previous + action if space is ActionSpace.DELTA else np.asarray(action, float)
        safe = np.clip(target, self.lower, self.upper)
        safe = np.clip(safe, previous - self.max_step, previous + self.max_step)
        return safe, not np.array_equal(safe, target)

    def commands(
        self,
        previous: np.ndarray,
        actions: np.ndarray,
        action_space: ActionSpace | str | int,
    ) -> np.ndarray:
        """``(n, D)`` commands of ``n`` consecutive steps running ``actions`` from ``previous``."""
        rows = np.empty((len(actions), self.joint_count))
        command = np.asarray(previous, dtype=np.float64)
        for i, action in enumerate(actions):
            command, _ = self.command(action, command, action_space)
            rows[i] = command
        return rows
