#!/bin/bash
# Issue 12: probes of the last two CPU ablation variants (trained in ablations_cpu200.sh), then the table.
cd /work/main
export OMP_NUM_THREADS=1
COMMON=(recipes/Pretrain/ablations.py hparams/ablations.yaml --data_folder /work/shared/data --steps 200
    --output_folder /work/runs/ablations_cpu200 --curve_percent none
    --train_args "--exclude [emodb/*,urdu/*] --log_interval 20 --train_dataloader_opts '{num_workers: 1}' --dynamic_batch_options '{max_batch_length: 24, num_buckets: 20, shuffle: True, batch_ordering: random, seed: 1986}'"
    --probe EmoDB=/work/shared/data/emodb --probe URDU=/work/shared/data/urdu --probe_args "--export_classifier False")
python "${COMMON[@]}" --variants semantic_only,acoustic_only --skip_training
python "${COMMON[@]}" --variants full,paper_routing,semantic_only,acoustic_only,no_strided_convs --table_only
