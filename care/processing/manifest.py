"""The manifest contract of the emotion recipes, and everything the
``<dataset>_prepare.py`` scripts share to honour it.

A prepare function writes ``<save_folder>/data.json``::

    {utt_id: {"wav": "{data_root}/relative/path", "duration": seconds,
              "label": str, "speaker": str, "fold": str, ...}}

``fold`` names the test fold an utterance belongs to (EmoDB: its speaker;
URDU: its speaker group; IEMOCAP: its session), or ``train`` / ``valid`` /
``test`` for corpora with official splits. Beside it, ``prepare.json``
records the options, the counts, a fingerprint of the audio (and label)
files, the SHA-256 of ``data.json`` and facts of the preparation (skipped
files, ...), so that a second call with the same options on unchanged files
does nothing. ``prepare.json`` is removed before and written after
``data.json``: an interrupted preparation, or a manifest edited since, is
prepared again. Paths are read back confined to the data folder: a ``wav``
that leaves it (``{data_root}/../..``) is refused.

A prepare script keeps only its corpus's parsing; the rest is here:

- corpus files: :func:`require_dir`, :func:`require_file`,
  :func:`require_audio`, :func:`read_text`, :func:`read_table`;
- durations from headers: :func:`audio_duration`, :func:`read_durations`;
- checks against the release: :func:`check_counts`, :func:`check_release`,
  :func:`check_labels`, :func:`validate_manifest`;
- speaker independence: :func:`check_speaker_overlap`,
  :func:`speaker_overlap`, :func:`check_fold_overlap`;
- folds: :func:`group_speakers`, :func:`assign_speaker_folds`,
  :func:`contiguous_folds`, and for the probe :func:`fold_splits`;
- writing and reading: :func:`relative_wav`, :func:`resolve_wav`,
  :func:`skip_preparation`, :func:`write_manifest`, :func:`load_manifest`,
  :func:`check_manifest_paths`.

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
>>> check_fold_overlap(dict(data, a4=dict(data["a1"], fold="s2")))
Traceback (most recent call last):
    ...
care.processing.manifest.SpeakerOverlapError: speakers in more than one fold: s1/s2: s1

Authors
 * CARE for SpeechBrain contributors, 2026
"""

import csv
import hashlib
import io
import json
import os
from collections import Counter

from speechbrain.utils.logger import get_logger

from care.io import TEMP_SUFFIX, write_json
from care.processing.audio import AudioError, audio_info

logger = get_logger(__name__)

DATA_ROOT = "{data_root}"
MANIFEST_FILE = "data.json"
PREPARE_FILE = "prepare.json"
FIELDS = ("wav", "duration", "label", "speaker", "fold")
OFFICIAL_SPLITS = ("train", "valid", "test")
LFS_MAGIC = b"version https://git-lfs"
STRICT_HINT = "is the corpus complete? strict=False prepares a subset"


class ManifestError(ValueError):
    """A corpus or manifest that does not match what its recipe expects; the
    message names the corpus (or file) and the problem."""


class SpeakerOverlapError(ManifestError):
    """Train and test (or valid) sets share speakers."""


# ---------------------------------------------------------------------------
# Corpus files


def require_dir(path, what, hint=""):
    """Returns ``path``; raises :class:`ManifestError` naming it when it is
    not a folder.

    Arguments
    ---------
    path : str
        The folder.
    what : str
        What it should hold, for the message.
    hint : str
        How to fix it, for the message.

    Returns
    -------
    str
        ``path``.

    Example
    -------
    >>> require_dir("/no/such/folder", "the audio", "Unpack the corpus here")
    Traceback (most recent call last):
        ...
    care.processing.manifest.ManifestError: /no/such/folder: missing folder (the audio). Unpack the corpus here
    """
    if not os.path.isdir(path):
        raise ManifestError(f"{path}: missing folder ({what}). {hint}".rstrip())
    return path


def require_file(path, what, hint=""):
    """Returns ``path``; raises :class:`ManifestError` naming it when it is
    not a file (arguments as :func:`require_dir`).

    Example
    -------
    >>> require_file("/no/such/labels.csv", "the labels")
    Traceback (most recent call last):
        ...
    care.processing.manifest.ManifestError: /no/such/labels.csv: missing file (the labels).
    """
    if not os.path.isfile(path):
        raise ManifestError(f"{path}: missing file ({what}). {hint}".rstrip())
    return path


def require_audio(paths, what):
    """Raises :class:`ManifestError` when labelled items have no audio file.

    Arguments
    ---------
    paths : dict
        ``{utt_id: path}`` of the items a label file lists.
    what : str
        What the items are, for the message (``"labelled segments"``).

    Example
    -------
    >>> require_audio({"u1": "/no/u1.wav"}, "labelled segments")
    Traceback (most recent call last):
        ...
    care.processing.manifest.ManifestError: 1 labelled segments have no audio file, e.g. ['/no/u1.wav']
    """
    missing = [path for path in paths.values() if not os.path.isfile(path)]
    if missing:
        raise ManifestError(f"{len(missing)} {what} have no audio file, e.g. {missing[:3]}")


def read_text(path):
    """Text of a label or transcript file: UTF-8 (with or without BOM), or
    Windows-1252 for files that are not valid UTF-8 (some corpora ship both).

    Example
    -------
    >>> import tempfile
    >>> with tempfile.NamedTemporaryFile(suffix=".txt", delete=False) as handle:
    ...     _ = handle.write("Colère".encode("cp1252"))
    >>> read_text(handle.name)
    'Colère'
    """
    with open(path, "rb") as handle:
        raw = handle.read()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="replace")


def read_table(path, columns=()):
    """Rows of a CSV label table (read with :func:`read_text`) as dicts.

    Arguments
    ---------
    path : str
        The CSV file, with a header row (names are stripped of spaces).
    columns : iterable of str
        Columns that must be present.

    Returns
    -------
    list of dict
        One dict per row; raises :class:`ManifestError` naming the file when
        a column is missing or there are no rows.

    Example
    -------
    >>> import tempfile
    >>> with tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False) as handle:
    ...     _ = handle.write("path, label\\na.wav,happy\\n")
    >>> read_table(handle.name, ("path", "label"))
    [{'path': 'a.wav', 'label': 'happy'}]
    >>> read_table(handle.name, ("path", "speaker"))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
        ...
    care.processing.manifest.ManifestError: ....csv: missing column(s) ['speaker']; the header must name path, speaker (found ['path', 'label'])
    """
    reader = csv.DictReader(io.StringIO(read_text(path)))
    header = [name.strip() for name in reader.fieldnames or []]
    reader.fieldnames = header
    absent = [c for c in columns if c not in header]
    if absent:
        raise ManifestError(
            f"{path}: missing column(s) {absent}; the header must name "
            f"{', '.join(columns)} (found {header})"
        )
    rows = list(reader)
    if not rows:
        raise ManifestError(f"{path}: no rows")
    return rows


# ---------------------------------------------------------------------------
# Durations


def audio_duration(path):
    """Duration in seconds from the file header (no decoding).

    Raises :class:`care.processing.audio.AudioError` naming the file when it
    is missing, unreadable or reports no samples, and :class:`ManifestError`
    for a Git LFS pointer (a corpus cloned without ``git lfs``).

    Example
    -------
    >>> import tempfile, torch
    >>> from speechbrain.dataio import audio_io
    >>> path = os.path.join(tempfile.mkdtemp(), "half.wav")
    >>> audio_io.save(path, torch.zeros(1, 8000), 16000)
    >>> audio_duration(path)
    0.5
    """
    try:
        frames, rate, _ = audio_info(path)
    except AudioError:
        if os.path.isfile(path):
            with open(path, "rb") as handle:
                if handle.read(len(LFS_MAGIC)) == LFS_MAGIC:
                    raise ManifestError(
                        f"{path}: a Git LFS pointer, not audio; run `git lfs pull` "
                        "in the corpus repository"
                    ) from None
        raise
    if not frames > 0:
        raise AudioError(f"{path}: the header reports no samples")
    return frames / rate


def read_durations(paths, max_unreadable=0):
    """Header durations of many files; unreadable files are skipped and logged.

    Arguments
    ---------
    paths : dict
        ``{utt_id: path}``.
    max_unreadable : int or None
        Unreadable files tolerated (a corpus's known bad files); more raise
        :class:`ManifestError` naming the first few. None tolerates any
        number (the caller decides). A Git LFS pointer always raises.

    Returns
    -------
    durations : dict
        ``{utt_id: seconds}`` of the readable files.
    unreadable : dict
        ``{utt_id: message}``.

    Example
    -------
    >>> read_durations({"u1": "/no/u1.wav"})
    Traceback (most recent call last):
        ...
    care.processing.manifest.ManifestError: 1 unreadable audio files, at most 0 tolerated: /no/u1.wav: no such file
    >>> read_durations({"u1": "/no/u1.wav"}, max_unreadable=None)
    ({}, {'u1': '/no/u1.wav: no such file'})
    """
    durations, unreadable = {}, {}
    for utt, path in paths.items():
        try:
            durations[utt] = audio_duration(path)
        except AudioError as error:
            unreadable[utt] = str(error)
    if max_unreadable is None:
        return durations, unreadable
    if len(unreadable) > max_unreadable:
        first = "; ".join(list(unreadable.values())[:5])
        raise ManifestError(
            f"{len(unreadable)} unreadable audio files, at most {max_unreadable} "
            f"tolerated: {first}"
        )
    for message in unreadable.values():
        logger.warning(f"Skipped unreadable audio: {message}")
    return durations, unreadable


# ---------------------------------------------------------------------------
# Checks against the release


def check_counts(found, expected, what, source, tolerance=0, hint=STRICT_HINT):
    """Compares counts with the official release's.

    Arguments
    ---------
    found : dict or int
        ``{key: count}`` or a total.
    expected : dict or int or None
        The same form; None skips the check (logged).
    what : str
        What is counted, for the message.
    source : str
        The corpus folder or file, for the message.
    tolerance : int
        Allowed absolute difference per key.
    hint : str
        How to proceed, for the message.

    Example
    -------
    >>> check_counts(12, 12, "files", "/corpus")
    >>> check_counts(6, 7, "utterances", "toy")
    Traceback (most recent call last):
        ...
    care.processing.manifest.ManifestError: toy: expected 7 utterances, found 6: the utterances differ from the official release; is the corpus complete? strict=False prepares a subset
    >>> check_counts({"angry": 2, "neutral": 1}, {"angry": 2, "neutral": 2}, "label counts", "/corpus")
    Traceback (most recent call last):
        ...
    care.processing.manifest.ManifestError: /corpus: label counts differ from the official release (neutral: 1 found, 2 expected); is the corpus complete? strict=False prepares a subset
    """
    if expected is None:
        logger.info(f"{source}: {what} not checked")
        return
    within = f" (tolerance {tolerance})" if tolerance else ""
    if not isinstance(expected, dict):
        if abs(found - expected) > tolerance:
            raise ManifestError(
                f"{source}: expected {expected} {what}, found {found}{within}: the {what} "
                f"differ from the official release; {hint}"
            )
        return
    wrong = [
        f"{key}: {found.get(key, 0)} found, {count} expected"
        for key, count in sorted(expected.items())
        if abs(found.get(key, 0) - count) > tolerance
    ]
    wrong += [f"{key}: {found[key]} found, none expected" for key in sorted(set(found) - set(expected))]
    if wrong:
        raise ManifestError(
            f"{source}: {what} differ from the official release{within} ({'; '.join(wrong)}); {hint}"
        )


def check_release(found, release, source):
    """:func:`check_counts` for each count a corpus's official release fixes.

    Arguments
    ---------
    found : dict
        ``{what: count}``, a count being a total or ``{key: count}``.
    release : dict or None
        The official counts, with the same keys; None skips the checks
        (``strict=False``: a subset).
    source : str
        The corpus folder or file, for the message.

    Example
    -------
    >>> release = {"files": 3, "files per emotion": {"angry": 2, "neutral": 1}}
    >>> check_release({"files": 3, "files per emotion": {"angry": 2, "neutral": 1}}, release, "/corpus")
    >>> check_release({"files": 2, "files per emotion": {"angry": 2}}, release, "/corpus")
    Traceback (most recent call last):
        ...
    care.processing.manifest.ManifestError: /corpus: expected 3 files, found 2: the files differ from the official release; is the corpus complete? strict=False prepares a subset
    """
    for what, count in found.items():
        check_counts(count, None if release is None else release[what], what, source)


def check_labels(found, allowed, source, complete=False, what="labels"):
    """Raises :class:`ManifestError` naming ``source`` when ``found`` holds
    labels (or label codes) outside ``allowed``, or, with ``complete``, lacks
    some of them.

    Arguments
    ---------
    found : iterable of str
        The labels found.
    allowed : iterable of str
        The labels of the corpus.
    source : str
        The file or corpus, for the message.
    complete : bool
        Every allowed label must be found.
    what : str
        What the names are, for the message (``"folds"``).

    Example
    -------
    >>> check_labels(["W"], {"W": "anger", "N": "neutral"}, "03a01Wa.wav")
    >>> check_labels(["X"], {"W": "anger", "N": "neutral"}, "03a01Xa.wav")
    Traceback (most recent call last):
        ...
    care.processing.manifest.ManifestError: 03a01Xa.wav: unknown labels ['X']; expected some of ['N', 'W']
    >>> check_labels(["anger"], ["anger", "sadness"], "toy", complete=True)
    Traceback (most recent call last):
        ...
    care.processing.manifest.ManifestError: toy: labels missing ['sadness']; expected all of ['anger', 'sadness']
    """
    found, allowed = set(found), set(allowed)
    problems = []
    if found - allowed:
        problems.append(f"unknown {what} {sorted(found - allowed)}")
    if complete and allowed - found:
        problems.append(f"{what} missing {sorted(allowed - found)}")
    if problems:
        every = "all" if complete else "some"
        raise ManifestError(f"{source}: {'; '.join(problems)}; expected {every} of {sorted(allowed)}")


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
        Number of utterances (:func:`check_counts`).
    expected_labels : iterable of str, optional
        The exact label set (:func:`check_labels`).
    expected_speakers : int, optional
        Number of distinct speakers.
    expected_folds : int or iterable of str, optional
        Number of folds, or their exact names.

    Example
    -------
    >>> entry = {"wav": "{data_root}/a.wav", "duration": 1.0, "label": "anger", "speaker": "s1", "fold": "s1"}
    >>> validate_manifest({"a": entry}, "toy", expected_labels=["anger"], expected_folds=["s1"])
    >>> validate_manifest({"a": dict(entry, wav="/abs/a.wav")}, "toy")
    Traceback (most recent call last):
        ...
    care.processing.manifest.ManifestError: toy: utterance a: wav must start with {data_root}
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
    hint = "incomplete or wrong folder?"
    if expected_count is not None:
        check_counts(len(data), expected_count, "utterances", corpus, hint=hint)
    if expected_labels is not None:
        check_labels({e["label"] for e in data.values()}, expected_labels, corpus, complete=True)
    if expected_speakers is not None:
        speakers = len({e["speaker"] for e in data.values()})
        check_counts(speakers, expected_speakers, "speakers", corpus, hint=hint)
    folds = {e["fold"] for e in data.values()}
    if isinstance(expected_folds, int):
        check_counts(len(folds), expected_folds, "folds", corpus, hint=hint)
    elif expected_folds is not None:
        check_labels(folds, expected_folds, corpus, complete=True, what="folds")


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


def speaker_overlap(data, ignore=()):
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
    >>> speaker_overlap(data, ignore=["Unknown"])
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
    :func:`speaker_overlap`)."""
    overlap = speaker_overlap(data, ignore)
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
# Writing and reading a manifest


def relative_wav(path, data_folder):
    """``{data_root}/<path relative to data_folder>``: the manifest form of a
    file path, so that the manifest moves with its data.

    Example
    -------
    >>> relative_wav("/corpus/wav/a.wav", "/corpus")
    '{data_root}/wav/a.wav'
    """
    rel = os.path.relpath(os.path.abspath(path), os.path.abspath(data_folder))
    if rel.startswith(".."):
        raise ManifestError(f"{path} is not inside the data folder {data_folder}")
    return DATA_ROOT + "/" + rel.replace(os.sep, "/")


def resolve_wav(wav, data_folder):
    """The inverse of :func:`relative_wav`: a path inside ``data_folder``.

    A manifest is data, and may come from elsewhere: a ``wav`` that does not
    start with ``{data_root}/`` or whose ``..`` components leave the data
    folder raises :class:`ManifestError`. (Symbolic links inside the data
    folder are followed: they are the folder owner's choice.)

    Example
    -------
    >>> resolve_wav("{data_root}/wav/a.wav", "/corpus/")
    '/corpus/wav/a.wav'
    >>> resolve_wav("{data_root}/../../etc/passwd", "/corpus/")
    Traceback (most recent call last):
        ...
    care.processing.manifest.ManifestError: {data_root}/../../etc/passwd: leaves the data folder /corpus
    """
    root = os.path.abspath(data_folder)
    if not wav.startswith(DATA_ROOT + "/"):
        raise ManifestError(f"{wav}: a manifest path must start with {DATA_ROOT}/")
    path = os.path.normpath(os.path.join(root, wav[len(DATA_ROOT) + 1 :]))
    if os.path.commonpath([root, path]) != root or path == root:
        raise ManifestError(f"{wav}: leaves the data folder {root}")
    return path


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
    ``options`` from the same ``audio_files`` (unchanged sizes and times) and
    not changed since (its SHA-256 is the recorded one). Removes temp files
    of interrupted writes."""
    manifest = os.path.join(save_folder, MANIFEST_FILE)
    record = os.path.join(save_folder, PREPARE_FILE)
    _remove_stale_temp_files(save_folder, (MANIFEST_FILE, PREPARE_FILE))
    if not (os.path.isfile(manifest) and os.path.isfile(record)):
        return False
    with open(record, encoding="utf-8") as handle:
        previous = json.load(handle)
    same = (
        previous.get("options") == _plain(options)
        and previous.get("fingerprint") == files_fingerprint(audio_files, data_folder)
        and previous.get("manifest_sha256") == _sha256(manifest)
    )
    if same:
        logger.info(f"{manifest} is up to date (same options and audio); skipping preparation")
    return same


def write_manifest(
    save_folder,
    data,
    options,
    audio_files,
    data_folder,
    protocol="",
    facts=None,
    check_speakers=True,
    ignore_speakers=(),
):
    """Checks ``data`` and writes ``data.json`` and ``prepare.json``.

    ``data`` must keep the contract (:func:`validate_manifest`) and, unless
    ``check_speakers`` is off, hold every speaker in one fold
    (:func:`check_fold_overlap`). Both files are written atomically; the
    old record is removed first and the new one, with the manifest's SHA-256,
    written last, so that an interrupted run prepares again.

    Arguments
    ---------
    save_folder : str
        Where the files go.
    data : dict
        The manifest.
    options : dict
        The prepare function's options (compared by :func:`skip_preparation`).
    audio_files : iterable of str
        The files the manifest was made from (audio and label files), for
        the fingerprint.
    data_folder : str
        The corpus root (``{data_root}``).
    protocol : str
        How the folds were made, in words.
    facts : dict, optional
        More facts for ``prepare.json`` (skipped files, speaker overlap, ...).
    check_speakers : bool
        Refuse speakers in more than one fold. Off only for corpora whose
        official splits share speakers by design (say so in the record) or
        for folds given by the user (then :func:`fold_splits` refuses them).
    ignore_speakers : iterable of str
        Speaker ids that do not identify a person (e.g. ``"Unknown"``).
    """
    validate_manifest(data, data_folder)
    if check_speakers:
        check_fold_overlap(data, ignore_speakers)
    counts = {
        "utterances": len(data),
        "hours": round(sum(e["duration"] for e in data.values()) / 3600, 4),
        "labels": _count(data, "label"),
        "speakers": len({e["speaker"] for e in data.values()}),
        "folds": _count(data, "fold"),
    }
    record = {
        "options": _plain(options),
        "protocol": protocol,
        "counts": counts,
        "fingerprint": files_fingerprint(audio_files, data_folder),
    }
    record.update(facts or {})
    manifest, record_path = (os.path.join(save_folder, f) for f in (MANIFEST_FILE, PREPARE_FILE))
    if os.path.exists(record_path):
        os.remove(record_path)
    write_json(manifest, data)
    record["manifest_sha256"] = _sha256(manifest)
    write_json(record_path, record)
    logger.info(f"Wrote {os.path.join(save_folder, MANIFEST_FILE)}: {counts}")


def load_manifest(path, data_folder=None):
    """Reads ``data.json``; with ``data_folder``, ``{data_root}`` is replaced
    (paths confined to it: :func:`resolve_wav`)."""
    with open(path, encoding="utf-8") as handle:
        data = json.load(handle)
    if data_folder is not None:
        for utt, entry in data.items():
            entry["wav"] = _resolve_entry(path, utt, entry, data_folder)
    return data


def check_manifest_paths(path, data_folder):
    """Raises :class:`ManifestError` (naming ``path`` and the utterance) when
    an entry's ``wav`` of the JSON manifest ``path`` is not confined to
    ``data_folder`` (see :func:`resolve_wav`)."""
    with open(path, encoding="utf-8") as handle:
        data = json.load(handle)
    for utt, entry in data.items():
        _resolve_entry(path, utt, entry, data_folder)


def _resolve_entry(path, utt, entry, data_folder):
    try:
        return resolve_wav(entry["wav"], data_folder)
    except ManifestError as error:
        raise ManifestError(f"{path}: utterance {utt}: {error}") from None


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
    return sorted(folds, key=_natural)


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


def _sha256(path):
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def _remove_stale_temp_files(folder, names):
    """Temp files that a killed atomic write of ``names`` left in ``folder``."""
    if not os.path.isdir(folder):
        return
    prefixes = tuple("." + name + "." for name in names)
    for name in os.listdir(folder):
        if name.startswith(prefixes) and name.endswith(TEMP_SUFFIX):
            os.remove(os.path.join(folder, name))
