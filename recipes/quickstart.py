#!/usr/bin/env python3
"""The whole CARE workflow in a few minutes on a CPU, on the clips shipped in
``tests/samples`` (no download, no GPU):

1. pretrain ``care_small`` for a few steps on all of ``tests/samples``
   (unlabelled speech; LJSpeech transcripts and FSDD digit words as text
   targets) and export the encoder;
2. probe it: a spoken-digit task (zero / one / two, 36 FSDD clips, 6
   speakers, speaker-independent folds) with the template recipe, which
   exports a classifier;
3. classify the FSDD clips with that classifier (``care-classify``). The
   probe's features are speaker-normalised (the recipes' default), so the
   classifier z-scores each speaker's clips by that speaker's statistics:
   the speakers come from the clips' names (``{digit}_{speaker}_{n}.wav``,
   ``--speaker_pattern``).

Each step is one of the project's ordinary commands, printed before it runs,
so this file doubles as a worked example. A few steps on 40 s of audio teach
the encoder nothing: the point is the plumbing; real data go through the
same commands with ``--data_folder``.

    python recipes/quickstart.py [--output_folder results/quickstart] [--steps 30]

Authors
 * CARE for SpeechBrain contributors, 2026
"""

import argparse
import shlex
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "tests" / "samples"


def run(command):
    """Prints and runs ``command`` from the repository root; stops on failure."""
    print("\n$ " + " ".join(shlex.quote(str(part)) for part in command), flush=True)
    result = subprocess.run([str(part) for part in command], cwd=REPO)
    if result.returncode != 0:
        sys.exit(f"quickstart: the command above failed (exit status {result.returncode})")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output_folder", default="results/quickstart")
    parser.add_argument("--steps", type=int, default=30, help="pretraining steps")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    out = Path(args.output_folder).resolve()
    python = sys.executable

    pretrain = out / "pretrain"
    run([
        python, "recipes/Pretrain/train.py", "hparams/care_small.yaml",
        "--data_folder", SAMPLES, "--output_folder", pretrain, "--device", args.device,
        "--optimizer_step_limit", args.steps, "--warmup_steps", max(1, args.steps // 5),
        "--crop_seconds", "2.0", "--batch_size", "8", "--log_interval", "5",
        "--checkpoints_to_keep", "1", "--train_dataloader_opts", "{num_workers: 0}",
        "--valid_dataloader_opts", "{batch_size: 8, num_workers: 0}",
    ])
    encoder = pretrain / "encoder"

    probe = out / "probe"
    run([
        python, "templates/emotion_probe/train.py", "hparams/probe.yaml",
        "--data_folder", SAMPLES / "fsdd", "--dataset", "fsdd_digits",
        "--encoder_source", encoder, "--experiment_folder", probe, "--device", args.device,
        "--num_folds", "3", "--seeds", "[1]", "--number_of_epochs", "30",
    ])
    classifier = next(probe.glob("*/classifier"))

    labels = out / "labels.txt"
    run([
        python, "-m", "care.cli", "--source", classifier, "--device", args.device,
        "--speaker_pattern", "_([a-z]+)_", "--output", labels, SAMPLES / "fsdd" / "recordings",
    ])

    results = next(probe.glob("*/results.md"))
    head = "".join(labels.read_text().splitlines(keepends=True)[:6])
    print(
        "\nquickstart: done.\n"
        f"  pretraining log      {pretrain / 'train_log.txt'}\n"
        f"  exported encoder     {encoder}\n"
        f"  probing results      {results}\n"
        f"  classifier           {classifier}\n"
        f"  labels per file      {labels}\n"
        f"\n{head}...\n\n{results.read_text()}"
    )


if __name__ == "__main__":
    main()
