#!/usr/bin/env bash
# PLAN_augment.md's run: the plan's fine-tuned command for the export, with --augment True, in its own
# experiment folder. DATA and RUNS set; run from a checkout of the commit under test. Resumable.
# Added in the fourth session of 2026-12-07: the recipes' fine-tuning defaults changed (PLAN_export.md's rule);
# the overrides marked 'then-defaults' keep what this script ran at its commit.
set -u
cd "$(git rev-parse --show-toplevel)"
echo "=== $(date -u +%FT%TZ) fine-tuned, augmented, $RUNS/care_small_2k/encoder ($(git rev-parse --short HEAD))"
/usr/bin/time -f "wall %e s" python recipes/EmoDB/emotion/train.py hparams/finetune.yaml --data_folder $DATA/emodb \
    --encoder_source $RUNS/care_small_2k/encoder --experiment_folder $RUNS/finetune/EmoDB5_augment \
    --prepare_options "{strict: True, num_folds: 5}" --number_of_epochs 3 --freeze_encoder_steps 10 \
    --warmup_steps 10 --augment True \
    --dynamic_batch_options "{max_batch_length: 30, num_buckets: 20, shuffle: True, batch_ordering: random, seed: 1986}" \
    --pooling mean --head_class "{num_hidden_layers: 1, dropout: 0.2, layer_norm: True, layer_combination: weighted_sum}" \
    --head_init null --balance_classes False --head_lr 0.001 `# then-defaults` \
    --export_classifier False --noprogressbar
echo "exit $?"
