#!/usr/bin/env bash
# The many-speaker pool's 2,000-step CARE-small run: the old pool's command with another data folder. Resumable.
cd "$(git rev-parse --show-toplevel)"
OMP_NUM_THREADS=1 python recipes/Pretrain/train.py hparams/care_small.yaml --data_folder $POOL \
    --output_folder $RUNS/care_small_pool_2k --optimizer_step_limit 2000 \
    --warmup_steps 100 \
    --dynamic_batch_options "{max_batch_length: 24, num_buckets: 20, shuffle: True, batch_ordering: random, seed: 1986}" \
    --train_dataloader_opts "{num_workers: 1}" --log_interval 20 --export_steps "[0, 500, 1000]"
