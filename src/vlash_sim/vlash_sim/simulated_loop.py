"""The closed control loop in simulated time, with an injected inference delay of ``d`` steps.

This is the Kinetix protocol of VLASH Sec. 5.1.1 on the whack-a-mole arm: inference started on the
observation preceding step ``t`` delivers its chunk just before step ``t + d``, while the robot
keeps executing. No wall clock is involved, so results are exactly reproducible from the seed.

The loop composes the same cores the ROS nodes run, so it measures their behaviour and not a
re-implementation: :class:`~vlash_executor.chunk_executor.ChunkExecutor` (the executor node's
step clock, switching, quantization and safety) and
:class:`~vlash_policy.inference_loop.InferenceLoop` (the policy node's trigger, roll-forward
and step bookkeeping), talking through the same reports the nodes exchange over DDS.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from vlash_core.action_space import ActionSpace
from vlash_core.so101 import SO101_MAX_JOINT_SPEED_RAD_S, TASK_INSTRUCTION
from vlash_core.strategies import get_strategy
from vlash_executor.chunk_executor import ChunkExecutor, IncomingChunk
from vlash_policy.inference_loop import InferenceLoop, LoopSettings, OutgoingChunk, Ticket
from vlash_policy.policy_interface import ChunkPolicy, InferenceTiming, PolicyChunk
from vlash_sim.expert import ScriptedExpert
from vlash_sim.so101_env import Observation, TaskEvent, WhackAMoleEnv


@dataclass
class LoopResult:
    """What happened in one simulated run."""

    steps: int
    shown: int
    hit: int
    missed: int
    events: list[TaskEvent]
    times_to_hit_s: list[float]
    """Seconds from a target appearing to its hit, one entry per hit."""
    commands: np.ndarray
    """(steps, 6) joint commands; NaN rows before the first known position."""
    holding: np.ndarray
    """(steps,) True where the executor held its last command."""
    chunk_starts: list[tuple[int, int]]
    """(step, chunk_id) of the first executed action of every chunk."""
    dropped_actions: int
    timings: list[InferenceTiming] = field(default_factory=list)

    @property
    def hit_rate(self) -> float:
        """Hits over targets that ended (hit or missed); 0 when none ended."""
        ended = self.hit + self.missed
        return self.hit / ended if ended else 0.0


@dataclass(frozen=True)
class StepRecord:
    """One control step as a demonstration: what was seen and what was commanded."""

    image: np.ndarray | None
    state: np.ndarray
    command: np.ndarray


class ExpertChunkPolicy:
    """The scripted IK expert behind the :class:`ChunkPolicy` interface.

    It perceives the target from the simulator (privileged) at observation time, so under a
    delay its chunk is exactly as stale as a VLA's would be. It plans from the state it is given,
    which is the measured one or, for ``vlash``, the rolled-forward one.
    """

    def __init__(self, env: WhackAMoleEnv, *, horizon: int) -> None:
        self._env = env
        self._expert = ScriptedExpert(env)
        self.horizon = horizon

    def predict_chunk(
        self,
        images,
        instruction: str,
        state: np.ndarray,
        *,
        previous_chunk: np.ndarray | None = None,
        strategy: str = "vlash",
        delay_steps: int = 0,
        execution_horizon: int | None = None,
    ) -> PolicyChunk:
        observation = self._env_observation()
        actions = self._expert.plan_chunk(
            observation, self._env, self.horizon, start_positions=np.asarray(state)
        )
        return PolicyChunk(actions, None, None, InferenceTiming(0.0, 0.0, 0.0, 0.0, 0.0))

    def _env_observation(self) -> Observation:
        # plan_chunk only needs the start positions it is given and the env's current target.
        return Observation(
            joint_positions=np.zeros(6),
            joint_velocities=np.zeros(6),
            image=None,
            time_s=0.0,
            step=0,
        )


def run_simulated_loop(
    env: WhackAMoleEnv,
    policy: ChunkPolicy,
    *,
    strategy: str,
    delay_steps: int,
    execution_horizon: int,
    num_steps: int,
    seed: int,
    instruction: str = TASK_INSTRUCTION,
    camera_name: str = "front",
    quantization: int = 1,
    margin_steps: int = 0,
    max_joint_speed_rad_s: float = SO101_MAX_JOINT_SPEED_RAD_S,
    on_step: Callable[[StepRecord], None] | None = None,
) -> LoopResult:
    """Run ``num_steps`` control steps of the closed loop; see the module docstring.

    Args:
        strategy: chunk switching strategy (``sync``, ``naive_async``, ``vlash``, ``rtc``).
        delay_steps: d, the inference delay in control steps (the policy assumes Δ = d).
        execution_horizon: K, actions executed per chunk before the next one is due.
        quantization: q of VLASH action quantization (macro-actions per step).
        on_step: called with each step's observation and command (demonstration recording).
    """
    if delay_steps < 0:
        raise ValueError(f"delay_steps must be >= 0, got {delay_steps}")
    switching = get_strategy(strategy)
    period = env.control_period_s
    executor = ChunkExecutor(
        strategy=switching,
        joint_count=len(env.joint_names),
        lower=env.lower,
        upper=env.upper,
        max_step_per_tick=np.full(len(env.joint_names), max_joint_speed_rad_s * period),
    )
    loop = InferenceLoop(
        LoopSettings(
            strategy=switching,
            action_space=ActionSpace.ABSOLUTE,
            joint_count=len(env.joint_names),
            horizon=policy.horizon,
            quantization=quantization,
            execution_horizon=execution_horizon,
            trigger_margin_steps=margin_steps,
            fixed_delay_steps=delay_steps,
            measure_delay=False,
        )
    )
    # Frames are rendered only when something looks at them: every step while recording a
    # demonstration, otherwise just the observations an inference starts from.
    record_frames = on_step is not None and env.render
    observation = env.reset(seed=seed)
    executor.set_measured_position(observation.joint_positions)
    # (arrival step, ticket, actions) of inferences whose chunk has not reached the executor.
    in_flight: list[tuple[int, Ticket, np.ndarray]] = []
    commands = np.full((num_steps, len(env.joint_names)), np.nan)
    holding = np.zeros(num_steps, dtype=bool)
    events: list[TaskEvent] = []
    shown_at: dict[int, int] = {}
    times_to_hit: list[float] = []
    chunk_starts: list[tuple[int, int]] = []
    timings: list[InferenceTiming] = []
    started: set[int] = set()

    def send(chunk: OutgoingChunk) -> None:
        executor.accept(
            IncomingChunk(
                chunk_id=chunk.chunk_id,
                start_step=chunk.request.start_step,
                source_step=chunk.request.source_step,
                actions=chunk.actions,
                action_space=ActionSpace.ABSOLUTE,
                quantization=quantization,
                execution_horizon=execution_horizon,
            )
        )

    for step in range(num_steps):
        # A chunk inferred from the observation before step t is published just before the
        # tick of step t + d, as the policy node publishes when inference ends.
        for arrival in [entry for entry in in_flight if entry[0] <= step]:
            in_flight.remove(arrival)
            loop.deliver(arrival[1], arrival[2], delay_steps * period, send=send)
        tick = executor.tick()
        commands[step] = tick.command
        holding[step] = tick.holding
        if tick.chunk_id is not None and tick.chunk_id not in started:
            started.add(tick.chunk_id)
            chunk_starts.append((step, tick.chunk_id))
        seen = observation
        if tick.holding:
            target = seen.joint_positions if np.isnan(tick.command).any() else tick.command
        else:
            target = tick.command
        result = env.step(target, render=record_frames)
        if on_step is not None:
            on_step(StepRecord(seen.image, seen.joint_positions.copy(), np.asarray(target).copy()))
        observation = result.observation
        for event in result.events:
            events.append(event)
            if event.kind == "shown":
                shown_at[event.target_id] = event.step
            elif event.kind == "hit":
                times_to_hit.append((event.step - shown_at[event.target_id]) * period)
        loop.on_report(
            executor.report(tick),
            stamp_s=step * period,
            control_period_s=period,
            limits=executor.limits,
        )
        if not loop.wants_inference():
            continue
        # The observation after step `step` is the state before step `step + 1` executes.
        ticket = loop.start(step + 1, observation.joint_positions)
        request = ticket.request
        image = observation.image
        if image is None and env.render:
            image = env.render_image()
        images = {} if image is None else {camera_name: image}
        chunk = policy.predict_chunk(
            images,
            instruction,
            request.conditioning_state,
            previous_chunk=request.previous_chunk,
            strategy=switching.name,
            delay_steps=request.delay_steps,
            execution_horizon=execution_horizon,
        )
        timings.append(chunk.timing)
        in_flight.append((request.source_step + delay_steps, ticket, chunk.actions))

    state = env.state()
    return LoopResult(
        steps=num_steps,
        shown=state.shown,
        hit=state.hit,
        missed=state.missed,
        events=events,
        times_to_hit_s=times_to_hit,
        commands=commands,
        holding=holding,
        chunk_starts=chunk_starts,
        dropped_actions=executor.dropped_actions,
        timings=timings,
    )
