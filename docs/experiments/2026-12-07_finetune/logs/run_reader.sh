#!/usr/bin/env bash
# PLAN_reader.md's runs: random:care_small fine-tuned with the frozen probe's reader (mean_std pooling,
# layers side by side, one linear layer). Usage: run_reader.sh train | frozen (the encoder trained, or
# not: --train_parts "[]"). DATA and RUNS set; run from a checkout of the commit under test. Resumable.
# Added in the fourth session of 2026-12-07: the recipes' fine-tuning defaults changed (PLAN_export.md's rule);
# the overrides marked 'then-defaults' keep what this script ran at its commit.
set -u
cd "$(git rev-parse --show-toplevel)"
case "${1:-}" in
  train) PARTS="[shared, acoustic]" FOLDER=EmoDB5_reader_train ;;
  frozen) PARTS="[]" FOLDER=EmoDB5_reader_frozen ;;
  *) echo "usage: run_reader.sh train|frozen" >&2; exit 2 ;;
esac
echo "=== $(date -u +%FT%TZ) fine-tuned random:care_small, reader mean_std + concatenate + linear, train_parts $PARTS ($(git rev-parse --short HEAD))"
/usr/bin/time -f "wall %e s" python recipes/EmoDB/emotion/train.py hparams/finetune.yaml --data_folder $DATA/emodb \
    --encoder_source random:care_small --experiment_folder $RUNS/finetune/$FOLDER \
    --prepare_options "{strict: True, num_folds: 5}" --number_of_epochs 3 --freeze_encoder_steps 10 \
    --warmup_steps 10 --pooling mean_std \
    --head_class "{num_hidden_layers: 0, layer_combination: concatenate, dropout: 0.0, layer_norm: True}" \
    --head_init null --balance_classes False --head_lr 0.001 `# then-defaults` \
    --train_parts "$PARTS" \
    --dynamic_batch_options "{max_batch_length: 30, num_buckets: 20, shuffle: True, batch_ordering: random, seed: 1986}" \
    --export_classifier False --noprogressbar
echo "exit $?"
