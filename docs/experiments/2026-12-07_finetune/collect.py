#!/usr/bin/env python3
"""Copies the runs' results.json and results.md from RUNS/finetune/EmoDB5/ (frozen: <run>/,
fine-tuned: finetune/<encoder>/) into results/EmoDB5/ at the same place beside this file, with the
machine's folders written as RUNS, DATA and CORPORA (the many-speakers study's collect.py, given
this study's names).

    python docs/experiments/2026-12-07_finetune/collect.py RUNS DATA CORPORA
"""
import runpy
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    collect = runpy.run_path(str(HERE.parent / "2026-12-03_many-speakers" / "collect.py"))["main"]
    collect(*sys.argv[1:], study="finetune", here=HERE, pattern="EmoDB5/**/results.json")
