#!/bin/bash
# Issue 12: the CPU ablations, split in two to use both cores: probes of the four variants already trained,
# while no_strided_convs trains (then probes itself). Same arguments as ablations_cpu200.sh otherwise.
cd /work/main
export OMP_NUM_THREADS=1
COMMON=(recipes/Pretrain/ablations.py hparams/ablations.yaml --data_folder /work/shared/data --steps 200
    --output_folder /work/runs/ablations_cpu200 --curve_percent none
    --train_args "--exclude [emodb/*,urdu/*] --log_interval 20 --train_dataloader_opts '{num_workers: 1}' --dynamic_batch_options '{max_batch_length: 24, num_buckets: 20, shuffle: True, batch_ordering: random, seed: 1986}'"
    --probe EmoDB=/work/shared/data/emodb --probe URDU=/work/shared/data/urdu --probe_args "--export_classifier False")
python "${COMMON[@]}" --variants full,paper_routing,semantic_only,acoustic_only --skip_training > /work/runs/ablations_probe4.log 2>&1 &
python "${COMMON[@]}" --variants no_strided_convs > /work/runs/ablations_nsc.log 2>&1
wait
python "${COMMON[@]}" --variants full,paper_routing,semantic_only,acoustic_only,no_strided_convs --table_only > /work/runs/ablations_table.log 2>&1
