#!/usr/bin/env bash
# The plan's rows of the new-pool export (step 2,000), every corpus; starts when the export exists.
cd "$(git rev-parse --show-toplevel)" && export PYTHONPATH="$(git rev-parse --show-toplevel)"
declare -A FOLDER=([EmoDB]=$DATA/emodb [URDU]=$DATA/urdu [nEMO]=$CORPORA/nEMO [ASED]=$CORPORA/ASED_V1 [BAVED]=$CORPORA/baved)
ENC=$RUNS/care_small_pool_2k/encoder
until [ -f $ENC/checksums.sha256 ]; do sleep 30; done
for c in EmoDB URDU ASED BAVED nEMO; do
  echo "=== $(date -u +%FT%TZ) $c $ENC"
  OMP_NUM_THREADS=1 /usr/bin/time -f "wall %e s" python recipes/$c/emotion/train.py hparams/probe.yaml \
    --data_folder ${FOLDER[$c]} --encoder_source $ENC \
    --experiment_folder $RUNS/many_speakers/$c --export_classifier False 2>&1 | grep -v "it/s\]" | tail -3
done
echo "=== pool probes done $(date -u +%FT%TZ)"
