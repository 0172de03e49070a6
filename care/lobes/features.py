"""Frozen feature extractors: a waveform batch to per-layer pooled features
``[batch, layers, dim]``, the input of the probes in :mod:`care.lobes.probe`
(and of the feature caches of :mod:`care.probing.cache`).

- :class:`CAREFeatures`: a CARE encoder, every hidden state pooled over its
  valid frames;
- :class:`EGeMAPSFeatures`: eGeMAPS v02 functionals from openSMILE (88-d,
  one "layer");
- :class:`HFSpeechFeatures`: a Hugging Face speech SSL model (WavLM, HuBERT,
  wav2vec 2.0), every hidden state pooled.

The two encoders pool with ``pooling``: ``mean`` (default; the paper's and
the authors' code's mean pooling) or ``mean_std`` (statistics pooling: mean
and standard deviation over frames side by side, ``dim`` doubled; see
:func:`care.lobes.frontend.masked_pool`).

Each is an ``nn.Module`` with ``forward(wavs, wav_lens) -> [batch, layers,
dim]``, attributes ``num_layers`` and ``dim``, and ``export_yaml()`` (the
YAML lines that rebuild it in a classifier folder, see
``care.inference.save_classifier``); each stays frozen and in eval mode.
:func:`care.probing.extractors.build_extractor` picks one from the recipes'
``encoder_source`` option. From a YAML, for example::

    extractor: !new:care.lobes.CAREFeatures
        encoder: !apply:care.lobes.load_encoder [<exported encoder folder>]
    egemaps: !new:care.lobes.EGeMAPSFeatures

Example
-------
>>> extractor = EGeMAPSFeatures()
>>> extractor.num_layers, extractor.dim
(1, 88)
>>> extractor(torch.randn(2, 16000) * 0.1, torch.tensor([1.0, 0.5])).shape
torch.Size([2, 1, 88])

Authors
 * CARE for SpeechBrain contributors, 2026
"""

import os

import torch
from speechbrain.utils.logger import get_logger
from torch import nn

from care.lobes.export import encoder_yaml
from care.lobes.frontend import POOLED_WIDTH, check_pooling, masked_pool

logger = get_logger(__name__)


class CAREFeatures(nn.Module):
    """Frozen CARE encoder -> per-layer pooled features ``[batch, layers, dim]``
    (its ``hidden_states``, each pooled over the valid frames).

    Arguments
    ---------
    encoder : CAREEncoder
        Its parameters are frozen and it is kept in eval mode.
    pooling : str
        ``mean`` (``dim`` = the encoder's width) or ``mean_std`` (twice it).

    Example
    -------
    >>> from care.lobes import CAREEncoder
    >>> encoder = CAREEncoder(d_model=32, num_heads=2, ffn_dim=64, num_shared_layers=1,
    ...     num_semantic_layers=1, num_acoustic_layers=1, text_dim=16, target_dim=8,
    ...     semantic_num_heads=2, semantic_ffn_dim=64, conv_channels=16, pos_conv_groups=4)
    >>> features = CAREFeatures(encoder)
    >>> features(torch.randn(2, 16000), torch.tensor([1.0, 0.5])).shape
    torch.Size([2, 4, 32])
    >>> CAREFeatures(encoder, pooling="mean_std").dim
    64
    """

    def __init__(self, encoder, pooling="mean"):
        super().__init__()
        self.encoder = encoder.requires_grad_(False).eval()
        self.pooling = check_pooling(pooling)
        self.num_layers = encoder.num_hidden_states
        self.dim = encoder.config["d_model"] * POOLED_WIDTH[pooling]
        self.layer_groups = encoder.layer_groups

    def train(self, mode=True):
        """The encoder stays in eval mode (no dropout) whatever the caller sets."""
        super().train(mode)
        self.encoder.eval()
        return self

    @torch.no_grad()
    def forward(self, wavs, wav_lens=None):
        """``[batch, samples]`` -> ``[batch, layers, dim]``."""
        out = self.encoder(wavs, wav_lens, output_hidden_states=True)
        return masked_pool(out.hidden_states, out.lengths, self.pooling)

    def export_yaml(self):
        """YAML lines that rebuild this module (weights come from its state dict)."""
        return ["!new:care.lobes.CAREFeatures", *_pooling_yaml(self.pooling),
                "    encoder: " + encoder_yaml(self.encoder)[0]] + [
            "        " + line for line in encoder_yaml(self.encoder)[1:]
        ]


class EGeMAPSFeatures(nn.Module):
    """eGeMAPS functionals (openSMILE) of each utterance: ``[batch, 1, 88]``.

    Arguments
    ---------
    feature_set : str
        A member of ``opensmile.FeatureSet`` (default ``eGeMAPSv02``).
    sample_rate : int
        Rate of the input waveforms (Hz).
    """

    def __init__(self, feature_set="eGeMAPSv02", sample_rate=16000):
        super().__init__()
        import opensmile

        self.feature_set = feature_set
        self.sample_rate = sample_rate
        self.smile = opensmile.Smile(
            feature_set=getattr(opensmile.FeatureSet, feature_set),
            feature_level=opensmile.FeatureLevel.Functionals,
        )
        self.num_layers = 1
        self.dim = len(self.smile.feature_names)
        # Shorter inputs get NaN functionals (openSMILE's 60 ms pitch frames).
        self.min_samples = round(0.06 * sample_rate)
        self.fingerprint_extra = f"opensmile {opensmile.__version__}"

    @torch.no_grad()
    def forward(self, wavs, wav_lens=None):
        """``[batch, samples]`` -> ``[batch, 1, dim]`` (padding excluded)."""
        if wav_lens is None:
            wav_lens = torch.ones(wavs.shape[0])
        samples = torch.round(wav_lens.cpu().float() * wavs.shape[1]).long()
        out = []
        for wav, n in zip(wavs.detach().float().cpu(), samples.tolist()):
            values = self.smile.process_signal(wav[:n].numpy(), self.sample_rate).values[0]
            out.append(torch.nan_to_num(torch.tensor(values, dtype=torch.float32)))
        return torch.stack(out).unsqueeze(1).to(wavs.device)

    def export_yaml(self):
        """YAML lines that rebuild this extractor (it has no weights)."""
        return [
            "!new:care.lobes.EGeMAPSFeatures",
            f"    feature_set: {self.feature_set}",
            f"    sample_rate: {self.sample_rate}",
        ]


class HFSpeechFeatures(nn.Module):
    """A frozen Hugging Face speech SSL model (WavLM, HuBERT, wav2vec 2.0):
    masked mean of every hidden state (CNN output after projection, then each
    transformer layer), ``[batch, layers + 1, dim]``.

    The model is loaded by SpeechBrain's ``Wav2Vec2`` integration
    (``speechbrain.integrations.huggingface.wav2vec2``; ``AutoModel`` inside,
    so it serves all three families). A local folder without
    ``preprocessor_config.json`` (a bare ``save_pretrained`` of the model)
    gets the input normalisation its config implies
    (``feat_extract_norm == "layer"``), with a warning.

    Arguments
    ---------
    source : str
        Hub id or local folder.
    save_path : str, optional
        Hugging Face cache folder (default: the hub's own cache, so that a
        model fetched once is found offline).
    pooling : str
        ``mean`` or ``mean_std`` (``dim`` doubled).
    """

    def __init__(self, source, save_path=None, pooling="mean"):
        super().__init__()
        if save_path is None:
            from huggingface_hub import constants

            save_path = constants.HF_HUB_CACHE
        self.source = source
        self.pooling = check_pooling(pooling)
        lobe = _ssl_lobe_class()
        self.ssl = lobe(source, save_path=save_path, freeze=True, output_all_hiddens=True)
        config = self.ssl.model.config
        self.num_layers = config.num_hidden_layers + 1
        self.dim = config.hidden_size * POOLED_WIDTH[pooling]

    def train(self, mode=True):
        """The SSL model stays in eval mode."""
        super().train(mode)
        self.ssl.model.eval()
        return self

    @torch.no_grad()
    def forward(self, wavs, wav_lens=None):
        """``[batch, samples]`` -> ``[batch, layers, dim]``."""
        if wav_lens is None:
            wav_lens = torch.ones(wavs.shape[0], device=wavs.device)
        hidden = self.ssl(wavs, wav_lens)  # [layers, batch, frames, dim]
        samples = torch.round(wav_lens.float() * wavs.shape[1]).long()
        frames = self.ssl.model._get_feat_extract_output_lengths(samples)
        return masked_pool(hidden, frames.float() / hidden.shape[2], self.pooling)

    def export_yaml(self):
        """YAML lines that rebuild this extractor from ``source`` (the weights
        themselves are in the classifier folder's ``extractor.ckpt``)."""
        return ["!new:care.lobes.HFSpeechFeatures", f"    source: {self.source}",
                *_pooling_yaml(self.pooling)]


def _pooling_yaml(pooling):
    """The ``pooling`` line, only when not the default (so the YAML, and with
    it the feature-cache key, of a mean-pooling extractor is what it was
    before the option existed)."""
    return [] if pooling == "mean" else [f"    pooling: {pooling}"]


def _ssl_lobe_class():
    from speechbrain.integrations.huggingface.wav2vec2 import Wav2Vec2

    class SSLLobe(Wav2Vec2):
        """SpeechBrain's lobe, tolerating a folder without a preprocessor config."""

        def load_feature_extractor(self, source, cache_dir, **kwargs):
            if os.path.isdir(source) and not os.path.isfile(
                os.path.join(source, "preprocessor_config.json")
            ):
                from transformers import Wav2Vec2FeatureExtractor

                normalise = getattr(self.model.config, "feat_extract_norm", "group") == "layer"
                logger.warning(
                    f"{source} has no preprocessor_config.json; assuming "
                    f"do_normalize={normalise} from its feat_extract_norm"
                )
                self.feature_extractor = Wav2Vec2FeatureExtractor(do_normalize=normalise)
                return
            super().load_feature_extractor(source, cache_dir=cache_dir, **kwargs)

    return SSLLobe
