#!/usr/bin/env python3
"""Writes EmoBox-style fold files rebuilt from EmoBox's rules for a prepared
corpus, laid out exactly like EmoBox's ``data/<dataset>/`` folder, so that a
recipe's ``--protocol emobox`` can run on them without EmoBox's own files.

EmoBox's rules for the two shared corpora (checked against its repository,
``emo-box/EmoBox``, ``data/emodb`` and ``data/urdu``): EmoDB, 5 folds with
the same class balance in each and speakers ignored (every test fold holds
all 10 speakers); URDU, one random 75/25 split, speakers ignored. These are
rebuilt splits with the same rules, not EmoBox's exact utterance lists.

    python recipes/EmoDB/emotion/train.py hparams/probe.yaml --data_folder ../shared/data/emodb  # prepares
    python recipes/emobox_style_folds.py --prepare_folder results/EmoDB/prepared \
        --dataset emodb --num_folds 5 --output_folder results/emobox_style
    python recipes/EmoDB/emotion/train.py hparams/probe.yaml --data_folder ../shared/data/emodb \
        --protocol emobox --emobox_folds results/emobox_style

Authors
 * CARE for SpeechBrain contributors, 2026
"""

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from care.probing.emobox import write_emobox_style_folds  # noqa: E402
from care.processing.manifest import MANIFEST_FILE, load_manifest  # noqa: E402


def main(argv=None):
    """Parses the arguments and writes the folds; returns their folder."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prepare_folder", required=True, help="holds the recipe's data.json")
    parser.add_argument("--dataset", required=True, help="EmoBox's name: emodb, urdu, ...")
    parser.add_argument("--output_folder", required=True, help="receives <dataset>/fold_<k>/...")
    parser.add_argument("--num_folds", type=int, default=5, help="stratified folds")
    parser.add_argument("--test_fraction", type=float, default=None,
                        help="one stratified split with this test share instead of folds")
    parser.add_argument("--seed", type=int, default=12, help="EmoBox's default seed")
    args = parser.parse_args(argv)
    data = load_manifest(os.path.join(args.prepare_folder, MANIFEST_FILE))
    return write_emobox_style_folds(data, args.output_folder, args.dataset, num_folds=args.num_folds,
                                    test_fraction=args.test_fraction, seed=args.seed)


if __name__ == "__main__":
    main()
