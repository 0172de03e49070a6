#!/usr/bin/env bash
# The plan's control rows (egemaps, random:care_small), EmoDB and URDU first, then the new corpora; then cross-corpus.
cd "$(git rev-parse --show-toplevel)" && export PYTHONPATH="$(git rev-parse --show-toplevel)"
declare -A FOLDER=([EmoDB]=$DATA/emodb [URDU]=$DATA/urdu [nEMO]=$CORPORA/nEMO [ASED]=$CORPORA/ASED_V1 [BAVED]=$CORPORA/baved)
while pgrep -f "recipes/EmoDB/emotion/train.py" > /dev/null; do sleep 20; done
for job in "EmoDB egemaps" "EmoDB random:care_small" "URDU egemaps" "URDU random:care_small" "ASED egemaps" "BAVED egemaps" "nEMO egemaps" "ASED random:care_small" "BAVED random:care_small" "nEMO random:care_small"; do
  set -- $job; c=$1; enc=$2
  echo "=== $(date -u +%FT%TZ) $c $enc"
  OMP_NUM_THREADS=1 /usr/bin/time -f "wall %e s" python recipes/$c/emotion/train.py hparams/probe.yaml \
    --data_folder ${FOLDER[$c]} --encoder_source $enc \
    --experiment_folder $RUNS/many_speakers/$c --export_classifier False 2>&1 | grep -v "it/s\]" | tail -5
done
echo "=== controls done $(date -u +%FT%TZ)"
$RUNS/cross_controls.sh
