"""Classifying long recordings in windows, one window read at a time
(with :class:`care.processing.stream.AudioStream`), batched across files:
the scheduler behind ``EmotionRecognizer.recognize_files`` and
``care-classify``.

A recording longer than ``window`` seconds is cut into windows every ``hop``
seconds, the last one ending at the recording's end (:func:`window_spans`);
its result (:class:`FileResult`) averages the windows' probabilities weighted
by their lengths and keeps each window's (:class:`WindowResult`).

Authors
 * CARE for SpeechBrain contributors, 2026
"""

import dataclasses
import math

import torch
from speechbrain.utils.logger import get_logger

from care.processing.audio import AudioError
from care.processing.stream import AudioStream

logger = get_logger(__name__)

# Default window length and hop (seconds) of an exported classifier.
DEFAULT_WINDOW, DEFAULT_HOP = 8.0, 4.0


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

    def to_dict(self):
        """Plain values for JSON: file, duration, label, score, probabilities
        (label -> value) and the windows likewise."""

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


def classify_files(recognizer, paths, window, hop, batch_size=8):
    """Classifies recordings with ``recognizer`` (an
    :class:`care.inference.EmotionRecognizer`: its ``classify_batch``,
    ``labels``, ``min_samples`` and ``hparams.sample_rate``), batching windows
    across files.

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

    Yields
    ------
    (str, FileResult or Exception)
        In the order of ``paths``; a file that cannot be used yields its
        :class:`AudioError` (or the error classification raised) instead,
        and the others are still processed.
    """
    rate = recognizer.hparams.sample_rate
    min_samples = recognizer.min_samples
    check_window(window, hop, rate, min_samples)
    window_samples, hop_samples = round(window * rate), round(hop * rate)
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
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
                for k, (start, stop) in enumerate(spans):
                    batch.append((job, k, stream.read(start, stop)))
                    if len(batch) == batch_size:
                        _run_windows(recognizer, batch)
                        batch = []
        except Exception as error:  # reported per file; the others go on
            logger.debug("%s failed", path, exc_info=True)
            job.error = error
        yield from _pop_finished(recognizer, jobs)
    _run_windows(recognizer, batch)
    yield from _pop_finished(recognizer, jobs)


def _run_windows(recognizer, batch):
    """Classifies queued windows ``(job, index, wav)`` in one forward pass."""
    batch = [item for item in batch if item[0].error is None]
    if not batch:
        return
    wavs = [wav for _, _, wav in batch]
    longest = max(len(w) for w in wavs)
    padded = torch.stack([torch.nn.functional.pad(w, (0, longest - len(w))) for w in wavs])
    lens = torch.tensor([len(w) / longest for w in wavs])
    try:
        if recognizer.dimensional:  # attribute values instead of probabilities
            out_prob = recognizer.predict_batch(padded, lens)
        else:
            out_prob, _, _, _ = recognizer.classify_batch(padded, lens)
    except Exception as error:
        for job, _, _ in batch:
            job.error = error
        return
    rate = recognizer.hparams.sample_rate
    for (job, k, _), probs in zip(batch, out_prob.cpu()):
        if not torch.isfinite(probs).all():  # broken weights or features: no label
            start, stop = job.spans[k]
            job.error = OutputError(
                f"{job.path}: the classifier's output is not finite (NaN or infinite) for "
                f"{start / rate:.2f}-{stop / rate:.2f} s: its weights or this file's features "
                "are broken; no result for this file"
            )
        job.probs[k] = probs


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
    )


class _Job:
    """Book-keeping of one file in :func:`classify_files`."""

    def __init__(self, path):
        self.path = path
        self.error = None
        self.duration = None
        self.spans = []
        self.probs = []

    def done(self):
        return self.error is not None or (
            bool(self.probs) and all(p is not None for p in self.probs)
        )
