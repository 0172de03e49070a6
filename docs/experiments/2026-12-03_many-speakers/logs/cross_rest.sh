#!/usr/bin/env bash
# Session 2026-12-04 (fourth): the remaining cross-corpus cells, the new-pool export first (4 pairs left), then the
# old-pool export (9 pairs left); cross_all.sh resumes finished pairs.
"$RUNS/cross_all.sh" "$RUNS/care_small_pool_2k/encoder" "$RUNS/care_small_2k/encoder"
