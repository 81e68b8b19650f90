# Entry points for newcomers and CI. Every target that needs the environment runs `setup` first;
# setup is idempotent and takes about a second when nothing changed.
SHELL := /bin/bash
ENV := source scripts/env.sh &&

.PHONY: setup build test test-fast lint demo default-model clean benchmarks lerobot-env

setup:
	bash scripts/setup.sh

# The separate LeRobot environment .venv-lerobot for LeRobot checkpoints (SmolVLA, π0, π0.5) run
# by vlash_policy.lerobot_backend; not part of `setup`. About 2 min from nothing, 5.5 GB.
lerobot-env:
	bash scripts/setup_lerobot.sh

# Rebuild all packages even when setup's stamps say nothing changed.
build: setup
	$(ENV) colcon build --symlink-install

# ruff check, ruff format --check and mypy, then the per-package tests as `colcon test` runs them,
# then the integration tests in test/. The LeRobot environment is built first: the LeRobot
# backend's tests run a tiny SmolVLA in it (about 2 min once, then a stamp check).
test: setup lerobot-env
	$(ENV) python scripts/run_tests.py

# Unit tests only, for the edit-test loop (under 2 min on 2 cores): every package's tests under
# src/*/test with pytest directly, without colcon, without the tests marked slow and without
# test/ (real ROS processes over DDS). About 1:45 on an idle 2-core machine.
test-fast: setup
	$(ENV) python -m pytest -q -m "not slow" src/*/test

# The static checks of `make test` (and of .pre-commit-config.yaml) alone.
lint: setup
	$(ENV) ruff check . && ruff format --check . && python -m mypy

demo: setup
	$(ENV) bash scripts/demo.sh

# Rebuilds the embedded checkpoint src/vlash_policy/checkpoints/so101_whack_a_mole/ from scratch on
# CPU (expert demonstrations, policy + rater training, evaluation); see its TRAINING.md.
default-model: setup
	bash scripts/train_default_model.sh

# Every benchmark at its default size into benchmarks/results/, then BENCHMARKS.md from them
# (about an hour on 2 cores; `python -m vlash_bench <name>` runs one).
benchmarks: setup
	$(ENV) python -m vlash_bench all && python -m vlash_bench report

# Removes build products; `rm -rf .venv .setup-stamps` as well for a set-up from nothing.
clean:
	rm -rf build install log .setup-stamps/build
