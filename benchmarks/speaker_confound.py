#!/usr/bin/env python3
"""How much a probing corpus ties emotion to speaker, and how much speaker
information a set of cached features holds: the diagnostic behind the URDU
reading in ``recipes/Pretrain/README.md``.

    python benchmarks/speaker_confound.py URDU random-care_small \\
        runs-care_small_2k-encoder_step500 egemaps

Arguments: the recipe's results folder name (``results/<corpus>``, where the
recipe's ``prepared/data.json`` is) and feature cache names
(``results/<corpus>/features/<name>.pt``; run the recipe once per encoder
first); ``--experiment_folder DIR`` reads ``DIR/<corpus>/...`` instead
(the folder given to the recipes' ``--experiment_folder``, without the
corpus). Prints:

* the corpus: speakers, how many of them carry a single emotion label, and
  the share of utterances whose speaker carries one label (on such a corpus a
  probe that recognises *speakers* is right on its training folds and wrong,
  by construction, on the unseen speakers of a speaker-independent test fold);
* per feature cache, with scikit-learn's logistic regression (C = 0.1,
  standardised features, all layers side by side, as the recipes' reference):
  ``speaker``: speaker identification accuracy, 5-fold cross-validation over
  utterances stratified by speaker (speakers with at least 5 utterances);
  ``emotion seen``: emotion weighted F1 with the same utterance folds (test
  speakers also train); ``emotion unseen``: emotion weighted F1 on the
  recipe's speaker-independent folds. ``seen - unseen`` is what the features
  gain from having heard the test speakers.

Authors
 * CARE for SpeechBrain contributors, 2026
"""
import argparse
import collections
import os

import torch

from care.probing.metrics import summarize
from care.probing.reference import logistic_regression
from care.processing.folds import fold_splits
from care.processing.manifest import load_manifest

MIN_UTTERANCES = 5  # speakers with fewer are left out of the speaker-level folds
NUM_FOLDS = 5


def corpus_summary(data):
    """Speakers, single-label speakers, and the share of utterances they hold."""
    labels_of = collections.defaultdict(collections.Counter)
    for entry in data.values():
        labels_of[entry["speaker"]][entry["label"]] += 1
    single = [s for s, counts in labels_of.items() if len(counts) == 1]
    held = sum(sum(labels_of[s].values()) for s in single)
    return {
        "speakers": len(labels_of),
        "single_label_speakers": len(single),
        "utterances_of_single_label_speakers": held / len(data),
    }


def utterance_folds(data):
    """``(fold, train, {}, test)`` splits over utterances, stratified by
    speaker (test speakers also train), for speakers with enough utterances."""
    from sklearn.model_selection import StratifiedKFold

    counts = collections.Counter(entry["speaker"] for entry in data.values())
    ids = sorted(u for u, entry in data.items() if counts[entry["speaker"]] >= MIN_UTTERANCES)
    speakers = [data[u]["speaker"] for u in ids]
    folds = StratifiedKFold(NUM_FOLDS, shuffle=True, random_state=0).split(ids, speakers)
    return [
        (f"u{k}", {ids[i]: data[ids[i]] for i in train}, {}, {ids[i]: data[ids[i]] for i in test})
        for k, (train, test) in enumerate(folds)
    ]


def speaker_accuracy(features, data, splits):
    """Speaker identification accuracy (mean over ``splits``): the
    logistic-regression reference with speakers as labels."""
    by_speaker = {u: {**entry, "label": entry["speaker"]} for u, entry in data.items()}
    speakers = sorted({entry["speaker"] for entry in data.values()})
    return summarize(logistic_regression(features, by_speaker, splits, speakers))["mean"]["wa"]


def main(corpus, names, experiment_folder="results"):
    folder = os.path.join(experiment_folder, corpus)
    data = load_manifest(os.path.join(folder, "prepared", "data.json"))
    summary = corpus_summary(data)
    print(
        f"{corpus}: {len(data)} utterances, {summary['speakers']} speakers, "
        f"{summary['single_label_speakers']} with a single emotion label, holding "
        f"{100 * summary['utterances_of_single_label_speakers']:.0f} % of the utterances",
        flush=True,
    )
    labels = sorted({entry["label"] for entry in data.values()})
    seen = utterance_folds(data)
    unseen = list(fold_splits(data, num_valid_folds=1))
    for name in names:
        cache = torch.load(os.path.join(folder, "features", f"{name}.pt"), weights_only=True)
        features = dict(zip(cache["ids"], cache["features"]))
        speaker = speaker_accuracy(features, data, seen)
        emotion_seen = summarize(logistic_regression(features, data, seen, labels))["mean"]["weighted_f1"]
        emotion_unseen = summarize(logistic_regression(features, data, unseen, labels))["mean"]["weighted_f1"]
        print(
            f"{corpus} {name}: speaker {100 * speaker:.1f} | emotion seen {100 * emotion_seen:.1f}"
            f" | emotion unseen {100 * emotion_unseen:.1f} | seen - unseen {100 * (emotion_seen - emotion_unseen):.1f}",
            flush=True,
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("corpus")
    parser.add_argument("names", nargs="+", help="feature cache names")
    parser.add_argument("--experiment_folder", default="results")
    args = parser.parse_args()
    main(args.corpus, args.names, args.experiment_folder)
