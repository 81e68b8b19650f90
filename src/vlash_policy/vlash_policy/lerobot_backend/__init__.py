"""A LeRobot checkpoint (SmolVLA, π0, π0.5) behind our :class:`ChunkPolicy` interface.

LeRobot needs transformers 4.x and the main environment has 5.x, so the model runs in a worker
process in its own virtual environment (``make lerobot-env`` builds ``.venv-lerobot``):

- :mod:`.protocol`: length-prefixed JSON + raw numpy framing over the worker's pipes (no pickle);
- :mod:`.worker`: the inference process, run with ``.venv-lerobot/bin/python``;
- :mod:`.client`: :class:`~.client.LeRobotPolicy`, the main-environment side;
- :mod:`.tiny_smolvla` and :mod:`.direct`: an offline tiny random checkpoint and LeRobot called
  directly on it, for tests and the bridge-overhead benchmark (:mod:`.bridge_benchmark`).

Nothing is imported here: the worker and the client live in different environments.
"""
