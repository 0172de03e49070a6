#!/usr/bin/env bash
# PLAN_export.md's runs on the re-made old-pool export RUNS/care_small_2k/encoder: fine-tuned with addendum 5's
# options (the probe's head started from the probe, class-balanced loss, head lr 1e-4), the encoder trained or
# frozen; and the export's frozen probe on the same folds, unnormalised and speaker-normalised.
# Usage: run_export.sh train | frozen | probe. DATA and RUNS set; run from a checkout of the commit under test.
# Resumable.
set -u
cd "$(git rev-parse --show-toplevel)"
E=$RUNS/care_small_2k/encoder
case "${1:-}" in
  train) PARTS="[shared, acoustic]" FOLDER=EmoDB5_export_train ;;
  frozen) PARTS="[]" FOLDER=EmoDB5_export_frozen ;;
  probe)
    for NORM in none speaker; do
      echo "=== $(date -u +%FT%TZ) frozen probe of $E, feature_normalization $NORM ($(git rev-parse --short HEAD))"
      /usr/bin/time -f "wall %e s" python recipes/EmoDB/emotion/train.py hparams/probe.yaml --data_folder $DATA/emodb \
          --encoder_source $E --experiment_folder $RUNS/finetune/EmoDB5_export_probe \
          --prepare_options "{strict: True, num_folds: 5}" --seeds "[1986]" --export_classifier False \
          --noprogressbar --feature_normalization $NORM
      echo "exit $?"
    done
    exit 0 ;;
  *) echo "usage: run_export.sh train|frozen|probe" >&2; exit 2 ;;
esac
echo "=== $(date -u +%FT%TZ) fine-tuned $E, the probe's head started from the probe, class-balanced loss, head lr 1e-4, train_parts $PARTS ($(git rev-parse --short HEAD))"
/usr/bin/time -f "wall %e s" python recipes/EmoDB/emotion/train.py hparams/finetune.yaml --data_folder $DATA/emodb \
    --encoder_source $E --experiment_folder $RUNS/finetune/$FOLDER \
    --prepare_options "{strict: True, num_folds: 5}" --number_of_epochs 3 --freeze_encoder_steps 10 \
    --warmup_steps 10 --pooling mean_std \
    --head_class "{num_hidden_layers: 0, layer_combination: concatenate, dropout: 0.0, layer_norm: False}" \
    --head_init probe --balance_classes True --head_lr 0.0001 --train_parts "$PARTS" \
    --dynamic_batch_options "{max_batch_length: 30, num_buckets: 20, shuffle: True, batch_ordering: random, seed: 1986}" \
    --export_classifier False --noprogressbar
echo "exit $?"
