"""Open-loop replay of a recorded run: re-predict every recorded chunk offline and compare.

``python -m vlash_policy.recording.replay BAG [--model DIR] [--out DIR] [--max-chunks N]``

``--model`` defaults to the embedded checkpoint (the one a launch without ``--model`` runs) and
``--out`` to ``results/replay/<bag name>``. The topics follow the bag's namespace: the chunks are
its one ``vlash_msgs/ActionChunk`` topic, the rolled states and joint states sit next to it, and
the cameras are its image topics with messages (``--image-topics`` to choose).

Each recorded ``ActionChunk`` names (``header.stamp``) the observation it was conditioned on:
the reference camera image of that stamp, the other cameras and the joint state paired with it
exactly as the live node pairs them (``observation_sync.ObservationSynchronizer``).
The conditioning state is the one the live planner used, taken from the recorded ``RolledState``
of the same stamp and source step: ``rolled_positions`` s_{t+Δ} for strategies that condition on
the rolled state (VLASH Sec. 4.1), ``measured_positions`` s_t otherwise; without a recorded
``RolledState`` a non-rolling strategy falls back to the synchronized joint state. For ``rtc``
the previous chunk is rebuilt from the recorded chunks (running plan aligned to the new start
step). The policy then predicts open loop, and each chunk is compared with the recorded one.

Replay is deterministic for a given ``--seed``: :class:`FlowVLAPolicy` draws all sampling noise
from one seeded generator, in chunk order. It reproduces the live chunks exactly only when the
live node ran the same checkpoint, seed, instruction and refinement settings and the bag starts
at the node's first chunk (every inference draws noise, so a missing chunk shifts the stream).
"""

from __future__ import annotations

import argparse
import bisect
import json
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from vlash_core.conversions import chunk_actions_array
from vlash_core.so101 import TASK_INSTRUCTION
from vlash_core.stamps import stamp_ns
from vlash_core.strategies import get_strategy
from vlash_policy.checkpoint_preflight import preflight_checkpoint
from vlash_policy.model.checkpoint import CONFIG_FILE
from vlash_policy.model.config import VLAConfig
from vlash_policy.observation_sync import ObservationSynchronizer
from vlash_policy.policy_interface import FlowVLAPolicy
from vlash_policy.recording.bag_io import (
    ACTION_CHUNK_TOPIC,
    DEFAULT_TOPICS,
    JOINT_STATES_TOPIC,
    ROLLED_STATE_TOPIC,
    image_rgb,
    namespace_of,
    read_bag_info,
    read_messages,
)

# A chunk stamp is a float seconds value rounded back to integer ns by the node.
_SAME_STAMP_S = 1e-6
# Largest |replayed - recorded| that is float rounding, not a difference: the chunks travel as
# float32, whose spacing near the joint ranges (|q| < 4 rad) is below 5e-7.
FLOAT_TOLERANCE = 1e-5


@dataclass(frozen=True)
class RecordedChunk:
    """The fields of a recorded ActionChunk that replay uses."""

    chunk_id: int
    stamp_ns: int
    start_step: int
    source_step: int
    delay_steps: int
    strategy: str
    joint_names: tuple[str, ...]
    actions: np.ndarray
    """(H, D) float64 (the float32 values that were sent)."""
    refined: bool
    """True when the chunk carries per-action refined flags (the rater + AFM ran)."""


@dataclass(frozen=True)
class ReplayInput:
    """Everything ``predict_chunk`` needs to redo one recorded chunk."""

    chunk: RecordedChunk
    images: Mapping[str, np.ndarray]
    state: np.ndarray
    previous_chunk: np.ndarray | None


@dataclass(frozen=True)
class ChunkComparison:
    """A recorded chunk next to its replay."""

    chunk_id: int
    stamp_ns: int
    strategy: str
    recorded: np.ndarray
    replayed: np.ndarray

    @property
    def mse(self) -> float:
        """Mean over the H x D entries of the squared difference."""
        return float(np.mean((self.replayed - self.recorded) ** 2))

    @property
    def max_abs_per_joint(self) -> np.ndarray:
        """(D,) largest |replayed - recorded| over the chunk's H actions."""
        return np.max(np.abs(self.replayed - self.recorded), axis=0)


def _recorded_chunk(msg: Any) -> RecordedChunk:
    return RecordedChunk(
        chunk_id=int(msg.chunk_id),
        stamp_ns=stamp_ns(msg.header.stamp),
        start_step=int(msg.start_step),
        source_step=int(msg.source_step),
        delay_steps=int(msg.delay_steps),
        strategy=str(msg.strategy),
        joint_names=tuple(msg.joint_names),
        actions=chunk_actions_array(msg).astype(np.float64),
        refined=len(msg.refined) > 0,
    )


def aligned_previous(chunks: Sequence[RecordedChunk], new: RecordedChunk) -> np.ndarray | None:
    """The plan of the chunks published before ``new`` for the steps from ``new.start_step`` on.

    Each step takes the action of the newest earlier chunk that covers it (a newer chunk replaces
    the running one from its start step); rows stop at the first step no chunk covers. This is
    the ``previous_chunk`` RTC inpaints toward; None when the first step is not covered.
    """
    earlier = [c for c in chunks if c.chunk_id < new.chunk_id]
    rows = []
    step = new.start_step
    while len(rows) < new.actions.shape[0]:
        covering = [c for c in earlier if c.start_step <= step < c.start_step + len(c.actions)]
        if not covering:
            break
        newest = max(covering, key=lambda c: c.chunk_id)
        rows.append(newest.actions[step - newest.start_step])
        step += 1
    return np.array(rows) if rows else None


def _near_any(sorted_stamps: list[int], stamp: int, tolerance_ns: int) -> bool:
    i = bisect.bisect_left(sorted_stamps, stamp - tolerance_ns)
    return i < len(sorted_stamps) and sorted_stamps[i] <= stamp + tolerance_ns


def load_replay_inputs(
    bag: str | Path,
    *,
    camera_names: Sequence[str],
    image_topics: Sequence[str] | None = None,
    tolerance_s: float,
    max_chunks: int | None = None,
) -> tuple[list[ReplayInput], Counter[str]]:
    """Replay inputs of the first ``max_chunks`` recorded chunks (by chunk id) and skip reasons.

    ``image_topics`` None: the bag's image topics that hold messages. Two passes over the bag
    so that only images near a chunk's stamp are decoded and kept.
    """
    info = read_bag_info(bag)
    chunk_topic = info.one_of_type(DEFAULT_TOPICS[ACTION_CHUNK_TOPIC], "the policy's chunks")
    namespace = namespace_of(chunk_topic, ACTION_CHUNK_TOPIC)
    rolled_topic = f"{namespace}/{ROLLED_STATE_TOPIC}"
    joints_topic = f"{namespace}/{JOINT_STATES_TOPIC}"
    image_topics = list(info.image_topics() if image_topics is None else image_topics)
    if len(image_topics) != len(camera_names):
        raise ValueError(
            f"image topics {image_topics} are {len(image_topics)} but the model expects "
            f"{len(camera_names)} cameras {list(camera_names)}; choose them with --image-topics"
        )
    if max_chunks is not None and max_chunks < 1:
        raise ValueError(f"max_chunks={max_chunks} must be >= 1")
    if not math.isfinite(tolerance_s) or tolerance_s < 0:
        raise ValueError(f"tolerance_s={tolerance_s} must be finite and >= 0")
    all_chunks: list[RecordedChunk] = []
    rolled: dict[tuple[int, int], Any] = {}
    for item in read_messages(bag, [t for t in (chunk_topic, rolled_topic) if t in info.topics]):
        if item.topic == chunk_topic:
            all_chunks.append(_recorded_chunk(item.message))
        else:
            key = (stamp_ns(item.message.header.stamp), int(item.message.measured_step))
            rolled[key] = item.message
    all_chunks.sort(key=lambda c: c.chunk_id)
    chunks = all_chunks[:max_chunks]
    if not chunks:
        raise ValueError(f"bag {bag} holds no {chunk_topic} messages")
    joint_names = chunks[0].joint_names

    needed = sorted({c.stamp_ns for c in chunks})
    tolerance_ns = round(tolerance_s * 1e9)
    camera_of = dict(zip(image_topics, camera_names, strict=True))
    images: dict[str, list[tuple[float, np.ndarray]]] = {name: [] for name in camera_names}
    joints: list[tuple[float, np.ndarray]] = []
    observed = [*image_topics, *([joints_topic] if joints_topic in info.topics else [])]
    for item in read_messages(bag, observed):
        stamp = stamp_ns(item.message.header.stamp)
        if not _near_any(needed, stamp, tolerance_ns):
            continue
        if item.topic == joints_topic:
            index = {name: i for i, name in enumerate(item.message.name)}
            if all(name in index for name in joint_names):
                positions = [item.message.position[index[name]] for name in joint_names]
                joints.append((stamp * 1e-9, np.asarray(positions)))
        else:
            rgb = image_rgb(item.msgtype, item.message)
            images[camera_of[item.topic]].append((stamp * 1e-9, rgb))
    sync = ObservationSynchronizer(
        camera_names=camera_names,
        tolerance_s=tolerance_s,
        buffer_size=max(1, len(joints), *(len(v) for v in images.values())),
    )
    for camera, frames in images.items():
        for stamp_s, rgb in frames:
            sync.add_image(camera, stamp_s, rgb)
    for stamp_s, positions in joints:
        sync.add_joint_state(stamp_s, positions)

    inputs: list[ReplayInput] = []
    skipped: Counter[str] = Counter()
    for chunk in chunks:
        stamp_s = chunk.stamp_ns * 1e-9
        observation = sync.latest(not_after_s=stamp_s + _SAME_STAMP_S)
        if observation is None or abs(observation.stamp_s - stamp_s) > _SAME_STAMP_S:
            skipped["observation not recorded"] += 1
            continue
        strategy = get_strategy(chunk.strategy)
        state_msg = rolled.get((chunk.stamp_ns, chunk.source_step))
        if state_msg is not None:
            state = np.asarray(
                state_msg.rolled_positions
                if strategy.conditions_on_rolled_state
                else state_msg.measured_positions,
                dtype=np.float64,
            )
        elif strategy.conditions_on_rolled_state:
            skipped["no RolledState for a rolled-state chunk"] += 1
            continue
        else:
            state = np.array(observation.state)
        previous = aligned_previous(all_chunks, chunk) if strategy.uses_guidance else None
        if strategy.uses_guidance and previous is None:
            skipped["rtc chunk without a previous plan"] += 1
            continue
        inputs.append(ReplayInput(chunk, dict(observation.images), state, previous))
    return inputs, skipped


def replay_chunks(
    policy: FlowVLAPolicy, inputs: Sequence[ReplayInput], instruction: str
) -> list[ChunkComparison]:
    """Predict every input's chunk open loop, in order, and pair it with the recorded one."""
    comparisons = []
    for item in tqdm(inputs, desc="replaying", unit="chunk", leave=False):
        chunk = item.chunk
        result = policy.predict_chunk(
            item.images,
            instruction,
            item.state,
            previous_chunk=item.previous_chunk,
            strategy=chunk.strategy,
            delay_steps=chunk.delay_steps,
        )
        if result.actions.shape != chunk.actions.shape:
            raise ValueError(
                f"chunk {chunk.chunk_id} was recorded with shape {chunk.actions.shape} but the "
                f"policy predicts {result.actions.shape}; is --model the checkpoint of the run?"
            )
        comparisons.append(
            ChunkComparison(
                chunk.chunk_id, chunk.stamp_ns, chunk.strategy, chunk.actions, result.actions
            )
        )
    return comparisons


def action_unit(action_space: str) -> str:
    """Unit of a joint action: joint positions are radians, delta actions radians per step."""
    return "rad/step" if action_space == "delta" else "rad"


def matches_recording(comparisons: Sequence[ChunkComparison]) -> bool:
    """Whether every replayed action equals its recorded one up to :data:`FLOAT_TOLERANCE`."""
    return all(float(c.max_abs_per_joint.max()) <= FLOAT_TOLERANCE for c in comparisons)


def plot_actions(
    comparisons: Sequence[ChunkComparison], joint_names: Sequence[str], unit: str, path: Path
) -> Path:
    """Recorded (solid) vs replayed (dashed) actions per joint; one column per chunk."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    dim = comparisons[0].recorded.shape[1]
    fig, axes = plt.subplots(
        dim, len(comparisons), figsize=(3.6 * len(comparisons) + 1, 1.8 * dim), squeeze=False
    )
    for col, comparison in enumerate(comparisons):
        steps = np.arange(comparison.recorded.shape[0])
        for row in range(dim):
            ax = axes[row, col]
            ax.plot(steps, comparison.recorded[:, row], "-", label="recorded")
            ax.plot(steps, comparison.replayed[:, row], "--", label="replayed")
            if row == 0:
                ax.set_title(f"chunk {comparison.chunk_id} ({comparison.strategy})")
            if col == 0:
                ax.set_ylabel(f"{joint_names[row]}\n[{unit}]", fontsize=8)
            if row == dim - 1:
                ax.set_xlabel("action index in the chunk")
    axes[0, 0].legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def plot_errors(comparisons: Sequence[ChunkComparison], unit: str, path: Path) -> Path:
    """Per chunk, the largest and the RMS |replayed - recorded|, with the float tolerance."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ids = [c.chunk_id for c in comparisons]
    fig, (ax_max, ax_rms) = plt.subplots(2, 1, figsize=(8, 5), sharex=True)
    for ax, values, label in (
        (ax_max, [float(c.max_abs_per_joint.max()) for c in comparisons], "largest"),
        (ax_rms, [math.sqrt(c.mse) for c in comparisons], "RMS"),
    ):
        ax.plot(ids, values, "o-")
        ax.axhline(FLOAT_TOLERANCE, color="0.5", ls="--", lw=0.8, label="float tolerance")
        ax.set_ylim(bottom=0.0)
        ax.set_ylabel(f"{label} |replayed - recorded|\n[{unit}]", fontsize=8)
    ax_max.legend(fontsize="small")
    ax_max.set_title("Replayed vs recorded actions, per chunk (over its actions and joints)")
    ax_rms.set_xlabel("chunk id")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def summary_table(
    comparisons: Sequence[ChunkComparison], joint_names: Sequence[str], unit: str
) -> str:
    """Fixed-width text table: one row per chunk, the largest |replayed - recorded| per joint."""
    widths = [max(len(name), 9) for name in joint_names]
    header = " ".join(f"{n:>{w}}" for n, w in zip(joint_names, widths, strict=True))
    lines = [
        f"largest |replayed - recorded| per joint [{unit}]",
        f"{'chunk':>7} {'strategy':>11} {'RMS':>9} {header}",
    ]
    for c in comparisons:
        joints = " ".join(f"{v:{w}.3g}" for v, w in zip(c.max_abs_per_joint, widths, strict=True))
        lines.append(f"{c.chunk_id:>7} {c.strategy:>11} {math.sqrt(c.mse):9.3g} {joints}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Replay, write ``replay.json``, ``replay_actions.npz`` and the PNGs; returns the report."""
    model = preflight_checkpoint(args.model).path  # None or "": the embedded checkpoint
    out = Path(args.out) if args.out is not None else Path("results") / "replay" / args.bag.name
    out.mkdir(parents=True, exist_ok=True)
    # The cameras are needed before the policy: its refine setting comes from the chunks.
    config = VLAConfig.load(model / CONFIG_FILE)
    inputs, skipped = load_replay_inputs(
        args.bag,
        camera_names=config.camera_names,
        image_topics=args.image_topics,
        tolerance_s=args.sync_tolerance,
        max_chunks=args.max_chunks,
    )
    if not inputs:
        raise ValueError(f"no chunk of {args.bag} could be replayed: {dict(skipped)}")
    # The live run refined iff its chunks carry refined flags (guided rtc chunks never do).
    unguided = [i.chunk for i in inputs if not get_strategy(i.chunk.strategy).uses_guidance]
    refine = unguided[0].refined if unguided else None
    policy = FlowVLAPolicy(model, device=args.device, refine=refine, seed=args.seed)
    comparisons = replay_chunks(policy, inputs, args.instruction)
    joint_names = list(inputs[0].chunk.joint_names) or list(policy.config.joint_names)
    unit = action_unit(config.action_space)
    matches = matches_recording(comparisons)

    plots = [
        str(plot_actions(comparisons[: args.plot_chunks], joint_names, unit, out / "actions.png"))
    ]
    if not matches:  # a match would only plot float rounding
        plots.append(str(plot_errors(comparisons, unit, out / "errors.png")))
    np.savez(
        out / "replay_actions.npz",
        chunk_ids=np.array([c.chunk_id for c in comparisons]),
        recorded=np.stack([c.recorded for c in comparisons]),
        replayed=np.stack([c.replayed for c in comparisons]),
    )
    mses = [c.mse for c in comparisons]
    largest = float(np.max([c.max_abs_per_joint.max() for c in comparisons]))
    report = {
        "bag": str(args.bag),
        "model": str(model),
        "seed": args.seed,
        "instruction": args.instruction,
        "refine": policy.refine,
        "joint_names": joint_names,
        "unit": unit,
        "chunks": [
            {
                "chunk_id": c.chunk_id,
                "stamp_ns": c.stamp_ns,
                "strategy": c.strategy,
                "mse": c.mse,
                "max_abs_per_joint": c.max_abs_per_joint.tolist(),
            }
            for c in comparisons
        ],
        "summary": {
            "replayed": len(comparisons),
            "skipped": dict(skipped),
            "matches": matches,
            "float_tolerance": FLOAT_TOLERANCE,
            "mean_mse": float(np.mean(mses)),
            "max_mse": float(np.max(mses)),
            "max_abs_per_joint": np.max(
                [c.max_abs_per_joint for c in comparisons], axis=0
            ).tolist(),
        },
        "plots": plots,
    }
    (out / "replay.json").write_text(json.dumps(report, indent=2))
    skipped_text = ", ".join(f"{n} ({why})" for why, n in skipped.items()) or "none"
    if matches:
        print(
            f"replayed {len(comparisons)} chunks of {model}: matches the recording within float "
            f"tolerance (largest |replayed - recorded| {largest:.2g} {unit} <= "
            f"{FLOAT_TOLERANCE:g}); skipped {skipped_text}"
        )
    else:
        print(summary_table(comparisons, joint_names, unit))
        print(
            f"replayed {len(comparisons)} chunks of {model}: they differ from the recording "
            f"(largest |replayed - recorded| {largest:.3g} {unit}); skipped {skipped_text}. "
            "Same checkpoint, seed, instruction and a bag from the policy's first chunk on "
            "reproduce a run exactly"
        )
    print(f"report: {out / 'replay.json'}")
    for plot in plots:
        print(f"plot: {plot}")
    return report


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m vlash_policy.recording.replay", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("bag", type=Path, help="recorded rosbag2 (MCAP) directory")
    parser.add_argument(
        "--model", default=None, help="checkpoint directory (default or '': the embedded one)"
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="output directory (default results/replay/<bag>)"
    )
    parser.add_argument("--max-chunks", type=int, default=None, help="replay the first N chunks")
    parser.add_argument("--seed", type=int, default=0, help="policy noise seed (node: seed)")
    parser.add_argument("--instruction", default=TASK_INSTRUCTION)
    parser.add_argument(
        "--image-topics",
        nargs="+",
        default=None,
        help="camera topics in the model's camera order (node: image_topics; default: the "
        "bag's image topics)",
    )
    parser.add_argument("--sync-tolerance", type=float, default=0.05, help="node: sync_tolerance_s")
    parser.add_argument("--plot-chunks", type=int, default=3, help="chunks in actions.png")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    if args.plot_chunks < 1:
        parser.error(f"--plot-chunks must be >= 1, got {args.plot_chunks}")
    return args


def main(argv: Sequence[str] | None = None) -> None:
    # Returns None: console-script wrappers pass main()'s value to sys.exit.
    args = parse_args(argv)
    try:
        run(args)
    except (FileNotFoundError, ValueError) as error:  # the bag or checkpoint is unusable
        raise SystemExit(f"replay: {error}") from None


if __name__ == "__main__":
    main()
