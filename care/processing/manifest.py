"""The manifest contract of the emotion recipes, and the checks every
``<dataset>_prepare.py`` shares.

A prepare function writes ``<save_folder>/data.json``::

    {utt_id: {"wav": "{data_root}/relative/path", "duration": seconds,
              "label": str, "speaker": str, "fold": str}}

``fold`` names the test fold an utterance belongs to (EmoDB: its speaker;
URDU: its speaker group; IEMOCAP: its session), or ``train`` / ``valid`` /
``test`` for corpora with official splits. Beside it, ``prepare.json``
records the options, the counts and a fingerprint of the audio files, so that
a second call with the same options on unchanged audio does nothing.

The probe (``care.probing``) turns a manifest into train / valid / test sets
per test fold with :func:`fold_splits`, which refuses any speaker shared
between them (:func:`check_speaker_overlap`).

Example
-------
>>> data = {
...     "a1": {"wav": "{data_root}/a1.wav", "duration": 1.0, "label": "ang", "speaker": "s1", "fold": "s1"},
...     "a2": {"wav": "{data_root}/a2.wav", "duration": 1.0, "label": "neu", "speaker": "s2", "fold": "s2"},
...     "a3": {"wav": "{data_root}/a3.wav", "duration": 1.0, "label": "ang", "speaker": "s3", "fold": "s3"},
... }
>>> validate_manifest(data, "toy", expected_count=3, expected_labels=["ang", "neu"])
>>> [(name, sorted(train), sorted(valid), sorted(test)) for name, train, valid, test in fold_splits(data)][0]
('s1', ['a3'], ['a2'], ['a1'])
>>> check_speaker_overlap({"a1": data["a1"]}, {"x": dict(data["a2"], speaker="s1")})
Traceback (most recent call last):
    ...
care.processing.manifest.SpeakerOverlapError: train and test share 1 speaker(s): s1

Authors
 * CARE for SpeechBrain contributors, 2026
"""

import hashlib
import json
import os

from speechbrain.utils.logger import get_logger

from care.io import write_json
from care.processing.audio import audio_info

logger = get_logger(__name__)

DATA_ROOT = "{data_root}"
MANIFEST_FILE = "data.json"
PREPARE_FILE = "prepare.json"
FIELDS = ("wav", "duration", "label", "speaker", "fold")
OFFICIAL_SPLITS = ("train", "valid", "test")


class ManifestError(ValueError):
    """A corpus or manifest that does not match what its recipe expects; the
    message names the corpus and the problem."""


class SpeakerOverlapError(ManifestError):
    """Train and test (or valid) sets share speakers."""


# ---------------------------------------------------------------------------
# Writing a manifest


def relative_wav(path, data_folder):
    """``{data_root}/<path relative to data_folder>``: the manifest form of a
    file path, so that the manifest moves with its data."""
    rel = os.path.relpath(os.path.abspath(path), os.path.abspath(data_folder))
    if rel.startswith(".."):
        raise ManifestError(f"{path} is not inside the data folder {data_folder}")
    return DATA_ROOT + "/" + rel.replace(os.sep, "/")


def resolve_wav(wav, data_folder):
    """The inverse of :func:`relative_wav`."""
    return wav.replace(DATA_ROOT, os.path.abspath(data_folder).rstrip("/"))


def audio_duration(path):
    """Duration in seconds from the file header (no decoding)."""
    frames, rate, _ = audio_info(path)
    return frames / rate


def files_fingerprint(paths, data_folder):
    """A hash of the relative paths, sizes and modification times of
    ``paths``: changes when a file is added, removed, replaced or edited."""
    digest = hashlib.sha256()
    for path in sorted(os.path.relpath(p, data_folder) for p in paths):
        stat = os.stat(os.path.join(data_folder, path))
        digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def skip_preparation(save_folder, options, audio_files, data_folder):
    """True when ``save_folder`` already holds a manifest written with the same
    ``options`` from the same ``audio_files`` (unchanged sizes and times)."""
    manifest = os.path.join(save_folder, MANIFEST_FILE)
    record = os.path.join(save_folder, PREPARE_FILE)
    if not (os.path.isfile(manifest) and os.path.isfile(record)):
        return False
    with open(record, encoding="utf-8") as handle:
        previous = json.load(handle)
    same = previous.get("options") == _plain(options) and previous.get(
        "fingerprint"
    ) == files_fingerprint(audio_files, data_folder)
    if same:
        logger.info(f"{manifest} is up to date (same options and audio); skipping preparation")
    return same


def write_manifest(save_folder, data, options, audio_files, data_folder, protocol=""):
    """Writes ``data.json`` and ``prepare.json`` (options, counts per label /
    speaker / fold, file fingerprint, protocol text), both atomically, the
    record last so that an interrupted run prepares again."""
    counts = {
        "utterances": len(data),
        "hours": round(sum(e["duration"] for e in data.values()) / 3600, 4),
        "labels": _count(data, "label"),
        "speakers": len({e["speaker"] for e in data.values()}),
        "folds": _count(data, "fold"),
    }
    write_json(os.path.join(save_folder, MANIFEST_FILE), data)
    write_json(
        os.path.join(save_folder, PREPARE_FILE),
        {
            "options": _plain(options),
            "protocol": protocol,
            "counts": counts,
            "fingerprint": files_fingerprint(audio_files, data_folder),
        },
    )
    logger.info(f"Wrote {os.path.join(save_folder, MANIFEST_FILE)}: {counts}")


def load_manifest(path, data_folder=None):
    """Reads ``data.json``; with ``data_folder``, ``{data_root}`` is replaced."""
    with open(path, encoding="utf-8") as handle:
        data = json.load(handle)
    if data_folder is not None:
        for entry in data.values():
            entry["wav"] = resolve_wav(entry["wav"], data_folder)
    return data


# ---------------------------------------------------------------------------
# Validation


def validate_manifest(
    data,
    corpus,
    expected_count=None,
    expected_labels=None,
    expected_speakers=None,
    expected_folds=None,
):
    """Raises :class:`ManifestError` naming ``corpus`` and the problem when
    ``data`` breaks the contract or differs from what is expected.

    Arguments
    ---------
    data : dict
        ``{utt_id: entry}``, as written to ``data.json``.
    corpus : str
        Name used in messages (and where to look: e.g. the data folder).
    expected_count : int, optional
        Number of utterances.
    expected_labels : iterable of str, optional
        The exact label set.
    expected_speakers : int, optional
        Number of distinct speakers.
    expected_folds : int or iterable of str, optional
        Number of folds, or their exact names.
    """
    if not data:
        raise ManifestError(f"{corpus}: no utterances found")
    for utt, entry in data.items():
        missing = [f for f in FIELDS if f not in entry]
        if missing:
            raise ManifestError(f"{corpus}: utterance {utt} lacks {missing}")
        if not entry["wav"].startswith(DATA_ROOT):
            raise ManifestError(f"{corpus}: utterance {utt}: wav must start with {DATA_ROOT}")
        if not entry["duration"] > 0:
            raise ManifestError(f"{corpus}: utterance {utt} ({entry['wav']}) has no audio")
    if expected_count is not None and len(data) != expected_count:
        raise ManifestError(
            f"{corpus}: expected {expected_count} utterances, found {len(data)} "
            "(incomplete or wrong folder?)"
        )
    labels = {e["label"] for e in data.values()}
    if expected_labels is not None and labels != set(expected_labels):
        raise ManifestError(
            f"{corpus}: expected labels {sorted(expected_labels)}, found {sorted(labels)} "
            f"(missing {sorted(set(expected_labels) - labels)}, "
            f"unexpected {sorted(labels - set(expected_labels))})"
        )
    speakers = {e["speaker"] for e in data.values()}
    if expected_speakers is not None and len(speakers) != expected_speakers:
        raise ManifestError(
            f"{corpus}: expected {expected_speakers} speakers, found {len(speakers)}"
        )
    folds = {e["fold"] for e in data.values()}
    if isinstance(expected_folds, int) and len(folds) != expected_folds:
        raise ManifestError(f"{corpus}: expected {expected_folds} folds, found {sorted(folds)}")
    if expected_folds is not None and not isinstance(expected_folds, int):
        if folds != set(expected_folds):
            raise ManifestError(
                f"{corpus}: expected folds {sorted(expected_folds)}, found {sorted(folds)}"
            )


def check_speaker_overlap(train, test, train_name="train", test_name="test"):
    """Raises :class:`SpeakerOverlapError` naming the speakers found in both
    ``train`` and ``test`` (``{utt_id: entry}`` dicts with a ``speaker``)."""
    shared = {e["speaker"] for e in train.values()} & {e["speaker"] for e in test.values()}
    if shared:
        raise SpeakerOverlapError(
            f"{train_name} and {test_name} share {len(shared)} speaker(s): "
            + ", ".join(sorted(shared))
        )


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


def is_official_split(data):
    """True when ``fold`` holds official ``train``/``valid``/``test`` splits."""
    return {e["fold"] for e in data.values()} <= set(OFFICIAL_SPLITS)


def fold_names(data):
    """Test folds in a stable order (numeric-aware), or ``["test"]`` for an
    official split."""
    if is_official_split(data):
        return ["test"]
    return sorted({e["fold"] for e in data.values()}, key=_natural)


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
            parts = [{k: e for k, e in data.items() if e["fold"] == s} for s in OFFICIAL_SPLITS]
            train, valid, test = parts
        else:
            if not 1 <= num_valid_folds <= len(names) - 2:
                raise ManifestError(
                    f"{len(names)} folds leave no room for {num_valid_folds} validation fold(s)"
                )
            start = names.index(name)
            held = {names[(start + 1 + i) % len(names)] for i in range(num_valid_folds)}
            test = {k: e for k, e in data.items() if e["fold"] == name}
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


def _natural(name):
    return [(0, int(t), "") if t.isdigit() else (1, 0, t) for t in _tokens(name)]


def _tokens(text):
    token, out = "", []
    for char in text:
        if token and char.isdigit() != token[-1].isdigit():
            out.append(token)
            token = ""
        token += char
    return out + [token] if token else out


def _count(data, field):
    counts = {}
    for entry in data.values():
        counts[entry[field]] = counts.get(entry[field], 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: _natural(str(kv[0]))))


def _plain(options):
    return json.loads(json.dumps(options, default=str))
