#!/usr/bin/env python3
"""RAVDESS emotion probing: 6 actor-independent folds of 4 actors, 8 emotions.

    python recipes/RAVDESS/emotion/train.py hparams/probe.yaml \
        --data_folder /data/RAVDESS --encoder_source egemaps

Everything but the corpus's preparation is shared: see ``care.probing.run``.

Authors
 * CARE for SpeechBrain contributors, 2026
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ravdess_prepare import prepare_ravdess  # noqa: E402

from care.probing import run_recipe  # noqa: E402


def main(argv):
    """Runs the recipe; returns the content of results.json."""
    return run_recipe(prepare_ravdess, argv, recipe_dir=os.path.dirname(os.path.abspath(__file__)))


if __name__ == "__main__":
    main(sys.argv[1:])
