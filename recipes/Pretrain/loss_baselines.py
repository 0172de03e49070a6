#!/usr/bin/env python3
"""What the two pretraining losses would be without learning anything, to
read a training log against: on the validation manifest of a run,

* acoustic: the MSE of predicting 0 for every frame target (the targets are
  normalised per crop, so 0 is their mean and this is their mean square);
* semantic: the MSE of predicting, for every utterance with a transcript, the
  mean text embedding of the training utterances.

A run has learned something when its validation losses are below these.

    python recipes/Pretrain/loss_baselines.py hparams/care_small.yaml \\
        --data_folder ../shared/data --output_folder results/care_small/1986

(the same hparams and overrides as the run; the manifests and the text-target
cache must exist, i.e. the run has started.)

Authors
 * CARE for SpeechBrain contributors, 2026
"""

import json
import os
import sys

import torch
from speechbrain.dataio.batch import PaddedBatch

from care.pretraining import pretraining_datasets
from care.processing import TextTargets
from care.recipe import load_recipe


def main(argv=None):
    _, _, _, hparams = load_recipe(os.path.dirname(os.path.abspath(__file__)), argv)
    text_targets = TextTargets.load(hparams["text_cache_folder"])
    with open(hparams["train_manifest"], encoding="utf-8") as fin:
        train_ids = [i for i in json.load(fin) if text_targets.get(i) is not None]
    mean_embedding = torch.stack([text_targets.get(i).float() for i in train_ids]).mean(dim=0)

    valid = pretraining_datasets(hparams, text_targets)["valid"]
    frame_targets = hparams["frame_targets"]
    squares, values, semantic, with_text = 0.0, 0, 0.0, 0
    items = [valid[i] for i in range(len(valid))]
    for start in range(0, len(items), 16):
        batch = PaddedBatch(items[start : start + 16])
        wavs, lens = batch.sig
        if frame_targets.on_the_fly:
            stats = {}
            if getattr(frame_targets, "needs_utterance_stats", False):
                stats = {"stats": batch.frame_target_stats.data}
            targets, target_lens = frame_targets(wavs, lens, **stats)
        else:
            targets, target_lens = batch.frame_targets
        frames = torch.round(target_lens * targets.shape[1]).long()
        mask = torch.arange(targets.shape[1])[None, :] < frames[:, None]
        squares += (targets**2)[mask].sum().item()
        values += mask.sum().item() * targets.shape[-1]
        has_text = batch.has_text.data[:, 0].bool()
        text = batch.text_target.data[has_text]
        semantic += ((text - mean_embedding) ** 2).mean(dim=-1).sum().item()
        with_text += int(has_text.sum())
    result = {
        "valid_utterances": len(items),
        "acoustic_predict_zero": squares / max(values, 1),
        "semantic_predict_train_mean": semantic / max(with_text, 1),
        "valid_with_text": with_text,
    }
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
