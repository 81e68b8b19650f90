"""LeRobot called directly, in-process, on one observation (runs in ``.venv-lerobot``).

    python -m vlash_policy.lerobot_backend.direct --checkpoint DIR --observation OBS --out OUT
        [--warmup W --repeat N --threads T]

The reference the bridge is checked against, written the way LeRobot's async policy server
(``lerobot/async_inference/policy_server.py``) runs a chunk: ``from_pretrained`` on the
policy class, the saved pre/post-processors, ``predict_action_chunk(batch, noise=noise)``, then
the postprocessor on each step of the chunk. It shares no code with :mod:`.worker`.

OBS is a :mod:`.protocol` message file: header ``{"task": str}``; arrays ``noise`` and one per
LeRobot key (``observation.images.<camera>`` as (H, W, 3) uint8, ``observation.state``). OUT
gets a message with the ``action`` array (H, D) float32, unnormalised. With ``--repeat N`` the
chunk is computed W + N more times and the seconds of the last N calls (preprocess + predict +
postprocess) are in the header as ``call_s``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from vlash_policy.lerobot_backend.protocol import read_message, write_message


def main(argv: list[str] | None = None) -> None:
    from lerobot.configs.policies import PreTrainedConfig
    from lerobot.policies.factory import get_policy_class, make_pre_post_processors

    parser = argparse.ArgumentParser(description="LeRobot inference on one observation.")
    parser.add_argument("--checkpoint", required=True, type=Path)
    parser.add_argument("--observation", required=True, type=Path)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--warmup", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    config = PreTrainedConfig.from_pretrained(args.checkpoint)
    config.device = "cpu"
    policy = get_policy_class(config.type).from_pretrained(args.checkpoint, config=config)
    policy.eval()
    preprocessor, postprocessor = make_pre_post_processors(
        policy.config, pretrained_path=str(args.checkpoint)
    )
    with args.observation.open("rb") as stream:
        header, arrays = read_message(stream)
    noise = torch.from_numpy(arrays.pop("noise"))

    def chunk() -> np.ndarray:
        observation: dict = {}
        for key, value in arrays.items():
            tensor = torch.from_numpy(value.copy())
            if key.startswith("observation.images."):
                # LeRobot's frame convention: (C, H, W) float32 in [0, 1].
                tensor = tensor.permute(2, 0, 1).float() / 255.0
            else:
                tensor = tensor.float()
            observation[key] = tensor[None]
        observation["task"] = header["task"]
        with torch.inference_mode():
            batch = preprocessor(observation)
            actions = policy.predict_action_chunk(batch, noise=noise)
            steps = [postprocessor(actions[:, i, :]) for i in range(actions.shape[1])]
        return torch.stack(steps, dim=1)[0].numpy()

    actions = chunk()
    for _ in range(args.warmup):
        chunk()
    call_s = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        chunk()
        call_s.append(time.perf_counter() - start)
    with args.out.open("wb") as stream:
        write_message(stream, {"call_s": call_s}, {"action": actions.astype(np.float32)})
    print(json.dumps({"out": str(args.out), "shape": list(actions.shape), "calls": len(call_s)}))


if __name__ == "__main__":
    main()
