#!/usr/bin/env python3
"""MSP-Podcast emotion probing: official partitions (Train / Development / Test1), 8 classes.

    python recipes/MSP-Podcast/emotion/train.py hparams/probe.yaml \
        --data_folder /data/MSP-PODCAST-Publish-1.11 --encoder_source egemaps

Everything but the corpus's preparation is shared: see ``care.probing.run``.

Authors
 * CARE for SpeechBrain contributors, 2026
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from msp_podcast_prepare import prepare_msp_podcast  # noqa: E402

from care.probing import run_recipe  # noqa: E402


def main(argv):
    """Runs the recipe; returns the content of results.json."""
    return run_recipe(prepare_msp_podcast, argv, recipe_dir=os.path.dirname(os.path.abspath(__file__)))


if __name__ == "__main__":
    main(sys.argv[1:])
