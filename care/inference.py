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

The window scheduler is :mod:`care.processing.windows`; the command line
(``care-classify``, ``python -m care.inference``) is :mod:`care.cli`.

Authors
 * CARE for SpeechBrain contributors, 2026
"""

import sys

import torch
from speechbrain.inference.interfaces import Pretrained
from speechbrain.utils.fetching import fetch

from care.lobes.encoder import CAREEncoder
from care.lobes.export import CLASSIFIER_CLASSES, check_hparams
from care.lobes.frontend import WAVLM_GRID, masked_mean
from care.processing.windows import (  # noqa: F401 (FileResult, WindowResult, window_spans: re-exported)
    DEFAULT_HOP,
    DEFAULT_WINDOW,
    FileResult,
    WindowResult,
    check_window,
    classify_files,
    window_spans,
)

EMBEDDING_KINDS = ("semantic", "acoustic", "both", "layers")


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
            (``DEFAULT_WINDOW`` and ``DEFAULT_HOP`` of
            :mod:`care.processing.windows`, 8 and 4 s, when absent).
        batch_size : int
            Windows per forward pass.

        Yields
        ------
        (str, FileResult or Exception)
            In the order of ``paths``; a file that cannot be used yields its
            :class:`AudioError` (or the error classification raised) instead,
            and the others are still processed.
        """
        window = getattr(self.hparams, "window", DEFAULT_WINDOW) if window is None else window
        hop = getattr(self.hparams, "hop", DEFAULT_HOP) if hop is None else hop
        yield from classify_files(self, paths, window, hop, batch_size)

    def check_window(self, window, hop):
        """Raises ``ValueError`` unless ``window`` and ``hop`` (seconds) are
        finite, ``0 < hop <= window``, and a window is long enough for the
        extractor (shorter windows would be dropped, leaving most of a
        recording unclassified)."""
        check_window(window, hop, self.hparams.sample_rate, self.min_samples)


# The command line moved to care.cli; its names are still importable from here.
_CLI_NAMES = (
    "AUDIO_EXTENSIONS", "EXIT_OK", "EXIT_FAILED_INPUTS", "EXIT_USAGE", "EXIT_MODEL",
    "find_audio", "format_table", "parse_args", "main",
)


def __getattr__(name):
    """``care.inference.main`` (and the other command-line names) from
    :mod:`care.cli`, imported on first use (``care.cli`` imports this module)."""
    if name in _CLI_NAMES:
        import care.cli

        return getattr(care.cli, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


if __name__ == "__main__":
    from care.cli import main

    sys.exit(main())
