#!/usr/bin/env bash
# PLAN_lpft.md's runs: random:care_small fine-tuned with the frozen probe's head (mean_std pooling, layers
# side by side, one linear layer, no layer norm) started from the frozen probe (--head_init probe).
# Usage: run_lpft.sh train | frozen (the encoder trained, or not). DATA and RUNS set; run from a checkout
# of the commit under test. Resumable.
# Added in the fourth session of 2026-12-07: the recipes' fine-tuning defaults changed (PLAN_export.md's rule);
# the overrides marked 'then-defaults' keep what this script ran at its commit.
set -u
cd "$(git rev-parse --show-toplevel)"
case "${1:-}" in
  train) PARTS="[shared, acoustic]" FOLDER=EmoDB5_lpft_train ;;
  frozen) PARTS="[]" FOLDER=EmoDB5_lpft_frozen ;;
  *) echo "usage: run_lpft.sh train|frozen" >&2; exit 2 ;;
esac
echo "=== $(date -u +%FT%TZ) fine-tuned random:care_small, the probe's head started from the probe, train_parts $PARTS ($(git rev-parse --short HEAD))"
/usr/bin/time -f "wall %e s" python recipes/EmoDB/emotion/train.py hparams/finetune.yaml --data_folder $DATA/emodb \
    --encoder_source random:care_small --experiment_folder $RUNS/finetune/$FOLDER \
    --prepare_options "{strict: True, num_folds: 5}" --number_of_epochs 3 --freeze_encoder_steps 10 \
    --warmup_steps 10 --pooling mean_std \
    --head_class "{num_hidden_layers: 0, layer_combination: concatenate, dropout: 0.0, layer_norm: False}" \
    --head_init probe --train_parts "$PARTS" --balance_classes False --head_lr 0.001 `# then-defaults` \
    --dynamic_batch_options "{max_batch_length: 30, num_buckets: 20, shuffle: True, batch_ordering: random, seed: 1986}" \
    --export_classifier False --noprogressbar
echo "exit $?"
