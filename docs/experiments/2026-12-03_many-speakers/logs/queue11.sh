#!/usr/bin/env bash
# Session 2026-12-04 (fourth): the nEMO speaker diagnosis of the two exports, one process each on the two cores
# (queue10's run was killed by hand with queue9's duplicate, after its random-control line). Run from the repository root.
cd "$(git rev-parse --show-toplevel)" && export PYTHONPATH="$(git rev-parse --show-toplevel)"
for cache in runs-care_small_pool_2k-encoder-mean_std runs-care_small_2k-encoder-mean_std; do
  OMP_NUM_THREADS=1 python benchmarks/speaker_confound.py nEMO $cache --experiment_folder "$RUNS/many_speakers" > "$RUNS/queue11_$cache.out" 2>&1 &
done
wait
echo "# $(date -u +%FT%TZ) nEMO, the two exports"; cat "$RUNS"/queue11_*.out | grep -v "it/s\]"
echo "# queue11 done $(date -u +%FT%TZ)"
