#!/usr/bin/env python3
"""BAVED emotion-level probing, speaker-grouped folds.

    python recipes/BAVED/emotion/train.py hparams/probe.yaml \
        --data_folder DATA/baved --encoder_source egemaps

Everything but the corpus's preparation is shared: see ``care.probing.run``.

Authors
 * CARE for SpeechBrain contributors, 2026
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from baved_prepare import prepare_baved  # noqa: E402

from care.probing import run_recipe  # noqa: E402


def main(argv):
    """Runs the recipe; returns the content of results.json."""
    return run_recipe(prepare_baved, argv, recipe_dir=os.path.dirname(os.path.abspath(__file__)))


if __name__ == "__main__":
    main(sys.argv[1:])
