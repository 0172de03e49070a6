"""Emotion recognition with an exported classifier: a SpeechBrain ``Pretrained``
interface and the ``care-classify`` command line.

A probing run exports a folder with :func:`care.lobes.save_classifier`
(``hyperparams.yaml`` with a ``pretrainer``; ``extractor.ckpt``,
``probe.ckpt``, ``label_encoder.ckpt``). Load it like any SpeechBrain model::

    from care.inference import EmotionRecognizer
    recognizer = EmotionRecognizer.from_hparams(source="results/probe/classifier")
    out_prob, score, index, text_lab = recognizer.classify_file("speech.wav")
    result = recognizer.recognize_file("meeting.flac")   # + per-window timeline

A dimensional probe (``task: dimensional``, see ``care.probing.dimensional``)
predicts attribute values (arousal, valence, dominance) instead of classes:
``predict_batch`` returns them, ``recognize_file`` gives them per file and per
window (``FileResult.attributes``), and ``care-classify`` prints them.

Files of any sample rate and channel count are read with
:class:`care.processing.stream.AudioStream`: recordings longer than ``window``
seconds are classified in overlapping windows, read and resampled one window
at a time, so memory does not grow with the recording's length.

Only load classifiers you trust. A classifier folder's ``hyperparams.yaml`` is
HyperPyYAML, which can run any Python code when loaded (``!apply:os.system``).
``EmotionRecognizer.from_hparams`` and ``care-classify`` therefore read it
first without running it and refuse a folder (or hub id) holding anything
other than what ``care.lobes.save_classifier`` writes, unless given
``trust=True`` / ``--trust`` (see SECURITY.md).

Command line (exit status: 0 every file classified; 1 some input failed, the
others' results still written; 2 bad arguments; 3 the classifier could not be
loaded or was refused)::

    python -m care.inference --source results/probe/classifier recordings/ extra.wav
    care-classify --source FOLDER recordings/ --jsonl --output labels.jsonl

Authors
 * CARE for SpeechBrain contributors, 2026
"""

import argparse
import dataclasses
import json
import math
import os
import stat
import sys
import tempfile

import torch
from speechbrain.inference.interfaces import Pretrained
from speechbrain.utils.fetching import fetch
from speechbrain.utils.logger import get_logger
from tqdm import tqdm

from care.io import write_text
from care.lobes.encoder import CAREEncoder
from care.lobes.export import CLASSIFIER_CLASSES, check_hparams
from care.lobes.probe import masked_mean
from care.processing.audio import AudioError
from care.processing.stream import AudioStream

logger = get_logger(__name__)

# Extensions collected when a directory is given (files named explicitly are
# always tried). All are decoded by soundfile / libsndfile >= 1.1.
AUDIO_EXTENSIONS = (
    ".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3",
    ".aif", ".aiff", ".au", ".caf", ".w64", ".rf64",
)  # fmt: skip
EMBEDDING_KINDS = ("semantic", "acoustic", "both", "layers")
# Smallest input the encoder accepts when the extractor does not say
# (one 400-sample receptive field of the wav2vec2-style front end).
_MIN_SAMPLES = 400


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


class EmotionRecognizer(Pretrained):
    """Utterance-level emotion recognition: a frozen feature extractor (a CARE
    encoder pooled per layer) and a trained probe.

    The hyperparameter file (written by :func:`care.lobes.save_classifier`)
    defines ``extractor`` (``[batch, samples] -> [batch, layers, dim]``),
    ``probe`` (``-> [batch, classes]`` logits), ``label_encoder``,
    ``sample_rate`` (16000), and optionally ``window`` and ``hop`` (seconds).

    ``classify_batch`` and ``classify_file`` return the tuple of SpeechBrain's
    ``EncoderClassifier`` (``out_prob, score, index, text_lab``), with one
    difference: ``out_prob`` holds **probabilities** (a softmax over the
    probe's logits; rows sum to 1) and ``score`` the best class's probability,
    where ``EncoderClassifier`` passes on whatever its classifier outputs
    (log-posteriors for its speaker and language models). Probabilities can be
    averaged over windows and read without ``exp``; ``out_prob.log()`` gives
    the log-posteriors.

    Arguments
    ---------
    See ``speechbrain.inference.interfaces.Pretrained``; build it with
    ``EmotionRecognizer.from_hparams(source=FOLDER_OR_HUB_ID, savedir=...,
    run_opts={"device": "cuda"})``.

    .. warning::
        Loading a classifier runs its ``hyperparams.yaml``, which can hold any
        Python call. :meth:`from_hparams` refuses a file holding more than
        ``care.lobes.save_classifier`` writes (raising
        ``care.lobes.export.UntrustedFolderError``) unless ``trust=True``;
        pass it only for folders and hub ids from a source you trust.

    Example
    -------
    >>> import tempfile
    >>> from care.lobes import CAREEncoder, CAREFeatures, EmotionProbe, save_classifier
    >>> extractor = CAREFeatures(CAREEncoder(d_model=32, num_heads=2, ffn_dim=64,
    ...     num_shared_layers=1, num_semantic_layers=1, num_acoustic_layers=1, text_dim=16,
    ...     target_dim=8, semantic_num_heads=2, semantic_ffn_dim=64, conv_channels=16,
    ...     pos_conv_groups=4))
    >>> probe = EmotionProbe(extractor.num_layers, extractor.dim, num_classes=2)
    >>> folder = save_classifier(tempfile.mkdtemp(), extractor, probe, ["calm", "angry"])
    >>> recognizer = EmotionRecognizer.from_hparams(source=folder, run_opts={"device": "cpu"})
    >>> out_prob, score, index, text_lab = recognizer.classify_batch(torch.randn(3, 16000))
    >>> out_prob.shape, score.shape, index.shape, len(text_lab)
    (torch.Size([3, 2]), torch.Size([3]), torch.Size([3]), 3)
    >>> recognizer.encode_batch(torch.randn(3, 16000), kind="semantic").shape
    torch.Size([3, 16])
    """

    HPARAMS_NEEDED = ["label_encoder", "sample_rate"]
    MODULES_NEEDED = ["extractor", "probe"]

    @classmethod
    def from_hparams(cls, source, hparams_file="hyperparams.yaml", trust=False, **kwargs):
        """``Pretrained.from_hparams``, after checking that ``hparams_file``
        holds only what ``care.lobes.save_classifier`` writes
        (``care.lobes.export.check_hparams``; only that file is fetched for
        the check). ``trust=True`` skips the check: the file can then run any
        code, as with SpeechBrain's own interfaces."""
        if not trust:
            local = fetch(
                filename=hparams_file,
                source=source,
                savedir=kwargs.get("savedir"),
                **{k: kwargs[k] for k in ("local_strategy", "fetch_config") if k in kwargs},
            )
            check_hparams(str(local), CLASSIFIER_CLASSES)
        return super().from_hparams(source, hparams_file=hparams_file, **kwargs)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        label_encoder = self.hparams.label_encoder
        num_classes = getattr(self.mods.probe, "config", {}).get("num_classes")
        if num_classes is not None and num_classes != len(label_encoder):
            raise ValueError(
                f"the probe has {num_classes} outputs but the label encoder "
                f"{len(label_encoder)} labels ({list(label_encoder.lab2ind)})"
            )
        label_encoder.expect_len(len(label_encoder))
        self.dimensional = getattr(self.hparams, "task", "categorical") == "dimensional"

    @property
    def labels(self):
        """Class names in the order of the probe's outputs."""
        encoder = self.hparams.label_encoder
        return [encoder.ind2lab[i] for i in range(len(encoder))]

    @property
    def min_samples(self):
        """Shortest input (samples) the extractor gives features for."""
        if getattr(self.mods.extractor, "min_samples", None):
            return self.mods.extractor.min_samples
        encoder = getattr(self.mods.extractor, "encoder", None)
        frontend = getattr(encoder, "feature_extractor", None)
        return getattr(frontend, "receptive_field", _MIN_SAMPLES)

    def _prepare(self, wavs, wav_lens):
        if wavs.dim() == 1:
            wavs = wavs.unsqueeze(0)
        if wavs.dim() != 2:
            raise ValueError(
                f"expected 16 kHz mono waveforms [batch, samples], got shape {tuple(wavs.shape)}"
            )
        if wav_lens is None:
            wav_lens = torch.ones(wavs.shape[0])
        return wavs.to(self.device).float(), wav_lens.to(self.device).float()

    def classify_batch(self, wavs, wav_lens=None):
        """Classifies a batch of waveforms.

        Arguments
        ---------
        wavs : torch.Tensor
            ``[batch, samples]`` (or ``[samples]``), mono at ``sample_rate``
            (16 kHz), zero-padded.
        wav_lens : torch.Tensor, optional
            ``[batch]`` relative lengths (all 1 when None).

        Returns
        -------
        out_prob : torch.Tensor
            ``[batch, classes]`` class probabilities (rows sum to 1).
        score : torch.Tensor
            ``[batch]`` the best class's probability.
        index : torch.Tensor
            ``[batch]`` the best class's index.
        text_lab : list of str
            The best class's label.
        """
        if self.dimensional:
            raise TypeError(
                "this classifier is dimensional (it predicts attributes "
                f"{', '.join(self.labels)}, not classes): use predict_batch or recognize_file"
            )
        wavs, wav_lens = self._prepare(wavs, wav_lens)
        with torch.no_grad(), self.inference_ctx:
            logits = self.mods.probe(self.mods.extractor(wavs, wav_lens))
        out_prob = logits.float().softmax(dim=-1)
        score, index = out_prob.max(dim=-1)
        text_lab = self.hparams.label_encoder.decode_torch(index.cpu())
        return out_prob, score, index, text_lab

    def predict_batch(self, wavs, wav_lens=None):
        """A dimensional classifier's attribute values (on the scale of the
        corpus it was trained on) of a batch of waveforms.

        Arguments
        ---------
        wavs : torch.Tensor
            ``[batch, samples]`` (or ``[samples]``), mono at 16 kHz.
        wav_lens : torch.Tensor, optional
            ``[batch]`` relative lengths.

        Returns
        -------
        torch.Tensor
            ``[batch, attributes]``, in the order of :attr:`labels`.
        """
        if not self.dimensional:
            raise TypeError("this classifier is categorical: use classify_batch")
        wavs, wav_lens = self._prepare(wavs, wav_lens)
        with torch.no_grad(), self.inference_ctx:
            outputs = self.mods.probe(self.mods.extractor(wavs, wav_lens)).float()
        mean = torch.tensor(self.hparams.attribute_mean, device=outputs.device)
        std = torch.tensor(self.hparams.attribute_std, device=outputs.device)
        return outputs * std + mean

    def encode_batch(self, wavs, wav_lens=None, kind="both"):
        """CARE embeddings of a batch of waveforms.

        Arguments
        ---------
        wavs : torch.Tensor
            ``[batch, samples]`` (or ``[samples]``), mono at 16 kHz.
        wav_lens : torch.Tensor, optional
            ``[batch]`` relative lengths.
        kind : str
            ``"semantic"``: the semantic branch's pooled, projected output
            ``[batch, text_dim]`` (what CARE regresses on the transcript's
            text embedding); ``"acoustic"``: the acoustic branch's last
            layer, mean-pooled over valid frames, ``[batch, d_model]``;
            ``"both"``: the two concatenated, ``[batch, text_dim + d_model]``;
            ``"layers"``: the probe's input, every layer mean-pooled,
            ``[batch, layers, dim]`` (any extractor).

        Returns
        -------
        torch.Tensor
        """
        if kind not in EMBEDDING_KINDS:
            raise ValueError(f"kind must be one of {EMBEDDING_KINDS}, got {kind!r}")
        wavs, wav_lens = self._prepare(wavs, wav_lens)
        if kind == "layers":
            with torch.no_grad(), self.inference_ctx:
                return self.mods.extractor(wavs, wav_lens).float()
        encoder = getattr(self.mods.extractor, "encoder", None)
        if not isinstance(encoder, CAREEncoder):
            raise TypeError(
                f"encode_batch(kind={kind!r}) needs a CARE encoder, but this classifier's "
                f"extractor is {type(self.mods.extractor).__name__} (no semantic or acoustic "
                "branch); use kind='layers' for its features"
            )
        with torch.no_grad(), self.inference_ctx:
            out = encoder(wavs, wav_lens, output_hidden_states=True)
            last_acoustic = out.hidden_states[encoder.layer_groups["acoustic"][-1]]
            acoustic = masked_mean(last_acoustic, out.lengths)
        semantic, acoustic = out.semantic.float(), acoustic.float()
        if kind == "semantic":
            return semantic
        if kind == "acoustic":
            return acoustic
        return torch.cat([semantic, acoustic], dim=-1)

    def classify_file(self, path, window=None, hop=None, batch_size=8):
        """Classifies one recording (any sample rate and channel count, any
        length). Same return values as :meth:`classify_batch`, for a batch of
        one: for recordings longer than ``window`` seconds, the length-weighted
        mean of the windows' probabilities (see :meth:`recognize_file`).

        Raises
        ------
        AudioError
            The file is missing, unreadable, empty or too short.
        """
        if self.dimensional:
            raise TypeError("this classifier is dimensional: use recognize_file (.attributes)")
        result = self.recognize_file(path, window=window, hop=hop, batch_size=batch_size)
        out_prob = result.probabilities.unsqueeze(0)
        return out_prob, torch.tensor([result.score]), torch.tensor([result.index]), [result.label]

    def recognize_file(self, path, window=None, hop=None, batch_size=8):
        """Classifies one recording and returns its :class:`FileResult`
        (aggregate and per-window timeline); raises :class:`AudioError` for a
        file that cannot be used."""
        ((_, result),) = self.recognize_files([path], window, hop, batch_size)
        if isinstance(result, Exception):
            raise result
        return result

    def recognize_files(self, paths, window=None, hop=None, batch_size=8):
        """Classifies recordings, batching windows across files.

        Each file is read one window at a time (at most ``batch_size``
        windows are in memory); a recording longer than ``window`` seconds is
        cut into windows every ``hop`` seconds, the last one ending at the
        recording's end.

        Arguments
        ---------
        paths : iterable of str
            Audio files.
        window, hop : float, optional
            Seconds; defaults: the hyperparameters' ``window`` and ``hop``
            (8 and 4 s when absent).
        batch_size : int
            Windows per forward pass.

        Yields
        ------
        (str, FileResult or Exception)
            In the order of ``paths``; a file that cannot be used yields its
            :class:`AudioError` (or the error classification raised) instead,
            and the others are still processed.
        """
        rate = self.hparams.sample_rate
        window = getattr(self.hparams, "window", 8.0) if window is None else window
        hop = getattr(self.hparams, "hop", 4.0) if hop is None else hop
        self.check_window(window, hop)
        window_samples, hop_samples = round(window * rate), round(hop * rate)
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        jobs, batch = [], []
        for path in paths:
            job = _Job(path)
            jobs.append(job)
            try:
                with AudioStream(path, rate) as stream:
                    if stream.num_samples < self.min_samples:
                        raise AudioError(
                            f"{path}: too short ({stream.duration * 1000:.1f} ms; this "
                            f"classifier needs at least {1000 * self.min_samples / rate:.0f} ms)"
                        )
                    job.duration = stream.duration
                    spans = window_spans(
                        stream.num_samples, window_samples, hop_samples, self.min_samples
                    )
                    job.spans = spans
                    job.probs = [None] * len(spans)
                    for k, (start, stop) in enumerate(spans):
                        batch.append((job, k, stream.read(start, stop)))
                        if len(batch) == batch_size:
                            self._run_windows(batch)
                            batch = []
            except Exception as error:  # reported per file; the others go on
                logger.debug("%s failed", path, exc_info=True)
                job.error = error
            yield from self._pop_finished(jobs)
        self._run_windows(batch)
        yield from self._pop_finished(jobs)

    def check_window(self, window, hop):
        """Raises ``ValueError`` unless ``window`` and ``hop`` (seconds) are
        finite, ``0 < hop <= window``, and a window is long enough for the
        extractor (shorter windows would be dropped, leaving most of a
        recording unclassified)."""
        rate = self.hparams.sample_rate
        if not (math.isfinite(window) and math.isfinite(hop) and 0 < hop <= window):
            raise ValueError(f"need finite 0 < hop <= window, got window={window}, hop={hop}")
        if round(window * rate) < self.min_samples:
            raise ValueError(
                f"window {window} s is shorter than the shortest input this classifier "
                f"takes ({self.min_samples / rate} s)"
            )
        if round(hop * rate) < 1:
            raise ValueError(f"hop {hop} s is shorter than one sample")

    def _run_windows(self, batch):
        """Classifies queued windows ``(job, index, wav)`` in one forward pass."""
        batch = [item for item in batch if item[0].error is None]
        if not batch:
            return
        wavs = [wav for _, _, wav in batch]
        longest = max(len(w) for w in wavs)
        padded = torch.stack([torch.nn.functional.pad(w, (0, longest - len(w))) for w in wavs])
        lens = torch.tensor([len(w) / longest for w in wavs])
        try:
            if self.dimensional:
                out_prob = self.predict_batch(padded, lens)
            else:
                out_prob, _, _, _ = self.classify_batch(padded, lens)
        except Exception as error:
            for job, _, _ in batch:
                job.error = error
            return
        for (job, k, _), probs in zip(batch, out_prob.cpu()):
            job.probs[k] = probs

    def _pop_finished(self, jobs):
        """Yields ``(path, result or error)`` for the complete jobs at the head
        of ``jobs`` (so results come in input order), removing them."""
        while jobs and jobs[0].done():
            job = jobs.pop(0)
            yield job.path, job.error if job.error is not None else self._file_result(job)

    def _file_result(self, job):
        rate = self.hparams.sample_rate
        labels = self.labels
        if self.dimensional:  # job.probs hold attribute values
            return self._attribute_result(job)
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


    def _attribute_result(self, job):
        """A dimensional classifier's :class:`FileResult`: per-window values
        and their length-weighted mean."""
        rate, labels = self.hparams.sample_rate, self.labels
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
    """Book-keeping of one file in :meth:`EmotionRecognizer.recognize_files`."""

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


# --------------------------------------------------------------------------
# Command line


EXIT_OK, EXIT_FAILED_INPUTS, EXIT_USAGE, EXIT_MODEL = 0, 1, 2, 3


def find_audio(inputs):
    """Expands ``inputs`` (files and directories) into a list of
    ``(path, error)``: directories are walked (sorted, hidden entries
    skipped) for files with an :data:`AUDIO_EXTENSIONS` extension; files named
    explicitly are kept whatever their extension. A missing path, a broken or
    looping link, something that is not a regular file (FIFO, device,
    socket), a folder that cannot be read and a directory without audio get
    an error message instead."""
    found = []
    for item in inputs:
        if os.path.isdir(item):
            files, unreadable = [], []
            for root, dirs, names in os.walk(item, onerror=unreadable.append):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                files += [
                    os.path.join(root, name)
                    for name in sorted(names)
                    if not name.startswith(".") and name.lower().endswith(AUDIO_EXTENSIONS)
                ]
            found += [
                (error.filename, f"{error.filename}: cannot read the folder ({error.strerror})")
                for error in unreadable
            ]
            if not files and not unreadable:
                found.append((item, f"{item}: no audio files ({', '.join(AUDIO_EXTENSIONS)})"))
            found += [(path, _file_problem(path)) for path in files]
        else:
            found.append((item, _file_problem(item)))
    return found


def _file_problem(path):
    """Why ``path`` cannot be read as an audio file, or None."""
    try:
        mode = os.stat(path).st_mode
    except OSError as error:
        if os.path.islink(path):
            return f"{path}: broken symbolic link or link loop ({error.strerror})"
        return f"{path}: {error.strerror.lower() if error.strerror else error}"
    if stat.S_ISREG(mode):
        return None
    kinds = [
        (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"),
    ]  # fmt: skip
    kind = next((name for test, name in kinds if test(mode)), "not a regular file")
    return f"{path}: {kind}, not an audio file"


def _printable(text):
    """``text`` with control characters (a newline in a file name) escaped, so
    that one result stays one table row or log line."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def format_table(results, labels, timeline=False):
    """An aligned text table: file, duration, label, score and one
    probability column per class (and, with ``timeline``, a row per window)."""
    if results and results[0].attributes is not None:
        return _attribute_table(results, labels, timeline)
    header = ["file", "duration_s", "label", "score"] + list(labels)
    rows = []
    for result in results:
        rows.append(
            [_printable(result.path), f"{result.duration:.2f}", result.label, f"{result.score:.3f}"]
            + [f"{float(p):.3f}" for p in result.probabilities]
        )
        if timeline and len(result.windows) > 1:
            for w in result.windows:
                span = f"  {w.start:.2f}-{w.end:.2f} s"
                rows.append(
                    [span, f"{w.end - w.start:.2f}", w.label, f"{w.score:.3f}"]
                    + [f"{float(p):.3f}" for p in w.probabilities]
                )
    widths = [max(len(row[i]) for row in [header] + rows) for i in range(len(header))]

    def line(row):
        cells = [row[0].ljust(widths[0]), row[1].rjust(widths[1]), row[2].ljust(widths[2])]
        cells += [cell.rjust(width) for cell, width in zip(row[3:], widths[3:])]
        return "  ".join(cells).rstrip()

    return "\n".join(line(row) for row in [header] + rows) + "\n"


def _attribute_table(results, attributes, timeline=False):
    """:func:`format_table` for a dimensional classifier: file, duration and
    one column per attribute (and, with ``timeline``, a row per window)."""
    rows = [["file", "duration_s"] + list(attributes)]
    for result in results:
        rows.append([_printable(result.path), f"{result.duration:.2f}"]
                    + [f"{v:.3f}" for v in result.attributes.values()])
        if timeline and len(result.windows) > 1:
            rows += [[f"  {w.start:.2f}-{w.end:.2f} s", f"{w.end - w.start:.2f}"]
                     + [f"{v:.3f}" for v in w.attributes.values()] for w in result.windows]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join([row[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(row[1:], widths[1:])]).rstrip()
        for row in rows
    ) + "\n"


def _seconds(text):
    """A finite, positive number of seconds (for ``--window`` and ``--hop``)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a finite number of seconds > 0, got {text}")
    return value


def parse_args(argv=None):
    """The command line's options (see ``--help``)."""
    parser = argparse.ArgumentParser(
        prog="care-classify",
        description="Emotion label (or, for a dimensional probe, attribute values such as "
        "arousal, valence and dominance) per audio file with an exported CARE classifier. "
        "Loading a classifier runs its hyperparams.yaml, which can hold any code: a folder "
        "or hub id holding more than care's exporter writes is refused unless --trust.",
        epilog="Exit status: 0 every file classified; 1 some inputs could not be read or "
        "classified (each is reported on stderr, the others' results are written); "
        "2 bad arguments; 3 the classifier could not be loaded or was refused as untrusted.",
    )
    add = parser.add_argument
    add("inputs", nargs="+", metavar="FILE_OR_DIR",
        help="audio files, or folders searched recursively for " + " ".join(AUDIO_EXTENSIONS))
    add("--source", required=True, help="exported classifier folder (or a hub id)")
    add("--trust", action="store_true",
        help="load --source even if its hyperparams.yaml holds more than care exports "
        "(it can then run any code: only for a source you trust)")
    add("--savedir", default=None, help="where to collect the model files (default: in place)")
    add("--window", type=_seconds, default=None,
        help="window length (s) for long files (default: the model's, 8)")
    add("--hop", type=_seconds, default=None,
        help="hop between windows (s) (default: the model's, 4)")
    add("--batch_size", type=int, default=8, help="windows per forward pass")
    add("--device", default=None, help="cpu, cuda, cuda:1, ... (default: cuda if available)")
    add("--jsonl", action="store_true",
        help="one JSON object per input (with its windows) instead of a table")
    add("--timeline", action="store_true",
        help="table: add a row per window for files longer than one window")
    add("--output", default=None,
        help="write the results here instead of stdout (checked before classifying)")
    args = parser.parse_args(argv)
    if args.batch_size < 1:
        parser.error(f"--batch_size must be at least 1, got {args.batch_size}")
    if args.window is not None and args.hop is not None and args.hop > args.window:
        parser.error(f"--hop ({args.hop}) must not exceed --window ({args.window})")
    if args.output is not None:
        problem = _output_problem(args.output)
        if problem:
            parser.error(f"--output {args.output}: {problem}")
    return args


def _output_problem(path):
    """Why results could not be written to ``path`` (None when they can):
    tried before any file is classified, so that no work is lost."""
    if os.path.isdir(path):
        return "is a directory"
    folder = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(folder, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".care-classify-"):
            pass
    except OSError as error:
        return f"cannot write there ({error.strerror or error})"
    return None


def main(argv=None):
    """Runs the command line; returns the exit status."""
    args = parse_args(argv)
    try:
        run_opts = {"device": args.device} if args.device else {}
        recognizer = EmotionRecognizer.from_hparams(
            source=args.source, savedir=args.savedir, run_opts=run_opts, trust=args.trust
        )
    except Exception as error:
        sys.stderr.write(f"care-classify: cannot load the classifier {args.source}: {error}\n")
        return EXIT_MODEL
    window = getattr(recognizer.hparams, "window", 8.0) if args.window is None else args.window
    hop = getattr(recognizer.hparams, "hop", 4.0) if args.hop is None else args.hop
    try:
        recognizer.check_window(window, hop)
    except ValueError as error:
        sys.stderr.write(f"care-classify: --window/--hop: {error}\n")
        return EXIT_USAGE

    found = find_audio(args.inputs)
    failures = [(path, error) for path, error in found if error is not None]
    paths = [path for path, error in found if error is None]
    results = []
    progress = tqdm(total=len(paths), unit="file", disable=len(paths) < 2, file=sys.stderr)
    for path, result in recognizer.recognize_files(paths, window, hop, args.batch_size):
        progress.update()
        if isinstance(result, Exception):
            message = str(result) if isinstance(result, AudioError) else (
                f"{path}: {type(result).__name__}: {result}"
            )
            failures.append((path, message))
        else:
            results.append(result)
    progress.close()

    if args.jsonl:
        records = [result.to_dict() for result in results]
        records += [{"file": path, "error": message} for path, message in failures]
        text = "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records)
    else:
        text = format_table(results, recognizer.labels, args.timeline) if results else ""
    written = False
    if args.output:
        try:
            write_text(args.output, text)
            written = True
        except OSError as error:  # checked at start, but e.g. the disk filled up
            sys.stderr.write(
                f"care-classify: cannot write {args.output} ({error}); results on stdout\n"
            )
    if not written:
        sys.stdout.write(text)
        sys.stdout.flush()
    if failures:
        sys.stderr.write(f"care-classify: {len(failures)} of {len(found)} inputs failed:\n")
        for _, message in failures:
            sys.stderr.write(f"  {_printable(message)}\n")
    return EXIT_FAILED_INPUTS if failures or not written and args.output else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
