#!/usr/bin/env bash
# PLAN_augment_random.md's run: the plan's fine-tuned command for random:care_small with --augment True,
# in its own experiment folder; `run_augment_random.sh again`: the unaugmented run again, in another
# folder (the pair check). DATA and RUNS set; run from a checkout of the commit under test. Resumable.
# Added in the fourth session of 2026-12-07: the recipes' fine-tuning defaults changed (PLAN_export.md's rule);
# the overrides marked 'then-defaults' keep what this script ran at its commit.
set -u
cd "$(git rev-parse --show-toplevel)"
if [ "${1:-}" = again ]; then AUGMENT=False FOLDER=EmoDB5_random_again; else AUGMENT=True FOLDER=EmoDB5_augment_random; fi
echo "=== $(date -u +%FT%TZ) fine-tuned random:care_small, augment $AUGMENT ($(git rev-parse --short HEAD))"
/usr/bin/time -f "wall %e s" python recipes/EmoDB/emotion/train.py hparams/finetune.yaml --data_folder $DATA/emodb \
    --encoder_source random:care_small --experiment_folder $RUNS/finetune/$FOLDER \
    --prepare_options "{strict: True, num_folds: 5}" --number_of_epochs 3 --freeze_encoder_steps 10 \
    --warmup_steps 10 --augment $AUGMENT \
    --dynamic_batch_options "{max_batch_length: 30, num_buckets: 20, shuffle: True, batch_ordering: random, seed: 1986}" \
    --pooling mean --head_class "{num_hidden_layers: 1, dropout: 0.2, layer_norm: True, layer_combination: weighted_sum}" \
    --head_init null --balance_classes False --head_lr 0.001 `# then-defaults` \
    --export_classifier False --noprogressbar
echo "exit $?"
