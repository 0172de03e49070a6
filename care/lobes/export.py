"""A CARE encoder as a self-contained folder: ``hyperparams.yaml`` (rebuilds
the architecture, no checkpoint download) plus ``encoder.ckpt`` (its weights).

The folder is what the pretraining recipe exports to ``<output_folder>/encoder/``
and what probing recipes and inference take as ``encoder_source``. Load it from
Python with :func:`load_encoder`, from any SpeechBrain YAML with::

    encoder: !apply:care.lobes.load_encoder [!ref <encoder_folder>]

or through ``speechbrain.inference.interfaces.Pretrained.from_hparams(source=FOLDER)``
(its ``pretrainer`` collects ``encoder.ckpt`` from the folder).

Example
-------
>>> import tempfile, torch
>>> from care.lobes import CAREEncoder
>>> encoder = CAREEncoder(d_model=32, num_heads=2, ffn_dim=64, num_shared_layers=1,
...     num_semantic_layers=1, num_acoustic_layers=1, text_dim=16, target_dim=8,
...     semantic_num_heads=2, semantic_ffn_dim=64, conv_channels=16, pos_conv_groups=4)
>>> folder = save_encoder(encoder, tempfile.mkdtemp(), info={"steps": 0})
>>> loaded = load_encoder(folder)
>>> wavs = torch.randn(1, 16000)
>>> _ = encoder.eval()
>>> torch.allclose(encoder(wavs).semantic, loaded(wavs).semantic)
True

Authors
 * CARE for SpeechBrain contributors, 2026
"""

import os

import torch
import yaml
from hyperpyyaml import load_hyperpyyaml

from care.io import atomic_path, save_torch, write_text

HPARAMS_FILE = "hyperparams.yaml"
WEIGHTS_FILE = "encoder.ckpt"
# Constructor arguments that fetch checkpoints; an export carries its own weights.
_SOURCE_ARGS = ("speech_source", "speech_layers", "text_source", "text_layers")


def encoder_yaml(encoder):
    """YAML lines (``!new:`` plus indented arguments) that rebuild the
    architecture of ``encoder`` with random weights and no checkpoint fetch."""
    encoder = getattr(encoder, "module", encoder)
    config = {k: v for k, v in encoder.config.items() if k not in _SOURCE_ARGS}
    config = {k: list(v) if isinstance(v, tuple) else v for k, v in config.items()}
    config.update(freeze_frontend=True, freeze_semantic_layers=True)
    return ["!new:care.lobes.CAREEncoder"] + [
        "    " + line for line in _dump(config).splitlines()
    ]


def save_encoder(encoder, folder, info=None):
    """Writes ``encoder`` (a ``CAREEncoder``, or one wrapped by DDP) to ``folder``.

    Arguments
    ---------
    encoder : CAREEncoder
        The encoder; its ``config`` gives the architecture.
    folder : str
        Created if needed; existing export files are replaced atomically.
    info : dict, optional
        Plain values recorded under an ``info`` key (e.g. training steps,
        the config it was trained with), for provenance.

    Returns
    -------
    str
        ``folder``.
    """
    encoder = getattr(encoder, "module", encoder)
    lines = [
        "# A CARE encoder exported for feature extraction and probing.",
        "# Architecture below; weights in encoder.ckpt beside this file.",
        "# Load: care.lobes.load_encoder(<this folder>), or from a YAML:",
        "#   encoder: !apply:care.lobes.load_encoder [<this folder>]",
        "",
        "encoder: " + encoder_yaml(encoder)[0],
        *encoder_yaml(encoder)[1:],
        "",
        "# For speechbrain.inference.interfaces.Pretrained.from_hparams(source=<folder>)",
        "pretrainer: !new:speechbrain.utils.parameter_transfer.Pretrainer",
        "    loadables:",
        "        encoder: !ref <encoder>",
    ]
    lines += _info_lines(info)
    save_torch(_cpu_state(encoder), os.path.join(folder, WEIGHTS_FILE))
    write_text(os.path.join(folder, HPARAMS_FILE), "\n".join(lines) + "\n")
    return folder


def save_classifier(folder, extractor, probe, labels, info=None, window=8.0, hop=4.0):
    """Writes a trained probe with its feature extractor as a folder that
    ``care.inference.EmotionRecognizer.from_hparams(source=folder)`` loads.

    Files: ``hyperparams.yaml`` (``sample_rate``, ``extractor``, ``probe``,
    ``label_encoder``, ``window``, ``hop``, ``modules``, ``pretrainer``), ``extractor.ckpt``, ``probe.ckpt``,
    ``label_encoder.ckpt`` (text: one label per line).

    Arguments
    ---------
    folder : str
        Created if needed.
    extractor : torch.nn.Module
        ``forward(wavs, wav_lens) -> [batch, layers, dim]`` with an
        ``export_yaml()`` method returning the YAML lines that rebuild it
        (e.g. :class:`care.lobes.CAREFeatures`).
    probe : EmotionProbe or AuthorsProbe
        The trained probe (its ``config`` gives the architecture).
    labels : list of str
        Class names in the order of the probe's outputs.
    info : dict, optional
        Provenance (dataset, fold, metrics), stored under ``info``.
    window, hop : float
        Default window length and hop (seconds) in which inference classifies
        recordings longer than ``window``.

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
        *["    " + line for line in _dump(probe_config).splitlines()],
        "label_encoder: !new:speechbrain.dataio.encoder.CategoricalEncoder",
        "",
        "# Long recordings are classified in overlapping windows (seconds).",
        f"window: {float(window)}",
        f"hop: {float(hop)}",
        "",
        "# The modules Pretrained.from_hparams puts on the device and freezes.",
        "modules:",
        "    extractor: !ref <extractor>",
        "    probe: !ref <probe>",
        "",
        "pretrainer: !new:speechbrain.utils.parameter_transfer.Pretrainer",
        "    loadables:",
        "        extractor: !ref <extractor>",
        "        probe: !ref <probe>",
        "        label_encoder: !ref <label_encoder>",
    ]
    lines += _info_lines(info)
    label_encoder = CategoricalEncoder()
    label_encoder.update_from_iterable(labels)
    if [label_encoder.ind2lab[i] for i in range(len(labels))] != list(labels):
        raise ValueError(f"labels must be unique, got {labels}")
    label_encoder.expect_len(len(labels))
    with atomic_path(os.path.join(folder, "label_encoder.ckpt")) as tmp:
        label_encoder.save(tmp)
    save_torch(_cpu_state(extractor), os.path.join(folder, "extractor.ckpt"))
    save_torch(_cpu_state(probe), os.path.join(folder, "probe.ckpt"))
    write_text(os.path.join(folder, HPARAMS_FILE), "\n".join(lines) + "\n")
    return folder


def load_encoder(folder, map_location="cpu", freeze=True):
    """Rebuilds an exported encoder and loads its weights.

    Arguments
    ---------
    folder : str
        A folder written by :func:`save_encoder`.
    map_location : str or torch.device
        Where to put the weights.
    freeze : bool
        Set ``requires_grad=False`` on every parameter and ``eval()`` mode
        (what feature extraction wants).

    Returns
    -------
    CAREEncoder
    """
    hparams_path = os.path.join(folder, HPARAMS_FILE)
    weights_path = os.path.join(folder, WEIGHTS_FILE)
    for path in (hparams_path, weights_path):
        if not os.path.isfile(path):
            raise FileNotFoundError(
                f"{path} not found: {folder} is not an exported CARE encoder "
                f"(expected {HPARAMS_FILE} and {WEIGHTS_FILE})"
            )
    with open(hparams_path, encoding="utf-8") as handle:
        hparams = load_hyperpyyaml(handle)
    encoder = hparams["encoder"]
    state = torch.load(weights_path, map_location=map_location, weights_only=True)
    encoder.load_state_dict(state)
    encoder.to(map_location)
    if freeze:
        encoder.requires_grad_(False)
        encoder.eval()
    return encoder


def _dump(values):
    return yaml.safe_dump(values, sort_keys=False, default_flow_style=None).rstrip()


def _cpu_state(module):
    return {k: v.detach().cpu() for k, v in module.state_dict().items()}


def _info_lines(info):
    if not info:
        return []
    return ["", "info:"] + ["    " + line for line in _dump(info).splitlines()]
