#!/usr/bin/env bash
# Session 2026-12-04 (fourth), after the cross-corpus cells (cross_rest.sh), so that it does not slow the plan's probes.
# Run from the repository root.
# 1. The plan's speaker diagnosis on the remaining caches (BAVED, ASED first; nEMO, the slowest, last).
# 2. Not in the plan, a check of the default head after the fact: the two exports on ASED and BAVED read with
#    `mlp` over the same mean_std caches (the other head the plan's rules name), seed 1 only (to fit the session).
cd "$(git rev-parse --show-toplevel)" && export PYTHONPATH="$(git rev-parse --show-toplevel)"
while pgrep -f cross_rest.sh > /dev/null; do sleep 30; done
R=random-care_small-mean_std N=runs-care_small_pool_2k-encoder-mean_std O=runs-care_small_2k-encoder-mean_std
speaker() {
  echo "# $(date -u +%FT%TZ) $*"
  OMP_NUM_THREADS=1 python benchmarks/speaker_confound.py "$@" --experiment_folder "$RUNS/many_speakers" 2>&1 | grep -v "it/s\]"
}
speaker BAVED $R $N $O
speaker ASED $N $O
declare -A FOLDER=([ASED]=$CORPORA/ASED_V1 [BAVED]=$CORPORA/baved)
for c in ASED BAVED; do for enc in $RUNS/care_small_pool_2k/encoder $RUNS/care_small_2k/encoder; do
  echo "=== $(date -u +%FT%TZ) $c $enc mlp mean_std seed 1"
  OMP_NUM_THREADS=1 /usr/bin/time -f "wall %e s" python recipes/$c/emotion/train.py hparams/probe.yaml \
    --data_folder ${FOLDER[$c]} --encoder_source $enc --probe_head mlp --pooling mean_std --seeds "[1]" \
    --experiment_folder $RUNS/many_speakers_head_check/$c --export_classifier False 2>&1 | grep -v "it/s\]" | tail -3
done; done
speaker nEMO $R $N $O
echo "# queue9 done $(date -u +%FT%TZ)"
