#!/usr/bin/env bash
# Reproduce the embedded default checkpoint src/vlash_policy/checkpoints/so101_whack_a_mole/ from
# nothing, on CPU: scripted-expert demonstrations at a teleoperation-like speed -> policy stage
# (VLASH offset augmentation with shared observation + AsyncVLA unified SFM/AFM) -> closed-loop
# learning curve over the saved checkpoints, best one kept -> rater stage (AsyncVLA stage 2) ->
# install -> held-out evaluation. Run as `make default-model`; TRAINING.md beside the checkpoint
# records what it measured.
#
# Seeds: demonstrations use episode seeds 1000.., the learning curve 5000.., the final evaluation
# 0.. (as the benchmarks do), so no evaluated episode was trained or selected on.
#
# Work files go to $WORK (default outputs/default_model, wiped first). Overridable for quick trials:
# EPISODES, EPISODE_STEPS, POLICY_STEPS, SAVE_EVERY, RATER_STEPS, BATCH, LR, CURVE_EPISODES,
# EVAL_EPISODES, EVAL_STEPS, DEST.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck disable=SC1091
source scripts/env.sh
# The source tree first, so the recipe runs the code it sits next to even before a rebuild.
export PYTHONPATH="$ROOT/src/vlash_core:$ROOT/src/vlash_policy:$ROOT/src/asyncvla_refiner:$ROOT/src/vlash_executor:$ROOT/src/vlash_sim${PYTHONPATH:+:$PYTHONPATH}"

# One intra-op thread: on this shared 2-core machine two torch threads spinning against other
# processes made a batch-32 training step 36x slower (10.2 s vs 0.28 s, measured).
export OMP_NUM_THREADS=1

WORK="${WORK:-$ROOT/outputs/default_model}"
DEST="${DEST:-$ROOT/src/vlash_policy/checkpoints/so101_whack_a_mole}"
EPISODES="${EPISODES:-160}"
EPISODE_STEPS="${EPISODE_STEPS:-300}"
POLICY_STEPS="${POLICY_STEPS:-12000}"
SAVE_EVERY="${SAVE_EVERY:-2000}"
RATER_STEPS="${RATER_STEPS:-800}"
BATCH="${BATCH:-32}"
LR="${LR:-1e-3}"
CURVE_EPISODES="${CURVE_EPISODES:-6}"
EVAL_EPISODES="${EVAL_EPISODES:-16}"
EVAL_STEPS="${EVAL_STEPS:-600}"
FINETUNE=(python -m vlash_policy.training.finetune --config src/vlash_policy/config/finetune.yaml
    --dataset="$WORK/demos" --max_offset=3 --shared_observation=true --unified=true
    --commanded_states=true --sfm_fraction=0.7 --batch_size="$BATCH" --weight_decay=0.01 \
    --seed=0 --val_episodes=2)

rm -rf "$WORK"
mkdir -p "$WORK"
SECONDS=0
stage_times=()
mark() { stage_times+=("\"$1\": $SECONDS"); echo "[default-model] $1 done at ${SECONDS}s"; }

# 1. Demonstrations: IK expert at 1 rad/s peak joint speed, sync, d = 0, with DART-style
# planning noise so the data shows recoveries; one recording process per core (`nproc --all`:
# plain nproc honours the OMP_NUM_THREADS=1 set above).
python -m vlash_sim.demonstrations --episodes "$EPISODES" --steps "$EPISODE_STEPS" \
    --out "$WORK/demos" --seed 1000 --state-noise 0.03 --workers "$(nproc --all)"
mark demonstrations

# 2. Policy stage: the convolutional vision stem (config/so101_whack_a_mole_vla.json), states
# = the command in force (as deployed), chunks as displacements from that state, 70 % of the
# branches as plain SFM (the rest Algorithm 2's masks), cosine learning rate after a short
# warm-up, light weight decay; joints, camera and action space come from the data.
"${FINETUNE[@]}" --stage=policy --init_checkpoint=none --relative_actions=true \
    --model_config=src/vlash_policy/config/so101_whack_a_mole_vla.json \
    --steps="$POLICY_STEPS" --lr="$LR" --lr_schedule=cosine --warmup_steps=300 \
    --val_every=1000 --save_every="$SAVE_EVERY" --output_dir="$WORK/policy" 2>&1 \
    | tee "$WORK/policy.log"
mark policy

# 3. Closed-loop learning curve on validation episodes; the best checkpoint goes on.
python -m vlash_sim.learning_curve "$WORK/policy" --episodes "$CURVE_EPISODES" \
    --seed 5000 --json "$WORK/curve.json" --plot "$WORK/learning_curve.png"
POLICY_CKPT="$(python -c 'import json, sys; print(json.load(open(sys.argv[1]))["best"]["checkpoint"])' "$WORK/curve.json")"
mark learning_curve

# 4. Rater stage: policy frozen, the confidence rater regresses the Eq. (6) pseudo labels.
"${FINETUNE[@]}" --stage=rater --init_checkpoint="$POLICY_CKPT" --steps="$RATER_STEPS" \
    --lr=1e-3 --val_every="$RATER_STEPS" --save_every="$RATER_STEPS" \
    --output_dir="$WORK/rater" 2>&1 | tee "$WORK/rater.log"
mark rater
RATER_CKPT="$(printf '%s/rater/checkpoints/step_%06d' "$WORK" "$RATER_STEPS")"

# 5. Install into the source tree: model files only (no optimizer state), plus the options used.
mkdir -p "$DEST"
rm -rf "$DEST/model.safetensors" "$DEST/config.json" "$DEST/normalization.json" "$DEST/tokenizer"
cp -r "$RATER_CKPT/model.safetensors" "$RATER_CKPT/config.json" "$RATER_CKPT/normalization.json" \
    "$RATER_CKPT/tokenizer" "$DEST/"
cp "$POLICY_CKPT/finetune.yaml" "$DEST/finetune_policy.yaml"
cp "$RATER_CKPT/finetune.yaml" "$DEST/finetune_rater.yaml"
cp "$WORK/curve.json" "$DEST/learning_curve.json"
cp "$WORK/learning_curve.png" "$DEST/learning_curve.png"
mark install

# 6. Held-out evaluation on the standard task (2 s target lifetime, 3 cm), no delay, with the
# scripted expert (the demonstrator, privileged target position) on the same episodes beside it.
python -m vlash_sim.evaluate --checkpoint "$DEST" --strategies sync vlash --delays 0 \
    --episodes "$EVAL_EPISODES" --steps "$EVAL_STEPS" --seed 0 --json "$DEST/eval_standard.json"
python -m vlash_sim.evaluate --policy expert --strategies sync vlash --delays 0 \
    --episodes "$EVAL_EPISODES" --steps "$EVAL_STEPS" --seed 0 --json "$DEST/eval_expert.json"
mark evaluate

losses="$(tail -n 1 "$WORK/policy.log"), $(tail -n 1 "$WORK/rater.log")"
times="$(IFS=,; echo "${stage_times[*]}")"
cat > "$DEST/run.json" <<EOF
{"episodes": $EPISODES, "episode_steps": $EPISODE_STEPS, "policy_steps": $POLICY_STEPS,
 "rater_steps": $RATER_STEPS, "batch_size": $BATCH, "lr": $LR,
 "best_policy_checkpoint": "$(basename "$POLICY_CKPT")",
 "wall_time_s_at_end_of": {$times},
 "final": [$losses]}
EOF
echo "[default-model] total wall time ${SECONDS}s; record in $DEST/run.json"
