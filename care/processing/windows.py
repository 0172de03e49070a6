"""Classifying long recordings in windows, one window read at a time
(with :class:`care.processing.stream.AudioStream`), batched across files:
the scheduler behind ``EmotionRecognizer.recognize_files`` and
``care-classify``.

A recording longer than ``window`` seconds is cut into windows every ``hop``
seconds, the last one ending at the recording's end (:func:`window_spans`);
its result (:class:`FileResult`) averages the windows' probabilities weighted
by their lengths and keeps each window's (:class:`WindowResult`).

A normalised classifier (``recognizer.normalization`` ``speaker`` or ``corpus``)
needs its group's statistics before it classifies a window: every window's pooled
features are kept (not its audio), then z-scored per group (:func:`normalize_windows`).

Authors
 * CARE for SpeechBrain contributors, 2026
"""

import dataclasses
import math
from collections import Counter, defaultdict

import torch
from speechbrain.utils.logger import get_logger

from care.processing.audio import AudioError
from care.processing.normalization import NormalizationError, normalize_groups
from care.processing.stream import AudioStream

logger = get_logger(__name__)

# Default window length and hop (seconds) of an exported classifier.
DEFAULT_WINDOW, DEFAULT_HOP = 8.0, 4.0
# A normalised classifier's group of too few windows: refused, or given the stored corpus statistics.
FALLBACKS = (None, "corpus")


@dataclasses.dataclass
class WindowResult:
    """One window of a recording: ``start`` and ``end`` in seconds, the
    predicted ``label``, its probability ``score`` and every class's
    ``probabilities`` (a ``[classes]`` tensor)."""

    start: float
    end: float
    label: str
    score: float
    probabilities: torch.Tensor
    attributes: dict = None  # dimensional classifiers: {attribute: value}; label, score, probabilities None


@dataclasses.dataclass
class FileResult:
    """A classified recording.

    Attributes
    ----------
    path : str
        The file.
    duration : float
        Seconds.
    labels : list of str
        Class names, in the order of ``probabilities``.
    probabilities : torch.Tensor
        ``[classes]``: the windows' probabilities averaged, each weighted by
        its length (a single window for recordings up to ``window`` seconds).
    label, score, index
        The most probable class, its probability and index.
    windows : list of WindowResult
        The per-window timeline.
    attributes : dict or None
        A dimensional classifier's ``{attribute: value}`` (the windows' values
        averaged, weighted by length); then ``labels`` are the attributes and
        ``probabilities``, ``label``, ``score`` and ``index`` are None.
    normalization : str or None
        A normalised classifier's: which statistics z-scored this file's
        features (``statistics of its own 12 windows``, ``statistics of group
        'spk1' (3 files, 20 windows)``, ``stored corpus statistics
        (fallback: 1 window < 5)``); None for an un-normalised classifier.
    """

    path: str
    duration: float
    labels: list
    probabilities: torch.Tensor
    label: str
    score: float
    index: int
    windows: list
    attributes: dict = None
    normalization: str = None

    def to_dict(self):
        """Plain values for JSON: file, duration, label, score, probabilities
        (label -> value), ``normalization`` when set, and the windows likewise."""
        record = self._record()
        if self.normalization is not None:
            record = {**{k: v for k, v in record.items() if k != "windows"},
                      "normalization": self.normalization, "windows": record["windows"]}
        return record

    def _record(self):
        def probs(values):
            return {lab: round(float(p), 6) for lab, p in zip(self.labels, values)}

        if self.attributes is not None:
            return {
                "file": self.path,
                "duration": round(self.duration, 3),
                "attributes": probs(self.attributes.values()),
                "windows": [
                    {"start": round(w.start, 3), "end": round(w.end, 3),
                     "attributes": probs(w.attributes.values())}
                    for w in self.windows
                ],
            }
        return {
            "file": self.path,
            "duration": round(self.duration, 3),
            "label": self.label,
            "score": round(self.score, 6),
            "probabilities": probs(self.probabilities),
            "windows": [
                {
                    "start": round(w.start, 3),
                    "end": round(w.end, 3),
                    "label": w.label,
                    "score": round(w.score, 6),
                    "probabilities": probs(w.probabilities),
                }
                for w in self.windows
            ],
        }


def window_spans(num_samples, window, hop, min_samples=1):
    """Windows ``[start, stop)`` (samples) covering ``num_samples``.

    One window when the recording fits; otherwise windows of ``window``
    samples every ``hop`` samples, the last one ending at the recording's
    end (so it may be shorter, but longer than ``window - hop``). A last
    window shorter than ``min_samples`` is dropped.

    Example
    -------
    >>> window_spans(10, window=8, hop=4)
    [(0, 8), (4, 10)]
    >>> window_spans(5, window=8, hop=4)
    [(0, 5)]
    >>> window_spans(17, window=8, hop=8, min_samples=2)
    [(0, 8), (8, 16)]
    """
    if not 0 < hop <= window:
        raise ValueError(f"need 0 < hop <= window, got window={window}, hop={hop}")
    spans = []
    start = 0
    while True:
        stop = min(start + window, num_samples)
        if stop - start >= min_samples or not spans:
            spans.append((start, stop))
        if stop >= num_samples:
            return spans
        start += hop


def check_window(window, hop, rate, min_samples):
    """Raises ``ValueError`` unless ``window`` and ``hop`` (seconds) are
    finite, ``0 < hop <= window``, and a window is long enough for the
    extractor (shorter windows would be dropped, leaving most of a
    recording unclassified): at least ``min_samples`` samples at ``rate`` Hz."""
    if not (math.isfinite(window) and math.isfinite(hop) and 0 < hop <= window):
        raise ValueError(f"need finite 0 < hop <= window, got window={window}, hop={hop}")
    if round(window * rate) < min_samples:
        raise ValueError(
            f"window {window} s is shorter than the shortest input this classifier "
            f"takes ({min_samples / rate} s)"
        )
    if round(hop * rate) < 1:
        raise ValueError(f"hop {hop} s is shorter than one sample")


class OutputError(ValueError):
    """A file whose classifier output is not finite (NaN weights or
    features): an error for that file, never a label; names the file."""


def classify_files(recognizer, paths, window, hop, batch_size=8, groups=None, fallback=None):
    """Classifies recordings with ``recognizer`` (an
    :class:`care.inference.EmotionRecognizer`: its ``classify_batch``,
    ``labels``, ``min_samples``, ``normalization`` and
    ``hparams.sample_rate``), batching windows across files.

    Each file is read one window at a time (at most ``batch_size``
    windows are in memory); a recording longer than ``window`` seconds is
    cut into windows every ``hop`` seconds, the last one ending at the
    recording's end.

    Arguments
    ---------
    paths : iterable of str
        Audio files.
    window, hop : float
        Seconds.
    batch_size : int
        Windows per forward pass.
    groups : dict, optional
        A normalised classifier's ``{path: group}``; a path not in it is its
        own group (see ``EmotionRecognizer.recognize_files``).
    fallback : str, optional
        ``"corpus"``: a group with too few windows takes the stored corpus
        statistics instead of failing.

    Yields
    ------
    (str, FileResult or Exception)
        In the order of ``paths``; a file that cannot be used yields its
        :class:`AudioError` (or the error classification raised) instead,
        and the others are still processed. A normalised classifier's
        results come after every file is read.
    """
    rate = recognizer.hparams.sample_rate
    min_samples = recognizer.min_samples
    check_window(window, hop, rate, min_samples)
    check_fallback(fallback)
    window_samples, hop_samples = round(window * rate), round(hop * rate)
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    normalised = recognizer.normalization != "none"
    run = _extract_windows if normalised else _run_windows
    jobs, batch = [], []
    for path in paths:
        job = _Job(path)
        jobs.append(job)
        try:
            with AudioStream(path, rate) as stream:
                if stream.num_samples < min_samples:
                    raise AudioError(
                        f"{path}: too short ({stream.duration * 1000:.1f} ms; this "
                        f"classifier needs at least {1000 * min_samples / rate:.0f} ms)"
                    )
                job.duration = stream.duration
                spans = window_spans(
                    stream.num_samples, window_samples, hop_samples, min_samples
                )
                job.spans = spans
                job.probs = [None] * len(spans)
                job.features = [None] * len(spans)
                for k, (start, stop) in enumerate(spans):
                    batch.append((job, k, stream.read(start, stop)))
                    if len(batch) == batch_size:
                        run(recognizer, batch)
                        batch = []
        except Exception as error:  # reported per file; the others go on
            logger.debug("%s failed", path, exc_info=True)
            job.error = error
        if not normalised:
            yield from _pop_finished(recognizer, jobs)
    run(recognizer, batch)
    if normalised:
        _normalise_and_classify(recognizer, jobs, groups or {}, fallback, batch_size)
    yield from _pop_finished(recognizer, jobs)


def _padded(batch):
    """Queued windows ``(job, index, wav)`` as a zero-padded batch and relative lengths."""
    wavs = [wav for _, _, wav in batch]
    longest = max(len(w) for w in wavs)
    padded = torch.stack([torch.nn.functional.pad(w, (0, longest - len(w))) for w in wavs])
    return padded, torch.tensor([len(w) / longest for w in wavs])


def _run_windows(recognizer, batch):
    """Classifies queued windows ``(job, index, wav)`` in one forward pass."""
    batch = [item for item in batch if item[0].error is None]
    if not batch:
        return
    padded, lens = _padded(batch)
    try:
        if recognizer.dimensional:  # attribute values instead of probabilities
            out_prob = recognizer.predict_batch(padded, lens)
        else:
            out_prob, _, _, _ = recognizer.classify_batch(padded, lens)
    except Exception as error:
        for job, _, _ in batch:
            job.error = error
        return
    for (job, k, _), probs in zip(batch, out_prob.cpu()):
        _keep(recognizer, job, k, probs, "probs", "the classifier's output")


def _keep(recognizer, job, k, values, where, what):
    """Stores window ``k``'s ``values`` in ``job.<where>``; non-finite values
    (broken weights or features) make the file an :class:`OutputError`."""
    if not torch.isfinite(values).all():
        rate = recognizer.hparams.sample_rate
        start, stop = job.spans[k]
        job.error = OutputError(
            f"{job.path}: {what} is not finite (NaN or infinite) for "
            f"{start / rate:.2f}-{stop / rate:.2f} s: the classifier's weights or this file's "
            "features are broken; no result for this file"
        )
    getattr(job, where)[k] = values


def _extract_windows(recognizer, batch):
    """A normalised classifier's first pass: the pooled features of queued
    windows ``(job, index, wav)``, kept per file (small: ``[layers, dim]``)."""
    batch = [item for item in batch if item[0].error is None]
    if not batch:
        return
    padded, lens = _padded(batch)
    try:
        features = recognizer.encode_batch(padded, lens, kind="layers").cpu()
    except Exception as error:
        for job, _, _ in batch:
            job.error = error
        return
    for (job, k, _), values in zip(batch, features):
        _keep(recognizer, job, k, values, "features", "the extractor's features")


def _normalise_and_classify(recognizer, jobs, groups, fallback, batch_size):
    """A normalised classifier's second pass, once every file is read: each
    group's windows z-scored by the group's statistics (a group of too few
    windows refused, or with ``fallback`` given the stored corpus
    statistics), then the probe, window by window."""
    members = defaultdict(list)
    for job in jobs:
        if job.error is None:
            members[groups.get(job.path, job.path)].append(job)
    minimum = recognizer.mods.normalizer.min_utterances
    for group, files in members.items():
        count = sum(len(job.features) for job in files)
        own = len(files) == 1 and group == files[0].path
        windows = f"{count} window{'s' if count != 1 else ''}"
        if count >= minimum:
            note = (f"statistics of its own {windows}" if own
                    else f"statistics of group {str(group)!r} ({len(files)} file{'s' if len(files) > 1 else ''}, {windows})")
        elif fallback is None:
            for job in files:
                job.error = NormalizationError(_too_few(recognizer, job, group, own, count, len(files)))
            continue
        else:
            note = f"stored corpus statistics (fallback: {windows} < {minimum})"
        for job in files:
            job.normalization = note
    chosen = [job for files in members.values() for job in files if job.error is None]
    if not chosen:
        return
    features = torch.stack([values for job in chosen for values in job.features])
    names = [groups.get(job.path, job.path) for job in chosen for _ in job.features]
    try:
        normalised, _ = normalize_windows(recognizer.mods.normalizer, features, names, fallback)
        outputs = torch.cat([recognizer.classify_features(normalised[i : i + batch_size]).cpu()
                             for i in range(0, len(normalised), batch_size)])
    except Exception as error:
        for job in chosen:
            job.error = error
        return
    row = 0
    for job in chosen:
        for k in range(len(job.features)):
            _keep(recognizer, job, k, outputs[row], "probs", "the classifier's output")
            row += 1
        job.features = None


def check_fallback(fallback):
    """Raises ``ValueError`` unless ``fallback`` is one of :data:`FALLBACKS`."""
    if fallback not in FALLBACKS:
        raise ValueError(f"fallback must be one of {FALLBACKS}, got {fallback!r}")


def normalize_windows(normalizer, features, groups, fallback=None):
    """Z-scores raw pooled features ``[n, layers, dim]`` (windows or utterances)
    as a classifier's probing run did: each group's rows (``groups``, ``n``
    names; None: one group) by their own statistics (:func:`normalize_groups`).
    A group of fewer than ``normalizer.min_utterances`` rows raises
    :class:`NormalizationError`, or with ``fallback="corpus"`` takes the
    ``normalizer``'s stored corpus statistics, with a warning naming it.
    Returns the normalised features and the groups that fell back."""
    check_fallback(fallback)
    groups = ["batch"] * len(features) if groups is None else list(groups)
    counts, minimum = Counter(groups), normalizer.min_utterances
    small = [group for group, count in counts.items() if count < minimum]
    if small and fallback is None:
        raise NormalizationError(
            f"this classifier is {normalizer.mode}-normalised: each group's features are z-scored by "
            f"the group's own statistics, which need at least {minimum} items per group; too few in "
            f"{', '.join(f'{group!s} ({counts[group]})' for group in small[:5])} (one item would become "
            "all zeros). Give more items per group, or fallback='corpus' for the training corpus's "
            "stored statistics")
    if small:
        logger.warning(f"{', '.join(map(str, small[:5]))}{' ...' if len(small) > 5 else ''}: fewer than "
                       f"{minimum} windows; normalised with the training corpus's stored statistics, "
                       "not their own (fallback='corpus')")
    # Internal names: a group called "unknown" is a group like any other here.
    names = {group: f"group{k}" for k, group in enumerate(counts)}
    normalised, _ = normalize_groups(features.float(), [names[group] for group in groups], min_utterances=minimum,
                                     fallback=normalizer.statistics() if small else None)
    return normalised, small


def _too_few(recognizer, job, group, own, count, files):
    """Why a normalised classifier refuses a file whose group has too few
    windows, and the ways out."""
    mode, minimum = recognizer.normalization, recognizer.mods.normalizer.min_utterances
    where = "the file" if own else f"its group {str(group)!r} ({files} file{'s' if files != 1 else ''})"
    more = ("more recordings of the same speaker (care-classify --speaker_csv FILE or "
            "--group_by folder; groups= in Python)" if mode == "speaker" else
            "the other recordings of its corpus (care-classify --group_by all; groups= in Python)")
    return (
        f"{job.path}: {count} window{'s' if count != 1 else ''} ({job.duration:.2f} s) in {where}, "
        f"fewer than the {minimum} this {mode}-normalised classifier needs: its features are "
        f"z-scored by the statistics of its group's windows, and from so few windows these are "
        f"noise (a single window becomes all zeros). Group it with {more}, or use the training "
        "corpus's stored statistics (--normalization_fallback corpus; fallback='corpus')"
    )


def _pop_finished(recognizer, jobs):
    """Yields ``(path, result or error)`` for the complete jobs at the head
    of ``jobs`` (so results come in input order), removing them."""
    while jobs and jobs[0].done():
        job = jobs.pop(0)
        yield job.path, job.error if job.error is not None else _file_result(recognizer, job)


def _file_result(recognizer, job):
    rate = recognizer.hparams.sample_rate
    labels = recognizer.labels
    if recognizer.dimensional:  # job.probs hold attribute values
        return _attribute_result(recognizer, job)
    windows = []
    for (start, stop), probs in zip(job.spans, job.probs):
        score, index = probs.max(dim=0)
        windows.append(
            WindowResult(start / rate, stop / rate, labels[index], float(score), probs)
        )
    weights = torch.tensor([float(stop - start) for start, stop in job.spans])
    mean = (torch.stack(job.probs) * weights[:, None]).sum(dim=0) / weights.sum()
    score, index = mean.max(dim=0)
    return FileResult(
        path=job.path,
        duration=job.duration,
        labels=labels,
        probabilities=mean,
        label=labels[index],
        score=float(score),
        index=int(index),
        windows=windows,
        normalization=job.normalization,
    )


def _attribute_result(recognizer, job):
    """A dimensional classifier's :class:`FileResult`: per-window values and
    their length-weighted mean."""
    rate, labels = recognizer.hparams.sample_rate, recognizer.labels
    windows = [
        WindowResult(start / rate, stop / rate, None, None, None,
                     attributes=dict(zip(labels, values.tolist())))
        for (start, stop), values in zip(job.spans, job.probs)
    ]
    weights = torch.tensor([float(stop - start) for start, stop in job.spans])
    mean = (torch.stack(job.probs) * weights[:, None]).sum(dim=0) / weights.sum()
    return FileResult(
        path=job.path, duration=job.duration, labels=labels, probabilities=None, label=None,
        score=None, index=None, windows=windows, attributes=dict(zip(labels, mean.tolist())),
        normalization=job.normalization,
    )


class _Job:
    """Book-keeping of one file in :func:`classify_files`."""

    def __init__(self, path):
        self.path = path
        self.error = None
        self.duration = None
        self.spans = []
        self.probs = []
        self.features = []  # a normalised classifier's pooled features, until classified
        self.normalization = None

    def done(self):
        return self.error is not None or (
            bool(self.probs) and all(p is not None for p in self.probs)
        )
