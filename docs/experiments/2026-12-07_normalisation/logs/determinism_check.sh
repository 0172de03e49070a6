#!/usr/bin/env bash
# Deviation 3 of OUTCOME.md: is the pretraining re-run's departure from the many-speakers study's
# log the machine or the code? The old-pool command, 20 steps, from a checkout of 1c35512 (the code
# of the reference log, docs/experiments/2026-12-03_many-speakers/logs/old_pool_2k_train_log.txt)
# on this study's machine. DATA and RUNS as in PLAN.md. Output: determinism_check_2026-12-07.log.
cd "$(git rev-parse --show-toplevel)"   # a checkout of 1c35512
OMP_NUM_THREADS=1 python recipes/Pretrain/train.py hparams/care_small.yaml --data_folder $DATA \
    --output_folder $RUNS/det_check_1c35512 --exclude '["emodb/*", "urdu/*"]' --optimizer_step_limit 20 \
    --warmup_steps 100 \
    --dynamic_batch_options "{max_batch_length: 24, num_buckets: 20, shuffle: True, batch_ordering: random, seed: 1986}" \
    --train_dataloader_opts "{num_workers: 1}" --log_interval 20 --export_steps "[]" --noprogressbar
