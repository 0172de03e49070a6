#!/usr/bin/env python3
"""Copies the probing runs' results.json and results.md from RUNS/many_speakers/<Dataset>/<run>/
into results/<Dataset>/<run>/ beside this file, and the cross-corpus runs' from
RUNS/many_speakers_cross/<train>-to-<test>/<encoder>/ into results_cross/<train>-to-<test>/<encoder>/,
with the machine's folders written as RUNS, DATA and CORPORA (no tracked file names a path of the
machine).

    python docs/experiments/2026-12-03_many-speakers/collect.py RUNS DATA CORPORA

Another study names its own run folder, destination and layout (its README gives the command):

    python docs/experiments/2026-12-03_many-speakers/collect.py RUNS DATA CORPORA \
        --study finetune --into docs/experiments/2026-12-07_finetune --pattern "EmoDB5/**/results.json"
"""
import argparse
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(runs, data, corpora, study="many_speakers", here=HERE, pattern="*/*/results.json"):
    """Copies ``RUNS/<study>`` and ``RUNS/<study>_cross`` into ``here``
    (``pattern`` finds the runs' results.json under each)."""
    names = {str(Path(runs).resolve()): "RUNS", str(Path(data).resolve()): "DATA", str(Path(corpora).resolve()): "CORPORA"}
    copied = 0
    found = [(path, Path(runs, study), here / "results") for path in Path(runs, study).glob(pattern)]
    found += [(path, Path(runs, f"{study}_cross"), here / "results_cross")
              for path in Path(runs, f"{study}_cross").glob(pattern)]
    for path, root, destination in sorted(found):
        target = destination / path.parent.relative_to(root)
        target.mkdir(parents=True, exist_ok=True)
        for name in ("results.json", "results.md"):
            text = (path.parent / name).read_text(encoding="utf-8")
            for folder, placeholder in sorted(names.items(), key=lambda item: -len(item[0])):
                text = text.replace(folder, placeholder)
            (target / name).write_text(text, encoding="utf-8")
        copied += 1
    print(f"{copied} runs copied to {here / 'results'} and {here / 'results_cross'}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs")
    parser.add_argument("data")
    parser.add_argument("corpora")
    parser.add_argument("--study", default="many_speakers", help="the runs' folder under RUNS")
    parser.add_argument("--into", type=Path, default=HERE, help="the study folder that gets results/")
    parser.add_argument("--pattern", default="*/*/results.json", help="where results.json lie under RUNS/<study>")
    args = parser.parse_args()
    main(args.runs, args.data, args.corpora, args.study, args.into, args.pattern)
