#!/usr/bin/env bash
# The plan's two runs for one encoder (fine-tuned, then the default frozen probe), exactly as PLAN.md
# writes them. Usage: run.sh ENCODER (random:care_small or RUNS/care_small_2k/encoder), with DATA and
# RUNS set; run from a checkout of the commit under test. Resumable: finished folds are reused.
# --feature_normalization none (added 2026-12-07, third session): the frozen probe's default then,
# which the plan's rows used; the recipes' default is speaker since.
# Added in the fourth session of 2026-12-07: the recipes' fine-tuning defaults changed (PLAN_export.md's rule);
# the overrides marked 'then-defaults' keep what this script ran at its commit.
set -u
cd "$(git rev-parse --show-toplevel)"
E=$1
echo "=== $(date -u +%FT%TZ) fine-tuned $E ($(git rev-parse --short HEAD))"
/usr/bin/time -f "wall %e s" python recipes/EmoDB/emotion/train.py hparams/finetune.yaml --data_folder $DATA/emodb \
    --encoder_source $E --experiment_folder $RUNS/finetune/EmoDB5 --prepare_options "{strict: True, num_folds: 5}" \
    --number_of_epochs 3 --freeze_encoder_steps 10 --warmup_steps 10 \
    --dynamic_batch_options "{max_batch_length: 30, num_buckets: 20, shuffle: True, batch_ordering: random, seed: 1986}" \
    --pooling mean --head_class "{num_hidden_layers: 1, dropout: 0.2, layer_norm: True, layer_combination: weighted_sum}" \
    --head_init null --balance_classes False --head_lr 0.001 `# then-defaults` \
    --export_classifier False --noprogressbar
echo "exit $?"
echo "=== $(date -u +%FT%TZ) frozen $E"
/usr/bin/time -f "wall %e s" python recipes/EmoDB/emotion/train.py hparams/probe.yaml --data_folder $DATA/emodb \
    --encoder_source $E --experiment_folder $RUNS/finetune/EmoDB5 --prepare_options "{strict: True, num_folds: 5}" \
    --seeds "[1986]" --export_classifier False --noprogressbar --feature_normalization none
echo "exit $?"
