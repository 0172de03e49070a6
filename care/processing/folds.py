"""Folds and probing protocols: how a manifest's utterances are split into
training, validation and test data, and the checks that keep every split
speaker-independent.

- speaker independence: :func:`check_speaker_overlap`,
  :func:`fold_speaker_overlap`, :func:`check_fold_overlap`,
  :func:`shared_test_speakers` (counted, for protocols that allow it);
- folds made by a prepare script: :func:`group_speakers`,
  :func:`assign_speaker_folds` (and :func:`speaker_groups_protocol`, its
  description), :func:`contiguous_folds`;
- splits for the probe: :func:`fold_splits` (the manifest's folds; the
  ``emobox`` protocol's splits come from EmoBox's fold files, read by
  :mod:`care.probing.emobox`);
- probing protocols: :data:`PROTOCOLS`, :func:`check_protocol`, where a
  protocol's results go (:func:`output_folder`).

Example
-------
>>> data = {
...     "a1": {"wav": "{data_root}/a1.wav", "duration": 1.0, "label": "ang", "speaker": "s1", "fold": "s1"},
...     "a2": {"wav": "{data_root}/a2.wav", "duration": 1.0, "label": "neu", "speaker": "s2", "fold": "s2"},
...     "a3": {"wav": "{data_root}/a3.wav", "duration": 1.0, "label": "ang", "speaker": "s3", "fold": "s3"},
... }
>>> [(name, sorted(train), sorted(valid), sorted(test)) for name, train, valid, test in fold_splits(data)][0]
('s1', ['a3'], ['a2'], ['a1'])
>>> check_fold_overlap(dict(data, a4=dict(data["a1"], fold="s2")))
Traceback (most recent call last):
    ...
care.processing.manifest.SpeakerOverlapError: speakers in more than one fold: s1/s2: s1

Authors
 * CARE for SpeechBrain contributors, 2026
"""

import os
from collections import Counter

from care.processing.manifest import (
    OFFICIAL_SPLITS,
    ManifestError,
    SpeakerOverlapError,
    natural_key,
)

PROTOCOLS = ("speaker_independent", "emobox")


# ---------------------------------------------------------------------------
# Speaker independence


def check_speaker_overlap(train, test, train_name="train", test_name="test"):
    """Raises :class:`SpeakerOverlapError` naming the speakers found in both
    ``train`` and ``test`` (``{utt_id: entry}`` dicts with a ``speaker``).

    Example
    -------
    >>> check_speaker_overlap({"a": {"speaker": "s1"}}, {"b": {"speaker": "s1"}})
    Traceback (most recent call last):
        ...
    care.processing.manifest.SpeakerOverlapError: train and test share 1 speaker(s): s1
    """
    shared = _speakers(train) & _speakers(test)
    if shared:
        raise SpeakerOverlapError(
            f"{train_name} and {test_name} share {len(shared)} speaker(s): "
            + ", ".join(sorted(shared))
        )


def fold_speaker_overlap(data, ignore=()):
    """Speakers shared by pairs of folds (or of official partitions).

    Arguments
    ---------
    data : dict
        A manifest.
    ignore : iterable of str
        Speaker ids that do not identify a person (e.g. ``"Unknown"``).

    Returns
    -------
    dict
        ``{"<fold>/<fold>": [speakers]}`` for the pairs that share speakers,
        in fold order (``train``, ``valid``, ``test`` for official splits).

    Example
    -------
    >>> data = {"a": {"speaker": "Ross", "fold": "train"}, "b": {"speaker": "Ross", "fold": "test"},
    ...         "c": {"speaker": "Unknown", "fold": "train"}, "d": {"speaker": "Unknown", "fold": "valid"}}
    >>> fold_speaker_overlap(data, ignore=["Unknown"])
    {'train/test': ['Ross']}
    """
    names = _fold_order(data)
    folds = {name: _speakers(_part(data, name), ignore) for name in names}
    overlap = {}
    for index, first in enumerate(names):
        for second in names[index + 1 :]:
            shared = folds[first] & folds[second]
            if shared:
                overlap[f"{first}/{second}"] = sorted(shared)
    return overlap


def check_fold_overlap(data, ignore=()):
    """Raises :class:`SpeakerOverlapError` naming the speakers found in more
    than one fold (they would be in the training and the test part of a
    fold), or in more than one official partition (see
    :func:`fold_speaker_overlap`)."""
    overlap = fold_speaker_overlap(data, ignore)
    if overlap:
        detail = "; ".join(
            f"{pair}: {', '.join(names[:20])}" + (" ..." if len(names) > 20 else "")
            for pair, names in overlap.items()
        )
        raise SpeakerOverlapError(f"speakers in more than one fold: {detail}")


# ---------------------------------------------------------------------------
# Folds


def group_speakers(speaker_counts, num_groups):
    """Greedy, deterministic speaker grouping, balanced in size and, when
    counts per label are given, in label distribution: speakers from the
    largest, each into the group whose counts it brings closest to the
    per-group target (the corpus totals divided by ``num_groups``).

    Arguments
    ---------
    speaker_counts : dict
        ``{speaker: utterances}`` or ``{speaker: {label: utterances}}``.
    num_groups : int
        Number of groups (folds).

    Returns
    -------
    dict
        ``{speaker: group index}``.

    Example
    -------
    >>> group_speakers({"a": 5, "b": 3, "c": 2, "d": 1}, 2)
    {'a': 0, 'b': 1, 'c': 1, 'd': 0}
    >>> group_speakers({"a": {"x": 2}, "b": {"y": 2}, "c": {"x": 2}, "d": {"y": 2}}, 2)
    {'a': 0, 'b': 1, 'c': 1, 'd': 0}
    """
    if num_groups > len(speaker_counts):
        raise ManifestError(
            f"cannot make {num_groups} speaker groups from {len(speaker_counts)} speakers"
        )
    counts = {
        s: c if isinstance(c, dict) else {"": c} for s, c in speaker_counts.items()
    }
    labels = sorted({label for c in counts.values() for label in c})
    totals = {label: sum(c.get(label, 0) for c in counts.values()) for label in labels}
    target = {label: totals[label] / num_groups for label in labels}
    groups_counts = [dict.fromkeys(labels, 0) for _ in range(num_groups)]
    size = {s: sum(c.values()) for s, c in counts.items()}

    def distance(group, speaker=None):
        # Squared distance of a group's label counts and total to the target.
        add = counts[speaker] if speaker else {}
        now = {lab: groups_counts[group][lab] + add.get(lab, 0) for lab in labels}
        total = sum(now.values()) - sum(target.values())
        return sum((now[lab] - target[lab]) ** 2 for lab in labels) + total**2

    def cost(group, speaker):
        return distance(group, speaker) - distance(group)

    groups = {}
    for speaker in sorted(counts, key=lambda s: (-size[s], s)):
        index = min(range(num_groups), key=lambda g: (cost(g, speaker), g))
        groups[speaker] = index
        for label, n in counts[speaker].items():
            groups_counts[index][label] += n
    return groups


def assign_speaker_folds(data, num_folds, prefix="fold"):
    """Sets every entry's ``fold`` to its speaker's group
    (:func:`group_speakers` on the speakers' label counts), named
    ``<prefix>1`` ... ``<prefix><num_folds>``.

    Arguments
    ---------
    data : dict
        A manifest (its ``fold`` values are replaced).
    num_folds : int
        Number of folds.
    prefix : str
        Fold names' prefix.

    Returns
    -------
    dict
        ``{fold: utterances}``, in fold order.

    Example
    -------
    >>> data = {f"u{i}": {"speaker": s, "label": "ab"[i % 2], "fold": None}
    ...         for i, s in enumerate("aabbccdd")}
    >>> assign_speaker_folds(data, 2, prefix="g")
    {'g1': 4, 'g2': 4}
    >>> data["u0"]["fold"], data["u2"]["fold"]
    ('g1', 'g2')
    """
    counts = {}
    for entry in data.values():
        counts.setdefault(entry["speaker"], Counter())[entry["label"]] += 1
    groups = group_speakers({s: dict(c) for s, c in counts.items()}, num_folds)
    for entry in data.values():
        entry["fold"] = f"{prefix}{groups[entry['speaker']] + 1}"
    return {
        f"{prefix}{g + 1}": sum(sum(c.values()) for s, c in counts.items() if groups[s] == g)
        for g in range(num_folds)
    }


def speaker_groups_protocol(data, sizes):
    """The ``prepare.json`` description of the folds
    :func:`assign_speaker_folds` made (``sizes`` is what it returned).

    Example
    -------
    >>> data = {"u1": {"speaker": "a"}, "u2": {"speaker": "b"}, "u3": {"speaker": "c"}}
    >>> speaker_groups_protocol(data, {"g1": 1, "g2": 1, "g3": 1})[:60]
    'speaker-grouped cross-validation: 3 speakers in 3 groups bal'
    """
    speakers = len({entry["speaker"] for entry in data.values()})
    return (
        f"speaker-grouped cross-validation: {speakers} speakers in {len(sizes)} groups "
        f"balanced by utterance count and label mix ({sizes} utterances); each group is a "
        "test fold once, the next group (cyclic) is the validation set for epoch selection, "
        "the rest train"
    )


def contiguous_folds(speakers, num_folds):
    """``{speaker: "fold<k>"}``: sorted speakers cut into ``num_folds``
    consecutive groups of (nearly) equal size. For corpora whose speaker
    numbering alternates gender (RAVDESS, CaFE), even groups keep every fold
    gender-balanced.

    Example
    -------
    >>> contiguous_folds(["01", "02", "03", "04", "05", "06"], 3)
    {'01': 'fold1', '02': 'fold1', '03': 'fold2', '04': 'fold2', '05': 'fold3', '06': 'fold3'}
    """
    unique = sorted(set(speakers))
    if not 2 <= num_folds <= len(unique):
        raise ManifestError(f"cannot make {num_folds} speaker folds from {len(unique)} speakers")
    size, extra = divmod(len(unique), num_folds)
    folds, start = {}, 0
    for index in range(num_folds):
        stop = start + size + (1 if index < extra else 0)
        for speaker in unique[start:stop]:
            folds[speaker] = f"fold{index + 1}"
        start = stop
    return folds


def is_official_split(data):
    """True when ``fold`` holds official ``train``/``valid``/``test`` splits."""
    return {e["fold"] for e in data.values()} <= set(OFFICIAL_SPLITS)


def fold_names(data):
    """Test folds in a stable order (numeric-aware), or ``["test"]`` for an
    official split."""
    if is_official_split(data):
        return ["test"]
    return _fold_order(data)


def fold_splits(data, num_valid_folds=1, folds=None, check_speakers=True):
    """Yields ``(fold, train, valid, test)`` for every test fold.

    Cross-validation: ``test`` is the fold, ``valid`` the next
    ``num_valid_folds`` folds in cyclic order (a speaker-disjoint part of the
    training folds, for model selection), ``train`` the rest. Official
    splits: one ``("test", train, valid, test)``.

    Arguments
    ---------
    data : dict
        A manifest.
    num_valid_folds : int
        Training folds held out for validation.
    folds : list of str, optional
        Only these test folds (default: all).
    check_speakers : bool
        Refuse speakers shared between train, valid and test
        (:func:`check_speaker_overlap`). Switch off only for corpora whose
        official splits share speakers by design, and say so in the recipe.
    """
    names = fold_names(data)
    for name in [str(f) for f in folds] if folds else names:
        if name not in names:
            raise ManifestError(f"unknown test fold {name!r}; folds are {names}")
        if is_official_split(data):
            train, valid, test = (_part(data, split) for split in OFFICIAL_SPLITS)
        else:
            if not 1 <= num_valid_folds <= len(names) - 2:
                raise ManifestError(
                    f"{len(names)} folds leave no room for {num_valid_folds} validation fold(s)"
                )
            start = names.index(name)
            held = {names[(start + 1 + i) % len(names)] for i in range(num_valid_folds)}
            test = _part(data, name)
            valid = {k: e for k, e in data.items() if e["fold"] in held}
            train = {k: e for k, e in data.items() if e["fold"] != name and e["fold"] not in held}
        for part, what in ((train, "train"), (valid, "valid"), (test, "test")):
            if not part:
                raise ManifestError(f"fold {name}: the {what} set is empty")
        if check_speakers:
            check_speaker_overlap(train, test, "train", f"test (fold {name})")
            check_speaker_overlap(valid, test, "valid", f"test (fold {name})")
            check_speaker_overlap(train, valid, "train", f"valid (fold {name})")
        yield name, train, valid, test


# ---------------------------------------------------------------------------
# Protocols


def output_folder(root, encoder_name, protocol="speaker_independent", probe_head="mlp", pooling="mean",
                  feature_normalization="none"):
    """``<root>/<encoder_name>`` for the default protocol, else
    ``<root>/<protocol>/<encoder_name>``: the protocols never share results;
    a probe head other than the recipes' default ``mlp`` adds ``-<head>``,
    a pooling other than ``mean`` adds ``-<pooling>``, and a feature
    normalisation other than ``none`` adds ``-<mode>_norm``, so that two
    heads, poolings or normalisations on one encoder keep their own results
    and classifier.

    >>> output_folder("results/EmoDB", "egemaps"), output_folder("results/EmoDB", "egemaps", "emobox")
    ('results/EmoDB/egemaps', 'results/EmoDB/emobox/egemaps')
    >>> output_folder("results/EmoDB", "random-care_small", probe_head="linear_concat")
    'results/EmoDB/random-care_small-linear_concat'
    >>> output_folder("results/EmoDB", "random-care_small", probe_head="linear_concat", pooling="mean_std")
    'results/EmoDB/random-care_small-linear_concat-mean_std'
    >>> output_folder("results/EmoDB", "egemaps", feature_normalization="speaker")
    'results/EmoDB/egemaps-speaker_norm'
    """
    check_protocol(protocol)
    name = encoder_name if probe_head == "mlp" else f"{encoder_name}-{probe_head}"
    if pooling != "mean":
        name += f"-{pooling}"
    if feature_normalization != "none":
        name += f"-{feature_normalization}_norm"
    if protocol == "speaker_independent":
        return os.path.join(root, name)
    return os.path.join(root, protocol, name)


def check_protocol(protocol):
    """Raises :class:`ValueError` for an unknown protocol name."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {PROTOCOLS}, not {protocol!r}")


def shared_test_speakers(data, train, test):
    """``{"test_speakers": n, "also_in_training": m, "shared": [...]}`` for
    utterance-id lists ``train`` and ``test`` (``"Unknown"`` speakers ignored)."""
    speakers = lambda ids: {data[u]["speaker"] for u in ids} - {"Unknown", ""}  # noqa: E731
    tested, trained = speakers(test), speakers(train)
    shared = sorted(tested & trained)
    return {"test_speakers": len(tested), "also_in_training": len(shared), "shared": shared}


# ---------------------------------------------------------------------------
# Helpers


def _speakers(part, ignore=()):
    return {e["speaker"] for e in part.values()} - set(ignore)


def _part(data, fold):
    return {k: e for k, e in data.items() if e["fold"] == fold}


def _fold_order(data):
    """Folds in a stable order: ``train``, ``valid``, ``test`` for official
    splits, numeric-aware otherwise."""
    folds = {e["fold"] for e in data.values()}
    if folds <= set(OFFICIAL_SPLITS):
        return [split for split in OFFICIAL_SPLITS if split in folds]
    return sorted(folds, key=natural_key)
