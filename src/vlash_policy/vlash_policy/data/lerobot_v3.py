"""Read and write demonstrations in the LeRobotDataset v3.0 on-disk layout, with pyarrow only.

Layout (``codebase_version: "v3.0"``)::

    meta/info.json                          fps, features (dtype, shape, names), path templates
    meta/stats.json                         per-feature min / max / mean / std / count
    meta/tasks.parquet                      task string (pandas index "task") -> task_index
    meta/episodes/chunk-000/file-000.parquet  one row per episode: length, tasks, row range
    data/chunk-000/file-000.parquet         one row per frame
    videos/<key>/chunk-000/file-000.mp4     (video features only)

The maintained ``lerobot`` library cannot be installed here (0.5+ needs Python >= 3.12; 0.4.x
pins torch < 2.11 plus torchvision/torchcodec), so this module implements the documented layout.
The writer stores camera frames as ``image`` features (PNG bytes in parquet, the
``{"bytes", "path"}`` struct of HF ``datasets.Image``) so no video codec is needed; the reader
accepts ``image`` features and, when the ``av`` package is importable, ``video`` features.

The action space is not part of the LeRobot schema; the writer records it as
``info["vlash"]["action_space"]`` and the reader defaults to absolute targets (LeRobot's
convention for joint-position actions) when it is absent.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

from vlash_core.action_space import ActionSpace, parse_action_space
from vlash_policy.data.episode import Episode, check_compatible
from vlash_policy.data.normalization import FeatureStats

CODEBASE_VERSION = "v3.0"
STATE_KEY = "observation.state"
ACTION_KEY = "action"
IMAGE_PREFIX = "observation.images."
DATA_PATH = "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
EPISODES_PATH = "meta/episodes/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
VIDEO_PATH = "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4"
_IMAGE_STRUCT = pa.struct([("bytes", pa.binary()), ("path", pa.string())])


def _png(frame: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(frame).save(buf, format="PNG")
    return buf.getvalue()


def _vector_column(rows: np.ndarray) -> pa.Array:
    flat = pa.array(rows.astype(np.float32).reshape(-1), type=pa.float32())
    return pa.FixedSizeListArray.from_arrays(flat, rows.shape[1])


def _write_tasks(path: Path, tasks: Sequence[str]) -> None:
    table = pa.table(
        {
            "task_index": pa.array(range(len(tasks)), pa.int64()),
            "task": pa.array(tasks, pa.string()),
        }
    )
    # pandas metadata makes pd.read_parquet (what lerobot uses) restore "task" as the index.
    pandas_meta = {
        "index_columns": ["task"],
        "column_indexes": [],
        "columns": [
            {"name": "task_index", "field_name": "task_index", "pandas_type": "int64",
             "numpy_type": "int64", "metadata": None},
            {"name": "task", "field_name": "task", "pandas_type": "unicode",
             "numpy_type": "object", "metadata": None},
        ],
        "creator": {"library": "pyarrow", "version": pa.__version__},
        "pandas_version": "2.2.0",
    }  # fmt: skip
    table = table.replace_schema_metadata({b"pandas": json.dumps(pandas_meta).encode()})
    pq.write_table(table, path)


def write_lerobot_dataset(
    episodes: Sequence[Episode], root: str | Path, *, robot_type: str | None = None
) -> Path:
    """Write ``episodes`` as a LeRobot v3.0 dataset under ``root`` (which must not exist)."""
    check_compatible(episodes)
    root = Path(root)
    if root.exists():
        raise FileExistsError(f"root {root} already exists; refusing to overwrite a dataset")
    ref = episodes[0]
    fps = ref.fps
    for i, ep in enumerate(episodes):
        if ep.fps != fps:
            raise ValueError(f"episode {i} has fps={ep.fps}, episode 0 has {fps}")
    tasks = list(dict.fromkeys(ep.instruction for ep in episodes))
    task_index = {task: i for i, task in enumerate(tasks)}

    columns: dict[str, list] = {"timestamp": [], "frame_index": [], "episode_index": []}
    columns.update({"index": [], "task_index": []})
    episode_rows: dict[str, list] = {
        "episode_index": [], "tasks": [], "length": [],
        "data/chunk_index": [], "data/file_index": [],
        "dataset_from_index": [], "dataset_to_index": [],
        "meta/episodes/chunk_index": [], "meta/episodes/file_index": [],
    }  # fmt: skip
    images: dict[str, list[dict]] = {cam: [] for cam in ref.cameras}
    start = 0
    for e, ep in enumerate(episodes):
        steps = np.arange(ep.length)
        columns["timestamp"].append((steps / fps).astype(np.float32))
        columns["frame_index"].append(steps)
        columns["episode_index"].append(np.full(ep.length, e))
        columns["index"].append(start + steps)
        columns["task_index"].append(np.full(ep.length, task_index[ep.instruction]))
        for cam in ref.cameras:
            images[cam].extend({"bytes": _png(f), "path": None} for f in ep.images[cam])
        for key, value in (
            ("episode_index", e), ("tasks", [ep.instruction]), ("length", ep.length),
            ("data/chunk_index", 0), ("data/file_index", 0),
            ("dataset_from_index", start), ("dataset_to_index", start + ep.length),
            ("meta/episodes/chunk_index", 0), ("meta/episodes/file_index", 0),
        ):  # fmt: skip
            episode_rows[key].append(value)
        start += ep.length

    data = {k: pa.array(np.concatenate(v), pa.float32() if k == "timestamp" else pa.int64())
            for k, v in columns.items()}  # fmt: skip
    data[STATE_KEY] = _vector_column(np.concatenate([ep.states for ep in episodes]))
    data[ACTION_KEY] = _vector_column(np.concatenate([ep.actions for ep in episodes]))
    for cam in ref.cameras:
        data[IMAGE_PREFIX + cam] = pa.array(images[cam], _IMAGE_STRUCT)

    (root / "meta").mkdir(parents=True)
    data_file = root / DATA_PATH.format(chunk_index=0, file_index=0)
    data_file.parent.mkdir(parents=True)
    pq.write_table(pa.table(data), data_file)
    episodes_file = root / EPISODES_PATH.format(chunk_index=0, file_index=0)
    episodes_file.parent.mkdir(parents=True)
    pq.write_table(pa.table(episode_rows), episodes_file)
    _write_tasks(root / "meta" / "tasks.parquet", tasks)

    action_names = (
        list(ref.joint_names)
        if ref.action_dim == ref.state_dim
        else [f"action_{i}" for i in range(ref.action_dim)]
    )
    scalar = {"shape": [1], "names": None}
    features: dict[str, dict] = {
        "timestamp": {"dtype": "float32", **scalar},
        "frame_index": {"dtype": "int64", **scalar},
        "episode_index": {"dtype": "int64", **scalar},
        "index": {"dtype": "int64", **scalar},
        "task_index": {"dtype": "int64", **scalar},
        STATE_KEY: {"dtype": "float32", "shape": [ref.state_dim], "names": list(ref.joint_names)},
        ACTION_KEY: {"dtype": "float32", "shape": [ref.action_dim], "names": action_names},
    }
    for cam in ref.cameras:
        h, w = ref.images[cam].shape[1:3]
        features[IMAGE_PREFIX + cam] = {
            "dtype": "image", "shape": [h, w, 3], "names": ["height", "width", "channel"],
        }  # fmt: skip
    info = {
        "codebase_version": CODEBASE_VERSION,
        "robot_type": robot_type,
        "total_episodes": len(episodes),
        "total_frames": start,
        "total_tasks": len(tasks),
        "chunks_size": 1000,
        "data_files_size_in_mb": 100,
        "video_files_size_in_mb": 200,
        "fps": fps,
        "splits": {"train": f"0:{len(episodes)}"},
        "data_path": DATA_PATH,
        "video_path": None,
        "features": features,
        "vlash": {"action_space": ref.action_space.name.lower()},
    }
    (root / "meta" / "info.json").write_text(json.dumps(info, indent=4) + "\n")
    stats = {
        STATE_KEY: FeatureStats.of(np.concatenate([ep.states for ep in episodes])).to_dict(),
        ACTION_KEY: FeatureStats.of(np.concatenate([ep.actions for ep in episodes])).to_dict(),
    }
    for entry in stats.values():
        entry["count"] = [entry["count"]]  # LeRobot stores counts as one-element lists
    (root / "meta" / "stats.json").write_text(json.dumps(stats, indent=4) + "\n")
    return root


def _read_parquet_dir(directory: Path) -> pa.Table:
    files = sorted(directory.glob("chunk-*/file-*.parquet"))
    if not files:
        raise FileNotFoundError(f"no chunk-*/file-*.parquet files under {directory}")
    return pa.concat_tables([pq.read_table(f) for f in files], promote_options="default")


def _read_tasks(path: Path) -> dict[int, str]:
    table = pq.read_table(path)
    names = table.column_names
    task_col = next((c for c in ("task", "__index_level_0__") if c in names), None)
    if task_col is None or "task_index" not in names:
        raise ValueError(f"{path} must have a 'task_index' column and a 'task' index, got {names}")
    return dict(zip(table["task_index"].to_pylist(), table[task_col].to_pylist(), strict=True))


def _decode_image(cell: dict, root: Path, key: str) -> np.ndarray:
    if cell.get("bytes"):
        image = Image.open(io.BytesIO(cell["bytes"]))
    elif cell.get("path"):
        image = Image.open(root / cell["path"])
    else:
        raise ValueError(f"image feature {key!r} has a frame with neither bytes nor path")
    return np.asarray(image.convert("RGB"), dtype=np.uint8)


def _vectors(table: pa.Table, key: str) -> np.ndarray:
    if key not in table.column_names:
        raise ValueError(f"data files have no column {key!r}; columns: {table.column_names}")
    return np.asarray(table[key].to_pylist(), dtype=np.float32)


def read_lerobot_dataset(
    root: str | Path,
    *,
    state_key: str = STATE_KEY,
    action_key: str = ACTION_KEY,
    action_space: ActionSpace | str | int | None = None,
) -> list[Episode]:
    """Load every episode of the v3.0 dataset at ``root`` into memory.

    ``action_space`` overrides the one recorded by :func:`write_lerobot_dataset` (default
    ABSOLUTE for datasets written elsewhere). Camera features are all ``image``/``video``
    features; their names lose the ``observation.images.`` prefix.
    """
    root = Path(root)
    info_path = root / "meta" / "info.json"
    if not info_path.is_file():
        raise FileNotFoundError(f"{info_path} not found; is {root} a LeRobot dataset?")
    info = json.loads(info_path.read_text())
    version = str(info.get("codebase_version", ""))
    if not version.startswith("v3."):
        raise ValueError(
            f"codebase_version must be v3.x, got {version!r}; convert older datasets with "
            "lerobot's convert_dataset_v21_to_v30 first"
        )
    features: dict[str, dict] = info["features"]
    camera_keys = sorted(k for k, f in features.items() if f.get("dtype") in ("image", "video"))
    if not camera_keys:
        raise ValueError(f"dataset {root} has no image or video feature")
    space = parse_action_space(
        action_space
        if action_space is not None
        else info.get("vlash", {}).get("action_space", ActionSpace.ABSOLUTE)
    )
    names = features.get(state_key, {}).get("names")
    if isinstance(names, dict):  # older datasets: {"motors": [...]}
        names = next(iter(names.values()), None)

    tasks = _read_tasks(root / "meta" / "tasks.parquet")
    meta = _read_parquet_dir(root / "meta" / "episodes").to_pylist()
    data = _read_parquet_dir(root / "data")
    ep_col = np.asarray(data["episode_index"].to_numpy())
    frame_col = np.asarray(data["frame_index"].to_numpy())
    states_all = _vectors(data, state_key)
    actions_all = _vectors(data, action_key)
    task_col = np.asarray(data["task_index"].to_numpy())
    ts_col = np.asarray(data["timestamp"].to_numpy(), dtype=np.float64)

    episodes = []
    for row in sorted(meta, key=lambda r: r["episode_index"]):
        e = row["episode_index"]
        rows = np.flatnonzero(ep_col == e)
        if rows.size == 0:
            raise ValueError(f"episode {e} is listed in meta/episodes but has no data rows")
        rows = rows[np.argsort(frame_col[rows], kind="stable")]
        images = {}
        for key in camera_keys:
            cam = key.removeprefix(IMAGE_PREFIX)
            if features[key]["dtype"] == "image":
                cells = data[key].take(pa.array(rows)).to_pylist()
                images[cam] = np.stack([_decode_image(c, root, key) for c in cells])
            else:
                images[cam] = _read_video_frames(root, info, row, key, ts_col[rows])
        episodes.append(
            Episode(
                images=images,
                states=states_all[rows],
                actions=actions_all[rows],
                instruction=tasks[int(task_col[rows[0]])],
                fps=info["fps"],
                action_space=space,
                joint_names=tuple(names) if names else (),
            )
        )
    return episodes


def _read_video_frames(
    root: Path, info: dict, row: dict, key: str, timestamps: np.ndarray
) -> np.ndarray:
    """Frames of ``key`` nearest to ``from_timestamp + timestamps`` in the episode's mp4 file."""
    try:
        import av  # optional codec dependency, only needed for video features
    except ImportError:
        raise ValueError(
            f"feature {key!r} is stored as video; decoding it needs the 'av' package "
            "(pip install av) or re-encode the dataset with image features"
        ) from None
    template = info.get("video_path") or VIDEO_PATH
    path = root / template.format(
        video_key=key,
        chunk_index=int(row[f"videos/{key}/chunk_index"]),
        file_index=int(row[f"videos/{key}/file_index"]),
    )
    start = float(row[f"videos/{key}/from_timestamp"])
    stop = float(row[f"videos/{key}/to_timestamp"])
    wanted = start + timestamps
    margin = 1.0 / float(info["fps"])
    times, frames = [], []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        container.seek(max(int((start - margin) / stream.time_base), 0), stream=stream)
        for frame in container.decode(stream):
            if frame.time is None or frame.time < start - margin:
                continue
            if frame.time > stop + margin:
                break
            times.append(frame.time)
            frames.append(frame.to_ndarray(format="rgb24"))
    if not frames:
        raise ValueError(f"{path} has no frames in [{start}, {stop}] s for feature {key!r}")
    times_arr = np.asarray(times)
    nearest = np.abs(times_arr[None, :] - wanted[:, None]).argmin(axis=1)
    if np.max(np.abs(times_arr[nearest] - wanted)) > margin:
        raise ValueError(f"{path} is missing frames near the timestamps of feature {key!r}")
    return np.stack([frames[i] for i in nearest]).astype(np.uint8)
