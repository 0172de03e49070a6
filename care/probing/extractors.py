"""Choosing a frozen feature extractor with one option, ``encoder_source``,
and describing it: an output-folder name, a cache fingerprint, the layers a
probe reads.

The extractors themselves are lobes in :mod:`care.lobes.features`
(``forward(wavs, wav_lens) -> [batch, layers, dim]``). ``encoder_source``
values (:func:`build_extractor`):

- ``egemaps``: eGeMAPS v02 functionals from openSMILE (88-d, one "layer");
- ``random:care_small`` (any architecture packaged in
  :mod:`care.architectures`) or a path to a YAML with an ``encoder:`` key: a
  randomly initialised CARE, the control that shows what pretraining adds
  (its text layers are initialised as the YAML says, exactly as pretraining
  starts);
- a folder with ``hyperparams.yaml`` and ``encoder.ckpt``: an exported CARE
  encoder (``care.lobes.save_encoder``);
- anything else: a Hugging Face speech SSL model (WavLM, HuBERT, wav2vec 2.0;
  a hub id such as ``microsoft/wavlm-base`` or a local ``save_pretrained``
  folder), through SpeechBrain's ``Wav2Vec2`` integration.

Example
-------
>>> extractor = build_extractor("egemaps")
>>> extractor.num_layers, extractor.dim
(1, 88)
>>> encoder_name("microsoft/wavlm-base"), encoder_name("random:care_small")
('microsoft-wavlm-base', 'random-care_small')

Authors
 * CARE for SpeechBrain contributors, 2026
"""

import hashlib
import os
import re
from pathlib import Path

import torch
from hyperpyyaml import load_hyperpyyaml
from speechbrain.utils.logger import get_logger

from care.architectures import architecture_file
from care.lobes.export import load_encoder
from care.lobes.features import CAREFeatures, EGeMAPSFeatures, HFSpeechFeatures
from care.lobes.frontend import check_pooling
from care.recipe import InputError

logger = get_logger(__name__)


def build_extractor(encoder_source, hf_cache=None, pooling="mean"):
    """The extractor named by ``encoder_source`` (see the module docstring).

    Arguments
    ---------
    encoder_source : str
        ``egemaps``, ``random:<architecture or yaml>``, an exported CARE folder, or
        a Hugging Face speech model (hub id or folder).
    hf_cache : str, optional
        Cache folder for hub models.
    pooling : str
        How a speech encoder pools its frames: ``mean`` or ``mean_std``
        (:func:`care.lobes.frontend.masked_pool`). eGeMAPS values are already
        utterance functionals: it takes ``mean`` only.

    Returns
    -------
    torch.nn.Module
        Frozen, in eval mode.
    """
    source = str(encoder_source)
    check_pooling(pooling)
    if source.lower() == "egemaps":
        if pooling != "mean":
            raise InputError(
                f"pooling {pooling!r} with encoder_source egemaps: eGeMAPS values are already "
                "utterance-level functionals (use pooling: mean)"
            )
        extractor = EGeMAPSFeatures()
    elif source.startswith("random:") or (source.endswith(".yaml") and os.path.isfile(source)):
        extractor = CAREFeatures(_random_care(source.removeprefix("random:")), pooling=pooling)
    elif os.path.isfile(os.path.join(source, "encoder.ckpt")):
        extractor = CAREFeatures(load_encoder(source), pooling=pooling)
    elif not os.path.exists(source) and (
            os.path.isabs(source) or source.startswith((".", "~")) or source.count("/") > 1):
        raise InputError(f"encoder_source {source!r}: no such file or folder")
    elif os.path.isdir(source) or re.fullmatch(r"[\w.-]+/[\w.-]+", source):
        extractor = HFSpeechFeatures(source, save_path=hf_cache, pooling=pooling)
    else:
        raise InputError(
            f"encoder_source {source!r}: not 'egemaps', 'random:<architecture>', a YAML file, "
            "an exported CARE folder (hyperparams.yaml + encoder.ckpt), a local Hugging Face "
            "model folder or a hub id"
        )
    extractor.requires_grad_(False)
    return extractor.eval()


def _random_care(spec):
    """The ``encoder`` of the YAML file ``spec``, or of the packaged
    architecture of that name, with random speech layers."""
    if Path(spec).is_file():
        path = Path(spec)
    else:
        try:
            path = architecture_file(spec)
        except ValueError as error:
            raise InputError(f"random:{spec}: not a YAML file, and {error}") from None
    with open(path, encoding="utf-8") as handle:
        hparams = load_hyperpyyaml(handle)  # its seed makes the draw reproducible
    if "encoder" not in hparams:
        raise InputError(f"{path} has no top-level 'encoder' key")
    logger.info(f"Randomly initialised CARE encoder from {path}")
    return hparams["encoder"]


def encoder_name(encoder_source):
    """A short, file-system-safe name for ``encoder_source`` (output and
    cache folders)."""
    source = str(encoder_source).rstrip("/")
    if source.startswith("random:"):
        name = "random-" + Path(source.removeprefix("random:")).stem
    elif source.endswith(".yaml"):
        name = "random-" + Path(source).stem
    elif os.path.isdir(source):
        # the last three parts: an export is often .../<config>/<seed>/encoder
        name = "-".join(Path(os.path.abspath(source)).parts[-3:])
    else:
        name = source
    return re.sub(r"[^\w.-]+", "-", name).strip("-")


def extractor_fingerprint(extractor):
    """A hash of what the extractor computes: its class and YAML, its
    weights and buffers, and any ``fingerprint_extra`` it declares (e.g.
    the openSMILE version). Feature caches are keyed on it."""
    digest = hashlib.sha256()
    digest.update(type(extractor).__qualname__.encode())
    digest.update("\n".join(extractor.export_yaml()).encode())
    digest.update(str(getattr(extractor, "fingerprint_extra", "")).encode())
    for name, tensor in sorted(extractor.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def resolve_layers(layers, extractor):
    """Layer indices the probe weights, from the YAML ``layers`` option.

    Arguments
    ---------
    layers : str or list of int
        ``all``; a CARE layer group (``input``, ``shared``, ``semantic``,
        ``acoustic``) or several joined by ``+`` (``shared+semantic``); or a
        list of indices.
    extractor : torch.nn.Module
        Groups come from its ``layer_groups`` (CARE encoders only).

    Returns
    -------
    list of int or None
        None for all layers.

    Example
    -------
    >>> class E: num_layers = 12; layer_groups = {"input": [0], "shared": [1, 2, 3, 4],
    ...     "semantic": [5, 6, 7], "acoustic": [8, 9, 10, 11]}
    >>> resolve_layers("semantic", E()), resolve_layers("all", E()), resolve_layers([0, 11], E())
    ([5, 6, 7], None, [0, 11])
    """
    if layers is None or layers == "all":
        return None
    if isinstance(layers, str):
        groups = getattr(extractor, "layer_groups", None)
        if groups is None:
            raise InputError(
                f"layers: {layers!r} needs a CARE encoder; use 'all' or a list of indices "
                f"for {type(extractor).__name__}"
            )
        chosen = []
        for name in layers.split("+"):
            if name not in groups:
                raise InputError(f"layers: unknown group {name!r}; known: {sorted(groups)}")
            chosen += groups[name]
        return sorted(set(chosen))
    chosen = [int(i) for i in layers]
    bad = [i for i in chosen if not 0 <= i < extractor.num_layers]
    if bad or not chosen:
        raise InputError(f"layers: {chosen} must be indices below {extractor.num_layers}")
    return chosen


def authors_layout(extractor):
    """Which pooled layers :class:`care.lobes.AuthorsProbe` concatenates at
    each depth, and which it appends.

    For a CARE encoder (one with ``layer_groups``), as the authors' feature
    extraction: the semantic path (input, shared layers, semantic layers) and
    the acoustic path (input, shared layers, acoustic layers) side by side at
    each depth, so the input and shared layers appear in both halves; the
    last semantic layer is appended. The authors' branches are equally deep
    (13 depths each); when ours are not, the shorter path repeats its last
    layer. Any other encoder (its nearest equivalent): each layer alone at its
    depth, the last layer appended.

    Arguments
    ---------
    extractor : torch.nn.Module
        Has ``num_layers`` and, for CARE, ``layer_groups``.

    Returns
    -------
    dict
        ``{"depth_layers": [[...], ...], "appended_layer": int}``.

    Example
    -------
    >>> class E: num_layers = 7; layer_groups = {"input": [0], "shared": [1, 2],
    ...     "semantic": [3, 4], "acoustic": [5, 6]}
    >>> authors_layout(E())
    {'depth_layers': [[0, 0], [1, 1], [2, 2], [3, 5], [4, 6]], 'appended_layer': 4}
    >>> authors_layout(build_extractor("egemaps"))
    {'depth_layers': [[0]], 'appended_layer': 0}
    """
    groups = getattr(extractor, "layer_groups", None)
    if groups is None:
        layers = list(range(extractor.num_layers))
        return {"depth_layers": [[i] for i in layers], "appended_layer": layers[-1]}
    bottom = groups["input"] + groups["shared"]
    semantic, acoustic = bottom + groups["semantic"], bottom + groups["acoustic"]
    depths = max(len(semantic), len(acoustic))
    semantic += semantic[-1:] * (depths - len(semantic))
    acoustic += acoustic[-1:] * (depths - len(acoustic))
    return {"depth_layers": [list(pair) for pair in zip(semantic, acoustic)],
            "appended_layer": groups["semantic"][-1]}
