#!/usr/bin/env python3
"""ASED emotion probing, speaker-grouped folds.

    python recipes/ASED/emotion/train.py hparams/probe.yaml \
        --data_folder DATA/ASED_V1 --encoder_source egemaps

Everything but the corpus's preparation is shared: see ``care.probing.run``.

Authors
 * CARE for SpeechBrain contributors, 2026
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ased_prepare import prepare_ased  # noqa: E402

from care.probing import run_recipe  # noqa: E402


def main(argv):
    """Runs the recipe; returns the content of results.json."""
    return run_recipe(prepare_ased, argv, recipe_dir=os.path.dirname(os.path.abspath(__file__)))


if __name__ == "__main__":
    main(sys.argv[1:])
