#!/usr/bin/env bash
# Reproduce the embedded default checkpoint src/vlash_policy/checkpoints/so101_whack_a_mole/ from
# nothing, on CPU: scripted-expert demonstrations -> policy stage (VLASH offset augmentation with
# shared observation + AsyncVLA unified SFM/AFM) -> rater stage (AsyncVLA stage 2) -> copy ->
# evaluation in the simulated loop. Run as `make default-model`.
#
# Work files go to $WORK (default outputs/default_model, wiped first). Overridable for quick trials:
# EPISODES, EPISODE_STEPS, POLICY_STEPS, RATER_STEPS, BATCH, LR, EVAL_EPISODES, EVAL_STEPS, DEST.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck disable=SC1091
source scripts/env.sh
# The source tree first, so the recipe runs the code it sits next to even before a rebuild.
export PYTHONPATH="$ROOT/src/vlash_policy:$ROOT/src/asyncvla_refiner:$ROOT/src/vlash_executor${PYTHONPATH:+:$PYTHONPATH}"

# One intra-op thread: on this shared 2-core machine two torch threads spinning against other
# processes made a batch-32 training step 36x slower (10.2 s vs 0.28 s, measured).
export OMP_NUM_THREADS=1

WORK="${WORK:-$ROOT/outputs/default_model}"
DEST="${DEST:-$ROOT/src/vlash_policy/checkpoints/so101_whack_a_mole}"
EPISODES="${EPISODES:-32}"
EPISODE_STEPS="${EPISODE_STEPS:-300}"
POLICY_STEPS="${POLICY_STEPS:-12000}"
RATER_STEPS="${RATER_STEPS:-500}"
BATCH="${BATCH:-32}"
LR="${LR:-5e-4}"
EVAL_EPISODES="${EVAL_EPISODES:-10}"
EVAL_STEPS="${EVAL_STEPS:-600}"

rm -rf "$WORK"
mkdir -p "$WORK"
SECONDS=0
stage_times=()
mark() { stage_times+=("\"$1\": $SECONDS"); echo "[default-model] $1 done at ${SECONDS}s"; }

# 1. Demonstrations: IK expert, sync, d = 0, with DART-style planning noise (recoveries).
python -m vlash_executor.sim.demonstrations --episodes "$EPISODES" --steps "$EPISODE_STEPS" \
    --out "$WORK/demos" --seed 1000 --state-noise 0.03
mark demonstrations

# 2. Policy stage. The architecture is VLAConfig's defaults (SigLIP 96 px / 16 px patches, 2-layer
# 64-wide Qwen2, H = 16); joint names, camera and action space come from the dataset.
python -m vlash_policy.training.finetune --config src/vlash_policy/config/finetune.yaml \
    --dataset="$WORK/demos" --max_offset=3 --shared_observation=true --unified=true \
    --stage=policy --steps="$POLICY_STEPS" --batch_size="$BATCH" --lr="$LR" --seed=0 \
    --val_episodes=2 --val_every=1000 --save_every="$POLICY_STEPS" \
    --output_dir="$WORK/policy" 2>&1 | tee "$WORK/policy.log"
mark policy
POLICY_CKPT="$(printf '%s/policy/checkpoints/step_%06d' "$WORK" "$POLICY_STEPS")"

# 3. Rater stage: policy frozen, the confidence rater regresses the Eq. (6) pseudo labels.
python -m vlash_policy.training.finetune --config src/vlash_policy/config/finetune.yaml \
    --dataset="$WORK/demos" --max_offset=3 --shared_observation=true --unified=true \
    --stage=rater --init_checkpoint="$POLICY_CKPT" --steps="$RATER_STEPS" \
    --batch_size="$BATCH" --lr=1e-3 --seed=0 --val_episodes=2 --val_every="$RATER_STEPS" \
    --save_every="$RATER_STEPS" --output_dir="$WORK/rater" 2>&1 | tee "$WORK/rater.log"
mark rater
RATER_CKPT="$(printf '%s/rater/checkpoints/step_%06d' "$WORK" "$RATER_STEPS")"

# 4. Install into the source tree: model files only (no optimizer state), plus the options used.
mkdir -p "$DEST"
rm -rf "$DEST/model.safetensors" "$DEST/config.json" "$DEST/normalization.json" "$DEST/tokenizer"
cp -r "$RATER_CKPT/model.safetensors" "$RATER_CKPT/config.json" "$RATER_CKPT/normalization.json" \
    "$RATER_CKPT/tokenizer" "$DEST/"
cp "$POLICY_CKPT/finetune.yaml" "$DEST/finetune_policy.yaml"
cp "$RATER_CKPT/finetune.yaml" "$DEST/finetune_rater.yaml"
mark install

# 5. Evaluate the installed checkpoint, sync vs VLASH under a 2-step inference delay: on the
# standard task (2 s target lifetime, 3 cm hit radius) and on the easier one the default is
# rated on (4 s, 6 cm), which this small CPU-trained policy reaches more reliably.
for task in "standard 2.0 0.03" "easy 4.0 0.06"; do
    read -r name lifetime radius <<< "$task"
    python -m vlash_executor.sim.evaluate --checkpoint "$DEST" --strategies sync vlash \
        --delays 2 --episodes "$EVAL_EPISODES" --steps "$EVAL_STEPS" --seed 0 \
        --target-lifetime "$lifetime" --hit-radius "$radius" --json "$DEST/eval_$name.json"
done
mark evaluate

losses="$(tail -n 1 "$WORK/policy.log"), $(tail -n 1 "$WORK/rater.log")"
times="$(IFS=,; echo "${stage_times[*]}")"
cat > "$DEST/run.json" <<EOF
{"episodes": $EPISODES, "episode_steps": $EPISODE_STEPS, "policy_steps": $POLICY_STEPS,
 "rater_steps": $RATER_STEPS, "batch_size": $BATCH, "lr": $LR,
 "wall_time_s_at_end_of": {$times},
 "final": [$losses]}
EOF
echo "[default-model] total wall time ${SECONDS}s; record in $DEST/run.json"
