"""Emotion recognition with an exported classifier: the classifier folder's
writer (:func:`save_classifier`) and its reader, a SpeechBrain ``Pretrained``
interface (:class:`EmotionRecognizer`).

A probing run exports a folder with :func:`save_classifier`
(``hyperparams.yaml`` with a ``pretrainer``; ``extractor.ckpt``,
``probe.ckpt``, ``label_encoder.ckpt``). Load it like any SpeechBrain model::

    from care.inference import EmotionRecognizer, plot_timeline
    recognizer = EmotionRecognizer.from_hparams(source="results/probe/classifier")
    out_prob, score, index, text_lab = recognizer.classify_file("speech.wav")
    result = recognizer.recognize_file("meeting.flac")   # + per-window timeline
    plot_timeline(result, "meeting.png")                 # result.windows, drawn

A dimensional probe (``task: dimensional``, see ``care.probing.dimensional``)
predicts attribute values (arousal, valence, dominance) instead of classes:
``predict_batch`` returns them, ``recognize_file`` gives them per file and per
window (``FileResult.attributes``), and ``care-classify`` prints them.

Files of any sample rate and channel count are read with
:class:`care.processing.stream.AudioStream`: recordings longer than ``window``
seconds are classified in overlapping windows, read and resampled one window
at a time, so memory does not grow with the recording's length (a normalised
classifier's windows are first z-scored per group: :meth:`EmotionRecognizer.recognize_files`).

Only load classifiers you trust. A classifier folder's ``hyperparams.yaml`` is
HyperPyYAML, which can run any Python code when loaded (``!apply:os.system``).
``EmotionRecognizer.from_hparams`` and ``care-classify`` therefore read it
first without running it and refuse a folder (or hub id) holding anything
other than what :func:`save_classifier` writes (:data:`CLASSIFIER_CLASSES`),
unless given ``trust=True`` / ``--trust`` (see SECURITY.md).

The window scheduler (and the results it returns, ``FileResult`` and
``WindowResult``) is :mod:`care.processing.windows`; the command line
(``care-classify``, ``python -m care.cli``) is :mod:`care.cli`.

Authors
 * CARE for SpeechBrain contributors, 2026
"""

import os

import torch
from speechbrain.inference.interfaces import Pretrained

from care.io import atomic_folder, atomic_path, save_torch, write_text
from care.lobes.encoder import CAREEncoder
from care.lobes.export import (
    ENCODER_CLASSES,
    HPARAMS_FILE,
    cpu_state,
    info_lines,
    load_pretrained,
)
from care.lobes.frontend import WAVLM_GRID, masked_mean
from care.lobes.normalizer import FeatureNormalizer
from care.plots import draw_timeline
from care.processing.windows import DEFAULT_HOP, DEFAULT_WINDOW, check_window, classify_files, normalize_windows
from care.recipe import dump_yaml

# What save_classifier writes, and so what from_hparams loads untrusted: the
# classes (!new: only) and, where restricted, their allowed arguments.
CLASSIFIER_CLASSES = {
    **ENCODER_CLASSES,
    "care.lobes.CAREFeatures": {"encoder", "pooling"},
    "care.lobes.EGeMAPSFeatures": {"feature_set", "sample_rate"},
    "care.lobes.HFSpeechFeatures": {"source", "pooling"},
    "care.lobes.EmotionProbe": None,
    "care.lobes.ProbeEnsemble": None,
    "care.lobes.AuthorsProbe": None,
    "care.lobes.FeatureNormalizer": {"mode", "min_utterances", "num_layers", "dim"},
    "speechbrain.dataio.encoder.CategoricalEncoder": set(),
}


def save_classifier(
    folder, extractor, probe, labels, info=None, window=DEFAULT_WINDOW, hop=DEFAULT_HOP, outputs=None, normalization=None
):
    """Writes a trained probe with its feature extractor as a folder that
    :meth:`EmotionRecognizer.from_hparams` (``source=folder``) loads.

    Files: ``hyperparams.yaml`` (``sample_rate``, ``extractor``, ``probe``,
    ``label_encoder``, ``window``, ``hop``, the ``outputs`` values,
    ``modules``, ``pretrainer``, ``info``, ``normalizer``), ``extractor.ckpt``,
    ``probe.ckpt``, ``label_encoder.ckpt`` (text: one label per line),
    ``normalizer.ckpt`` (a normalised run), ``checksums.sha256``. The folder is written whole
    (:func:`care.io.atomic_folder`): an interrupted export leaves the
    previous one as it was.

    Arguments
    ---------
    folder : str
        Created if needed; an existing export there is replaced.
    extractor : torch.nn.Module
        ``forward(wavs, wav_lens) -> [batch, layers, dim]`` with an
        ``export_yaml()`` method returning the YAML lines that rebuild it
        (e.g. :class:`care.lobes.CAREFeatures`).
    probe : EmotionProbe, ProbeEnsemble or AuthorsProbe
        The trained probe (its ``config`` gives the architecture).
    labels : list of str
        Class names in the order of the probe's outputs.
    info : dict, optional
        Provenance (dataset, fold, metrics), stored under ``info``.
    window, hop : float
        Default window length and hop (seconds) in which inference classifies
        recordings longer than ``window``.
    outputs : dict, optional
        Plain top-level values describing the probe's outputs, for a probe
        that is not a classifier: a dimensional probe's ``task:
        dimensional``, ``attributes`` (the same names as ``labels``) and
        ``attribute_mean`` / ``attribute_std`` (its outputs are standardised
        attributes; see ``care.probing.dimensional``).
    normalization : dict, optional
        A normalised run's ``mode``, ``min_utterances``, ``mean`` and ``std`` (the training corpus's
        raw pooled features', ``[layers, dim]``): :meth:`care.lobes.FeatureNormalizer.from_statistics`.

    Returns
    -------
    str
        ``folder``.
    """
    from speechbrain.dataio.encoder import CategoricalEncoder

    if not 0 < hop <= window:
        raise ValueError(f"need 0 < hop <= window, got window={window}, hop={hop}")
    extractor = getattr(extractor, "module", extractor)
    probe = getattr(probe, "module", probe)
    normalizer = None if normalization is None else FeatureNormalizer.from_statistics(**normalization)
    extractor_lines = extractor.export_yaml()
    probe_config = {
        k: list(v) if isinstance(v, tuple) else v for k, v in probe.config.items()
    }
    lines = [
        "# An emotion classifier: frozen feature extractor + trained probe.",
        "# Load: care.inference.EmotionRecognizer.from_hparams(source=<this folder>)",
        "",
        "sample_rate: 16000  # Hz; inputs are resampled to it",
        "extractor: " + extractor_lines[0],
        *extractor_lines[1:],
        f"probe: !new:care.lobes.{type(probe).__name__}",
        *["    " + line for line in dump_yaml(probe_config).splitlines()],
        "label_encoder: !new:speechbrain.dataio.encoder.CategoricalEncoder",
        "",
        *([f"# Features are {normalizer.mode}-normalised: each group of windows z-scored by its own statistics;",
           "# the training corpus's (normalizer.ckpt) for a group of too few, if asked (care.inference).",
           "normalizer: " + "\n".join(normalizer.export_yaml()), ""] if normalizer is not None else []),
        "# Long recordings are classified in overlapping windows (seconds).",
        f"window: {float(window)}",
        f"hop: {float(hop)}",
        "",
        *(["# What the probe's outputs are (care.inference reads this).", dump_yaml(outputs), ""]
          if outputs else []),
        "# The modules Pretrained.from_hparams puts on the device and freezes.",
        "modules:",
        "    extractor: !ref <extractor>",
        "    probe: !ref <probe>",
        *(["    normalizer: !ref <normalizer>"] if normalizer is not None else []),
        "",
        "pretrainer: !new:speechbrain.utils.parameter_transfer.Pretrainer",
        "    loadables:",
        "        extractor: !ref <extractor>",
        "        probe: !ref <probe>",
        "        label_encoder: !ref <label_encoder>",
        *(["        normalizer: !ref <normalizer>"] if normalizer is not None else []),
    ]
    lines += info_lines(info)
    label_encoder = CategoricalEncoder()
    label_encoder.update_from_iterable(labels)
    if [label_encoder.ind2lab[i] for i in range(len(labels))] != list(labels):
        raise ValueError(f"labels must be unique, got {labels}")
    label_encoder.expect_len(len(labels))
    with atomic_folder(folder, marker=HPARAMS_FILE) as tmp:
        with atomic_path(os.path.join(tmp, "label_encoder.ckpt")) as path:
            label_encoder.save(path)
        save_torch(cpu_state(extractor), os.path.join(tmp, "extractor.ckpt"))
        save_torch(cpu_state(probe), os.path.join(tmp, "probe.ckpt"))
        if normalizer is not None:
            save_torch(cpu_state(normalizer), os.path.join(tmp, "normalizer.ckpt"))
        write_text(os.path.join(tmp, HPARAMS_FILE), "\n".join(lines) + "\n")
    return folder


EMBEDDING_KINDS = ("semantic", "acoustic", "both", "layers")


class EmotionRecognizer(Pretrained):
    """Utterance-level emotion recognition: a frozen feature extractor (a CARE
    encoder pooled per layer) and a trained probe.

    The hyperparameter file (written by :func:`save_classifier`)
    defines ``extractor`` (``[batch, samples] -> [batch, layers, dim]``),
    ``probe`` (``-> [batch, classes]`` logits), ``label_encoder``,
    ``sample_rate`` (16000), and optionally ``window``, ``hop`` (seconds)
    and ``normalizer`` (see :meth:`recognize_files`).

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
        :func:`save_classifier` writes (raising
        ``care.lobes.export.UntrustedFolderError``) unless ``trust=True``;
        pass it only for folders and hub ids from a source you trust.

    Example
    -------
    >>> import tempfile
    >>> from care.lobes import CAREEncoder, CAREFeatures, EmotionProbe
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
        """``Pretrained.from_hparams``, checking what it loads
        (``care.lobes.export.load_pretrained``): ``hparams_file`` holds only
        what :func:`save_classifier` writes (checked before it is run;
        ``trust=True`` skips this check: the file can then run any code, as
        with SpeechBrain's own interfaces); the files stay inside the folder
        and match its ``checksums.sha256``; weights and labels load strictly,
        errors naming the file."""
        return load_pretrained(cls, source, CLASSIFIER_CLASSES, hparams_file=hparams_file,
                               trust=trust, **kwargs)

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
    def normalization(self):
        """The mode of the classifier's ``normalizer`` (:class:`care.lobes.FeatureNormalizer`):
        ``"speaker"`` or ``"corpus"``; ``"none"`` without one (as every classifier before it)."""
        return self.mods["normalizer"].mode if "normalizer" in self.mods else "none"

    def classify_features(self, features):
        """Class probabilities (or attribute values) of normalised pooled features ``[batch, layers, dim]``."""
        with torch.no_grad(), self.inference_ctx:
            outputs = self.mods.probe(features.to(self.device)).float()
        return self._attribute_values(outputs) if self.dimensional else outputs.softmax(dim=-1)

    def _attribute_values(self, outputs):
        mean = torch.tensor(self.hparams.attribute_mean, device=outputs.device)
        return outputs * torch.tensor(self.hparams.attribute_std, device=outputs.device) + mean

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
        return getattr(encoder, "grid", WAVLM_GRID).field

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

    def _probe_outputs(self, wavs, wav_lens, groups=None, fallback=None):
        """The probe's float outputs (class logits or standardised attribute values) for a batch,
        without gradients; a normalised classifier's features z-scored by ``groups`` first."""
        if "normalizer" in self.mods:
            features = self.encode_batch(wavs, wav_lens, kind="layers")
            features, _ = normalize_windows(self.mods.normalizer, features, groups, fallback)
            with torch.no_grad(), self.inference_ctx:
                return self.mods.probe(features).float()
        wavs, wav_lens = self._prepare(wavs, wav_lens)
        with torch.no_grad(), self.inference_ctx:
            return self.mods.probe(self.mods.extractor(wavs, wav_lens)).float()

    def classify_batch(self, wavs, wav_lens=None, groups=None, fallback=None):
        """Classifies a batch of waveforms.

        A normalised classifier z-scores the batch as **one group** (one speaker's) unless ``groups``
        (a name per waveform) says otherwise, refusing a group too small unless ``fallback="corpus"``
        (:func:`care.processing.windows.normalize_windows`; both ignored by other classifiers).

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
        out_prob = self._probe_outputs(wavs, wav_lens, groups, fallback).softmax(dim=-1)
        score, index = out_prob.max(dim=-1)
        text_lab = self.hparams.label_encoder.decode_torch(index.cpu())
        return out_prob, score, index, text_lab

    def predict_batch(self, wavs, wav_lens=None, groups=None, fallback=None):
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
        return self._attribute_values(self._probe_outputs(wavs, wav_lens, groups, fallback))

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

    def classify_file(self, path, window=None, hop=None, batch_size=8, fallback=None):
        """Classifies one recording (any sample rate and channel count, any
        length). Same return values as :meth:`classify_batch`, for a batch of
        one: for recordings longer than ``window`` seconds, the length-weighted
        mean of the windows' probabilities (see :meth:`recognize_file`).

        Raises
        ------
        AudioError
            The file is missing, unreadable, empty or too short.
        NormalizationError
            Too few windows for a normalised classifier (:meth:`recognize_files`).
        """
        if self.dimensional:
            raise TypeError("this classifier is dimensional: use recognize_file (.attributes)")
        result = self.recognize_file(path, window=window, hop=hop, batch_size=batch_size, fallback=fallback)
        out_prob = result.probabilities.unsqueeze(0)
        return out_prob, torch.tensor([result.score]), torch.tensor([result.index]), [result.label]

    def recognize_file(self, path, window=None, hop=None, batch_size=8, fallback=None):
        """Classifies one recording and returns its :class:`~care.processing.windows.FileResult`
        (aggregate and per-window timeline); raises :class:`AudioError` for a
        file that cannot be used (a normalised classifier: too few windows, see :meth:`recognize_files`)."""
        ((_, result),) = self.recognize_files([path], window, hop, batch_size, fallback=fallback)
        if isinstance(result, Exception):
            raise result
        return result

    def recognize_files(self, paths, window=None, hop=None, batch_size=8, groups=None, fallback=None):
        """Classifies recordings, batching windows across files.

        Each file is read one window at a time (at most ``batch_size`` in memory); a recording
        longer than ``window`` seconds is cut into windows every ``hop`` seconds, the last one ending
        at the recording's end (:func:`care.processing.windows.classify_files`). A normalised
        classifier (:attr:`normalization`) first computes every window's pooled features, then
        z-scores each group's windows by their statistics; a group of fewer windows than its
        ``min_utterances`` yields a ``NormalizationError`` for each of its files (one window would
        be all zeros), or with ``fallback="corpus"`` takes the training corpus's stored statistics,
        with a warning; ``FileResult.normalization`` says which statistics each file got.

        Arguments
        ---------
        paths : iterable of str
            Audio files.
        window, hop : float, optional
            Seconds; defaults: the hyperparameters' ``window`` and ``hop``
            (``DEFAULT_WINDOW`` and ``DEFAULT_HOP`` of
            :mod:`care.processing.windows`, 8 and 4 s, when absent).
        batch_size : int
            Windows per forward pass.
        groups : dict, optional
            A normalised classifier's ``{path: group}`` (one speaker's files share a name); a
            path not in it, as every path by default, is its own group.
        fallback : str, optional
            ``"corpus"``: see above.

        Yields
        ------
        (str, FileResult or Exception)
            In the order of ``paths``; a file that cannot be used yields its
            :class:`AudioError` (or the error classification raised) instead,
            and the others are still processed.
        """
        window = getattr(self.hparams, "window", DEFAULT_WINDOW) if window is None else window
        hop = getattr(self.hparams, "hop", DEFAULT_HOP) if hop is None else hop
        yield from classify_files(self, paths, window, hop, batch_size, groups, fallback)

    def check_window(self, window, hop):
        """Raises ``ValueError`` unless ``window`` and ``hop`` (seconds) are
        finite, ``0 < hop <= window``, and a window is long enough for the
        extractor (shorter windows would be dropped, leaving most of a
        recording unclassified)."""
        check_window(window, hop, self.hparams.sample_rate, self.min_samples)


def plot_timeline(result, path, title=None):
    """Draws what :meth:`EmotionRecognizer.recognize_file` returned: the
    per-window class probabilities (a dimensional classifier: the attribute
    curves) over time in m:ss, saved to ``path`` (``.png``, ``.svg`` or
    ``.pdf``); ``title`` defaults to the file's name. Returns ``path``."""
    return draw_timeline(result, path, title=title)
