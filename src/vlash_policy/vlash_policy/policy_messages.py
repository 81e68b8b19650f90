"""The policy node's outgoing messages, built from what the inference loop and the model return."""

from builtin_interfaces.msg import Time

from vlash_core.conversions import fill_chunk_actions
from vlash_msgs.msg import ActionChunk, RolledState
from vlash_policy.inference_loop import LoopSettings, OutgoingChunk
from vlash_policy.inference_planner import InferenceRequest
from vlash_policy.policy_interface import PolicyChunk


def action_chunk_message(
    chunk: OutgoingChunk,
    result: PolicyChunk,
    settings: LoopSettings,
    joint_names: list[str],
    control_period: float,
    stamp: Time,
) -> ActionChunk:
    """``chunk`` as the executor receives it, stamped with its observation's time."""
    request = chunk.request
    msg = ActionChunk(
        chunk_id=chunk.chunk_id,
        start_step=request.start_step,
        source_step=request.source_step,
        delay_steps=request.delay_steps,
        control_period=control_period,
        joint_names=joint_names,
        action_space=int(settings.action_space),
        quantization=settings.quantization,
        execution_horizon=settings.execution_horizon or 0,
        strategy=settings.strategy.name,
    )
    msg.header.stamp = stamp
    fill_chunk_actions(msg, chunk.actions, confidence=result.confidence, refined=result.refined)
    timing, spent = result.timing, msg.inference_time
    spent.total, spent.prefix_encoding = timing.total_s, timing.prefix_s
    spent.sfm, spent.rater, spent.afm = timing.sfm_s, timing.rater_s, timing.afm_s
    return msg


def rolled_state_message(
    request: InferenceRequest, joint_names: list[str], stamp: Time
) -> RolledState:
    """``s_t``, ``s_{t+Δ}`` and the actions rolled over between them (VLASH Sec. 4.1)."""
    rollout = request.rollout
    msg = RolledState(
        measured_step=request.source_step,
        target_step=request.source_step + request.delay_steps,
        joint_names=joint_names,
        measured_positions=request.measured_state.tolist(),
        rolled_positions=request.rolled_state.tolist(),
        action_steps=rollout.steps.tolist(),
        action_chunk_ids=rollout.chunk_ids.tolist(),
        action_indices=rollout.indices.tolist(),
        action_executed=rollout.executed.tolist(),
    )
    msg.header.stamp = stamp
    return msg
