"""Checks that the prepare scripts of the emotion corpora share on top of the
manifest contract of :mod:`care.processing.manifest`: required folders and
files, durations read from headers with a tolerance for a corpus's known bad
files, counts and label sets against the official release, speaker folds in
fixed groups, and speaker overlap for both fold-based protocols and official
partitions.

Example
-------
>>> data = {
...     "u1": {"label": "neutral", "speaker": "s1", "fold": "fold1"},
...     "u2": {"label": "angry", "speaker": "s2", "fold": "fold2"},
...     "u3": {"label": "angry", "speaker": "s1", "fold": "fold2"},
... }
>>> check_fold_overlap(data)
Traceback (most recent call last):
    ...
care.processing.manifest.SpeakerOverlapError: speakers in more than one fold (in training and test of the same fold): s1 in ['fold1', 'fold2']
>>> contiguous_folds(["01", "02", "03", "04", "05", "06"], 3)
{'01': 'fold1', '02': 'fold1', '03': 'fold2', '04': 'fold2', '05': 'fold3', '06': 'fold3'}
>>> check_counts({"angry": 2, "neutral": 1}, {"angry": 2, "neutral": 2}, "label counts", "/corpus")
Traceback (most recent call last):
    ...
care.processing.manifest.ManifestError: /corpus: label counts differ from the official release (neutral: 1 found, 2 expected); is the corpus complete? strict=False prepares a subset

Authors
 * CARE for SpeechBrain contributors, 2026
"""

import json
import os
from collections import defaultdict

from speechbrain.utils.logger import get_logger

from care.io import write_json
from care.processing.audio import AudioError
from care.processing.manifest import (
    OFFICIAL_SPLITS,
    PREPARE_FILE,
    ManifestError,
    SpeakerOverlapError,
    audio_duration,
)

logger = get_logger(__name__)

LFS_MAGIC = b"version https://git-lfs"


def require_dir(path, what, hint=""):
    """Returns ``path``; raises :class:`ManifestError` naming it when it is
    not a folder. ``what`` says what it should hold, ``hint`` how to fix it."""
    if not os.path.isdir(path):
        raise ManifestError(f"{path}: missing folder ({what}). {hint}".rstrip())
    return path


def require_file(path, what, hint=""):
    """Returns ``path``; raises :class:`ManifestError` naming it when it is
    not a file."""
    if not os.path.isfile(path):
        raise ManifestError(f"{path}: missing file ({what}). {hint}".rstrip())
    return path


def header_duration(path):
    """:func:`care.processing.manifest.audio_duration`, with a clear message
    for a Git LFS pointer (a corpus cloned without ``git lfs``) and for a
    header that reports no samples."""
    try:
        seconds = audio_duration(path)
    except AudioError:
        with open(path, "rb") as handle:
            if handle.read(len(LFS_MAGIC)) == LFS_MAGIC:
                raise ManifestError(
                    f"{path}: a Git LFS pointer, not audio; run `git lfs pull` "
                    "in the corpus repository"
                ) from None
        raise
    if not seconds > 0:
        raise AudioError(f"{path}: the header reports no samples")
    return seconds


def read_durations(paths, max_unreadable=0):
    """Header durations of many files; unreadable files are skipped and logged.

    Arguments
    ---------
    paths : dict
        ``{utt_id: path}``.
    max_unreadable : int
        Unreadable files tolerated (a corpus's known bad files); more raise
        :class:`ManifestError` naming the first few. A Git LFS pointer always
        raises.

    Returns
    -------
    durations : dict
        ``{utt_id: seconds}`` of the readable files.
    unreadable : dict
        ``{utt_id: message}``.
    """
    durations, unreadable = {}, {}
    for utt, path in paths.items():
        try:
            durations[utt] = header_duration(path)
        except AudioError as error:
            unreadable[utt] = str(error)
    if len(unreadable) > max_unreadable:
        first = "; ".join(list(unreadable.values())[:5])
        raise ManifestError(
            f"{len(unreadable)} unreadable audio files, at most {max_unreadable} "
            f"tolerated: {first}"
        )
    for message in unreadable.values():
        logger.warning(f"Skipped unreadable audio: {message}")
    return durations, unreadable


def check_counts(found, expected, what, folder, tolerance=0):
    """Compares counts with the official release's.

    Arguments
    ---------
    found : dict or int
        ``{key: count}`` or a total.
    expected : dict or int or None
        The same form; None skips the check (logged).
    what : str
        What is counted, for the message.
    folder : str
        The corpus folder, for the message.
    tolerance : int
        Allowed absolute difference per key.
    """
    if expected is None:
        logger.info(f"{folder}: {what} not checked (strict=False)")
        return
    if not isinstance(expected, dict):
        found, expected = {"total": found}, {"total": expected}
    wrong = [
        f"{key}: {found.get(key, 0)} found, {count} expected"
        for key, count in sorted(expected.items())
        if abs(found.get(key, 0) - count) > tolerance
    ]
    wrong += [f"{key}: {found[key]} found, none expected" for key in sorted(set(found) - set(expected))]
    if wrong:
        within = f" (tolerance {tolerance})" if tolerance else ""
        raise ManifestError(
            f"{folder}: {what} differ from the official release{within} "
            f"({'; '.join(wrong)}); is the corpus complete? strict=False prepares a subset"
        )


def check_labels(found, allowed, source):
    """Raises :class:`ManifestError` naming ``source`` when ``found`` holds
    labels (or label codes) outside ``allowed``."""
    unknown = sorted(set(found) - set(allowed))
    if unknown:
        raise ManifestError(f"{source}: unknown labels {unknown}; expected some of {sorted(allowed)}")


def contiguous_folds(speakers, num_folds):
    """``{speaker: "fold<k>"}``: sorted speakers cut into ``num_folds``
    consecutive groups of (nearly) equal size. For corpora whose speaker
    numbering alternates gender (RAVDESS, CaFE), even groups keep every fold
    gender-balanced."""
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


def check_fold_overlap(data):
    """Fold-based protocols: raises :class:`SpeakerOverlapError` naming every
    speaker found in more than one fold (it would be in the training and the
    test part of a fold)."""
    folds = defaultdict(set)
    for entry in data.values():
        folds[entry["speaker"]].add(entry["fold"])
    shared = [f"{speaker} in {sorted(names)}" for speaker, names in sorted(folds.items()) if len(names) > 1]
    if shared:
        raise SpeakerOverlapError(
            "speakers in more than one fold (in training and test of the same fold): "
            + "; ".join(shared)
        )


def split_overlap(data, ignore=(), splits=OFFICIAL_SPLITS):
    """Speakers shared by pairs of official partitions.

    Arguments
    ---------
    data : dict
        A manifest whose ``fold`` holds the partition.
    ignore : iterable of str
        Speaker ids that do not identify a person (e.g. ``"Unknown"``).
    splits : tuple of str
        The partitions to compare.

    Returns
    -------
    dict
        ``{"train/test": [speakers], ...}`` for the pairs that share speakers.
    """
    speakers = defaultdict(set)
    for entry in data.values():
        if entry["speaker"] not in ignore:
            speakers[entry["fold"]].add(entry["speaker"])
    overlap = {}
    for index, first in enumerate(splits):
        for second in splits[index + 1 :]:
            shared = speakers[first] & speakers[second]
            if shared:
                overlap[f"{first}/{second}"] = sorted(shared)
    return overlap


def check_split_overlap(data, ignore=(), splits=OFFICIAL_SPLITS):
    """Raises :class:`SpeakerOverlapError` naming the speakers that official
    partitions share (see :func:`split_overlap`)."""
    overlap = split_overlap(data, ignore, splits)
    if overlap:
        detail = "; ".join(f"{pair}: {', '.join(names[:20])}" for pair, names in overlap.items())
        raise SpeakerOverlapError(f"speakers shared between partitions: {detail}")


def add_record(save_folder, **facts):
    """Adds ``facts`` (skipped files, speaker overlap, ...) to the
    ``prepare.json`` that :func:`care.processing.manifest.write_manifest`
    just wrote."""
    path = os.path.join(save_folder, PREPARE_FILE)
    with open(path, encoding="utf-8") as handle:
        record = json.load(handle)
    record.update(facts)
    write_json(path, record)


def read_text(path):
    """Text of a label or transcript file: UTF-8, or Windows-1252 for files
    that are not valid UTF-8 (some corpora ship both)."""
    with open(path, "rb") as handle:
        raw = handle.read()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="replace")
