#!/usr/bin/env bash
# PLAN_augment_defaults.md's run: addendum 6's (g) (the re-made export fine-tuned with today's defaults, named
# explicitly: the probe's head started from the probe, class-balanced loss, head lr 1e-4) with --augment True.
# DATA and RUNS set; run from a checkout of the commit under test. Resumable.
set -u
cd "$(git rev-parse --show-toplevel)"
E=$RUNS/care_small_2k/encoder
echo "=== $(date -u +%FT%TZ) fine-tuned, augmented, $E, today's defaults ($(git rev-parse --short HEAD))"
/usr/bin/time -f "wall %e s" python recipes/EmoDB/emotion/train.py hparams/finetune.yaml --data_folder $DATA/emodb \
    --encoder_source $E --experiment_folder $RUNS/finetune/EmoDB5_augment_defaults \
    --prepare_options "{strict: True, num_folds: 5}" --number_of_epochs 3 --freeze_encoder_steps 10 \
    --warmup_steps 10 --pooling mean_std \
    --head_class "{num_hidden_layers: 0, layer_combination: concatenate, dropout: 0.0, layer_norm: False}" \
    --head_init probe --balance_classes True --head_lr 0.0001 --train_parts "[shared, acoustic]" --augment True \
    --dynamic_batch_options "{max_batch_length: 30, num_buckets: 20, shuffle: True, batch_ordering: random, seed: 1986}" \
    --export_classifier False --noprogressbar
echo "exit $?"
