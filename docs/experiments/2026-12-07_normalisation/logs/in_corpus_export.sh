#!/usr/bin/env bash
# The export's in-corpus rows: in_corpus.sh and baved_forced.sh (BAVED's speaker row is refused by the
# code under test, as it was for the other two encoders) with the old-pool 2,000-step export as the
# encoder. Run from a checkout of the commit under test; DATA, CORPORA and RUNS as in PLAN.md. Resumable.
HERE="$(cd "$(dirname "$0")" && pwd)"
export ENCODERS=$RUNS/care_small_2k/encoder
bash "$HERE/in_corpus.sh"
bash "$HERE/baved_forced.sh"
