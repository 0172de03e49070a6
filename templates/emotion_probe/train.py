#!/usr/bin/env python3
"""Emotion probing on your own corpus, described by a CSV (path,label,speaker).

    python templates/emotion_probe/train.py hparams/probe.yaml \
        --data_folder /path/to/my_corpus --encoder_source /path/to/care_encoder

What happens (all of it in the shared ``care.probing.run``, nothing here):

1. ``prepare_csv`` (``csv_prepare.py``) turns the CSV into ``data.json``
   with speaker-independent folds; a second run with the same CSV and audio
   skips it.
2. The frozen encoder (``encoder_source``) turns every file into per-layer
   pooled features, cached in ``feature_folder`` (extracted once).
3. For every test fold and seed, a probe (softmax layer weights + small MLP)
   trains on the other folds, the epoch is chosen on a held-out fold, and the
   test fold is scored once: ``results.md``, ``results.json``, ``confusion.png``.
4. A probe trained on all the data is exported with the encoder to
   ``<output_folder>/classifier``, which ``care-classify`` and
   ``care.inference.EmotionRecognizer`` load.

Authors
 * CARE for SpeechBrain contributors, 2026
"""

import os
import sys

# The prepare function lives beside this script (copy both when you adapt it).
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from csv_prepare import prepare_csv  # noqa: E402

from care.probing import run_recipe  # noqa: E402


def main(argv):
    """Runs the recipe; returns the content of results.json."""
    return run_recipe(prepare_csv, argv, recipe_dir=os.path.dirname(os.path.abspath(__file__)))


if __name__ == "__main__":
    main(sys.argv[1:])
