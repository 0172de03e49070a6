#!/bin/bash
: "${DATA:?set DATA to the data folder (emodb/, urdu/, ljspeech-subset/, fsdd/)}" "${RUNS:?set RUNS to a folder for pretraining and log outputs}"
# the paper's ablations on the 2-core CPU, 200 steps each, fixed loss. Resumable: run again.
cd "$(git rev-parse --show-toplevel)"  # the repository root
export OMP_NUM_THREADS=1
exec python recipes/Pretrain/ablations.py hparams/ablations.yaml --data_folder $DATA --steps 200 \
    --output_folder $RUNS/ablations_cpu200 --curve_percent none \
    --variants full,paper_routing,semantic_only,acoustic_only,no_strided_convs \
    --train_args "--exclude [emodb/*,urdu/*] --log_interval 20 --train_dataloader_opts '{num_workers: 1}' --dynamic_batch_options '{max_batch_length: 24, num_buckets: 20, shuffle: True, batch_ordering: random, seed: 1986}'" \
    --probe EmoDB=$DATA/emodb --probe URDU=$DATA/urdu --probe_args "--export_classifier False"
