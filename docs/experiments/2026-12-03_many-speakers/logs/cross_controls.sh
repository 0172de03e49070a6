#!/usr/bin/env bash
# The plan's cross-corpus control rows (egemaps, random:care_small): every ordered pair of EmoDB, URDU, nEMO, ASED.
cd "$(git rev-parse --show-toplevel)" && export PYTHONPATH="$(git rev-parse --show-toplevel)"
for a in emodb urdu nemo ased; do for b in emodb urdu nemo ased; do
  [ $a = $b ] && continue
  for enc in egemaps random:care_small; do
    echo "=== $(date -u +%FT%TZ) $a -> $b $enc"
    OMP_NUM_THREADS=1 /usr/bin/time -f "wall %e s" python recipes/cross_corpus.py --train $a --test $b --encoder_source $enc \
      --dataset_folder emodb=$DATA/emodb --dataset_folder urdu=$DATA/urdu \
      --dataset_folder nemo=$CORPORA/nEMO --dataset_folder ased=$CORPORA/ASED_V1 \
      --output_folder $RUNS/many_speakers_cross/$enc 2>&1 | grep -v "it/s\]" | tail -4
  done
done; done
echo "=== done $(date -u +%FT%TZ)"
