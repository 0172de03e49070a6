#!/usr/bin/env bash
# Session 2026-12-04 (third): when queue5 (nEMO) is done, the cross-corpus cells of eGeMAPS and the old-pool export, then
# the old-pool nEMO row (queue6, resuming its folds). Run from the repository root.
while pgrep -f queue5.sh > /dev/null; do sleep 30; done
"$RUNS/cross_all.sh" egemaps "$RUNS/care_small_2k/encoder" > "$RUNS/cross_all_2.log" 2>&1
"$RUNS/queue6.sh" >> "$RUNS/queue6.log" 2>&1
