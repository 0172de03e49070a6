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
does nothing. Paths are read back confined to the data folder: a ``wav``
that leaves it (``{data_root}/../..``) is refused.

A prepare script keeps only its corpus's parsing. This module holds the
contract and its reading:

- the contract: :data:`FIELDS`, :class:`ManifestError`,
  :func:`validate_manifest` (with :func:`check_counts`, :func:`check_labels`);
- paths and reading: :func:`relative_wav`, :func:`resolve_wav`,
  :func:`load_manifest`, :func:`check_manifest_paths`.

Reading a corpus release (required files, tables, durations from headers,
:func:`~care.processing.corpus.check_release`) is in :mod:`care.processing.corpus`;
folds and speaker-overlap checks in :mod:`care.processing.folds`; writing
``data.json`` and ``prepare.json`` (and the skip rule) in
:mod:`care.processing.preparation`.

Example
-------
>>> data = {
...     "a1": {"wav": "{data_root}/a1.wav", "duration": 1.0, "label": "ang", "speaker": "s1", "fold": "s1"},
...     "a2": {"wav": "{data_root}/a2.wav", "duration": 1.0, "label": "neu", "speaker": "s2", "fold": "s2"},
...     "a3": {"wav": "{data_root}/a3.wav", "duration": 1.0, "label": "ang", "speaker": "s3", "fold": "s3"},
... }
>>> validate_manifest(data, "toy", expected_count=3, expected_labels=["ang", "neu"])
>>> validate_manifest(dict(data, a4=dict(data["a1"], duration=0.0)), "toy")
Traceback (most recent call last):
    ...
care.processing.manifest.ManifestError: toy: utterance a4 ({data_root}/a1.wav) has no audio

Authors
 * CARE for SpeechBrain contributors, 2026
"""

import json
import os

from speechbrain.utils.logger import get_logger

from care.recipe import InputError

logger = get_logger(__name__)

DATA_ROOT = "{data_root}"
MANIFEST_FILE = "data.json"
PREPARE_FILE = "prepare.json"
FIELDS = ("wav", "duration", "label", "speaker", "fold")
OFFICIAL_SPLITS = ("train", "valid", "test")
STRICT_HINT = "is the corpus complete? strict=False prepares a subset"


class ManifestError(InputError):
    """A corpus or manifest that does not match what its recipe expects; the
    message names the corpus (or file) and the problem."""


class SpeakerOverlapError(ManifestError):
    """Train and test (or valid) sets share speakers."""


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
    if rel.split(os.sep)[0] == os.pardir:  # not rel.startswith(".."): "..take1.wav" is inside
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


def natural_key(name):
    """Sort key of a fold or label name, numeric-aware (``fold2`` before ``fold10``)."""
    return [(0, int(t), "") if t.isdigit() else (1, 0, t) for t in _tokens(name)]


def _tokens(text):
    token, out = "", []
    for char in text:
        if token and char.isdigit() != token[-1].isdigit():
            out.append(token)
            token = ""
        token += char
    return out + [token] if token else out
