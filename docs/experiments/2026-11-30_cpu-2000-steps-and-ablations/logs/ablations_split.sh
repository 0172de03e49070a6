#!/bin/bash
: "${DATA:?set DATA to the data folder (emodb/, urdu/, ljspeech-subset/, fsdd/)}" "${RUNS:?set RUNS to a folder for pretraining and log outputs}"
# the CPU ablations, split in two to use both cores: probes of the four variants already trained,
# while no_strided_convs trains (then probes itself). Same arguments as ablations_cpu200.sh otherwise.
cd "$(git rev-parse --show-toplevel)"  # the repository root
export OMP_NUM_THREADS=1
COMMON=(recipes/Pretrain/ablations.py hparams/ablations.yaml --data_folder $DATA --steps 200
    --output_folder $RUNS/ablations_cpu200 --curve_percent none
    --train_args "--exclude [emodb/*,urdu/*] --log_interval 20 --train_dataloader_opts '{num_workers: 1}' --dynamic_batch_options '{max_batch_length: 24, num_buckets: 20, shuffle: True, batch_ordering: random, seed: 1986}'"
    --probe EmoDB=$DATA/emodb --probe URDU=$DATA/urdu --probe_args "--export_classifier False")
python "${COMMON[@]}" --variants full,paper_routing,semantic_only,acoustic_only --skip_training > $RUNS/ablations_probe4.log 2>&1 &
python "${COMMON[@]}" --variants no_strided_convs > $RUNS/ablations_nsc.log 2>&1
wait
python "${COMMON[@]}" --variants full,paper_routing,semantic_only,acoustic_only,no_strided_convs --table_only > $RUNS/ablations_table.log 2>&1
