"""Weight loading: a loaded layer gives the source model's output for the same input."""

import json
import shutil

import pytest
import torch

from care.lobes import CAREEncoder
from care.lobes.loading import resolve_source


def test_wavlm_layers_reproduce_the_checkpoint(clips, tiny_wavlm, tiny_kwargs):
    """Front end, shared and acoustic layers loaded from a locally saved WavLM
    give the hidden states of the Hugging Face model on real audio."""
    from transformers import WavLMModel

    reference = WavLMModel.from_pretrained(tiny_wavlm, local_files_only=True).eval()
    encoder = CAREEncoder(**tiny_kwargs, speech_source=tiny_wavlm).eval()
    wav = clips[0].unsqueeze(0)
    with torch.no_grad():
        expected = reference(wav, output_hidden_states=True).hidden_states
        out = encoder(wav)
    groups = encoder.layer_groups
    ours = [0] + groups["shared"] + groups["acoustic"]  # WavLM layers 0-3 in order
    assert len(expected) == len(ours) == 5  # input + 4 layers
    for index, theirs in zip(ours, expected):
        torch.testing.assert_close(out.hidden_states[index, 0], theirs[0], atol=2e-5, rtol=1e-4)


def test_speech_layer_selection(tiny_wavlm, tiny_kwargs):
    """``speech_layers`` picks which checkpoint layers fill the shared and
    acoustic stacks (query/key/value fused in order)."""
    from transformers import WavLMModel

    state = WavLMModel.from_pretrained(tiny_wavlm, local_files_only=True).state_dict()
    encoder = CAREEncoder(**tiny_kwargs, speech_source=tiny_wavlm, speech_layers=[3, 2, 1, 0])
    qkv = encoder.acoustic_layers[1].attention.qkv.weight
    prefix = "encoder.layers.0.attention."
    expected = torch.cat([state[prefix + f"{p}_proj.weight"] for p in "qkv"])
    torch.testing.assert_close(qkv, expected)
    torch.testing.assert_close(
        encoder.shared_layers[0].ffn_norm.weight, state["encoder.layers.3.final_layer_norm.weight"]
    )


def test_minilm_layers_reproduce_the_text_model(minilm_path, tiny_kwargs):
    """Semantic layers loaded from the packaged MiniLM map the text model's
    hidden state i to its hidden state i + 1, padding masked."""
    from transformers import AutoModel, AutoTokenizer

    kwargs = dict(
        tiny_kwargs,
        d_model=384,
        num_heads=6,
        ffn_dim=256,
        num_semantic_layers=3,
        semantic_num_heads=12,
        semantic_ffn_dim=1536,
        semantic_layer_norm_eps=1e-12,
    )
    encoder = CAREEncoder(**kwargs, text_source=minilm_path, local_files_only=True).eval()
    tokenizer = AutoTokenizer.from_pretrained(minilm_path, local_files_only=True)
    model = AutoModel.from_pretrained(minilm_path, local_files_only=True).eval()
    batch = tokenizer(
        ["Der Lappen liegt auf dem Eisschrank.", "in being comparatively modern."],
        padding=True,
        return_tensors="pt",
    )
    mask = batch["attention_mask"].bool()
    with torch.no_grad():
        hidden = model(**batch, output_hidden_states=True).hidden_states
        for index, text_layer in enumerate([3, 4, 5]):
            layer = encoder.semantic_layers[index].layer
            out = layer(hidden[text_layer], key_mask=mask)
            torch.testing.assert_close(out[mask], hidden[text_layer + 1][mask], atol=1e-4, rtol=1e-4)


def test_sentence_transformers_folder_with_subfolder(tmp_path, minilm_path):
    """A sentence-transformers folder whose transformer lives in a sub-folder
    resolves to that sub-folder."""
    shutil.copytree(minilm_path, tmp_path / "0_Transformer")
    (tmp_path / "modules.json").write_text(
        json.dumps([{"idx": 0, "name": "0", "path": "0_Transformer",
                     "type": "sentence_transformers.models.Transformer"}])
    )
    path, is_local = resolve_source(tmp_path)
    assert is_local and path.endswith("0_Transformer")


def test_source_errors(tmp_path, minilm_path, tiny_wavlm, tiny_kwargs):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        resolve_source("./no/such/model")
    with pytest.raises(FileNotFoundError, match="no config.json"):
        resolve_source(tmp_path)
    assert resolve_source("microsoft/wavlm-base") == ("microsoft/wavlm-base", False)
    with pytest.raises(ValueError, match="must be a WavLM checkpoint"):
        CAREEncoder(**tiny_kwargs, speech_source=minilm_path)
    with pytest.raises(ValueError, match="set d_model to match"):
        CAREEncoder(**dict(tiny_kwargs, d_model=32, num_heads=2), speech_source=tiny_wavlm)
    with pytest.raises(ValueError, match="speech_layers lists 3 layers"):
        CAREEncoder(**tiny_kwargs, speech_source=tiny_wavlm, speech_layers=[0, 1, 2])
    with pytest.raises(ValueError, match="out of range"):
        CAREEncoder(**tiny_kwargs, speech_source=tiny_wavlm, speech_layers=[0, 1, 2, 9])
    with pytest.raises(ValueError, match="set d_model to match"):
        CAREEncoder(**tiny_kwargs, text_source=minilm_path)


def test_hub_id_fails_fast_offline(tiny_kwargs):
    """With the hub unreachable (tests run offline), a hub id is an error, not a hang."""
    with pytest.raises(OSError):
        CAREEncoder(**tiny_kwargs, speech_source="microsoft/wavlm-base", local_files_only=True)


def test_positional_conv_weight_from_any_weight_norm_naming():
    """The hub's WavLM-base stores the positional conv as weight_g/weight_v
    (old weight norm); newer saves use parametrizations; both give the kernel."""
    from care.lobes.loading import _effective_conv_weight

    torch.manual_seed(0)
    kernel = torch.randn(8, 4, 16)
    g = kernel.norm(dim=(0, 1), keepdim=True)
    v = kernel * 3.0  # weight norm is invariant to the scale of v
    for names in (("weight_g", "weight_v"),
                  ("parametrizations.weight.original0", "parametrizations.weight.original1")):
        state = {f"conv.{names[0]}": g, f"conv.{names[1]}": v}
        torch.testing.assert_close(_effective_conv_weight(state, "conv."), kernel)
    torch.testing.assert_close(_effective_conv_weight({"conv.weight": kernel}, "conv."), kernel)


def _copy_without(source, destination, *removed):
    """A copy of a saved Hugging Face model whose weights lack ``removed``."""
    from safetensors.torch import load_file, save_file

    shutil.copytree(source, destination)
    weights = destination / "model.safetensors"
    state = load_file(weights)
    for name in removed:
        assert name in state, name
        del state[name]
    save_file(state, weights, metadata={"format": "pt"})
    return destination


@pytest.mark.parametrize(
    "removed",
    [
        # what a transformers version that fails to map the weight-norm names leaves
        "encoder.pos_conv_embed.conv.parametrizations.weight.original0",
        "encoder.layers.1.attention.q_proj.weight",
        "feature_projection.projection.bias",
    ],
)
def test_checkpoint_missing_a_weight_is_an_error(tmp_path, tiny_wavlm, tiny_kwargs, removed):
    """A weight the encoder copies but the checkpoint lacks (transformers would
    initialise it at random and only report it in ``missing_keys``) stops
    loading with an error naming it."""
    from care.lobes.loading import MissingWeightsError

    broken = _copy_without(tiny_wavlm, tmp_path / "broken", removed)
    with pytest.raises(MissingWeightsError, match="reported it missing") as error:
        CAREEncoder(**tiny_kwargs, speech_source=broken)
    assert removed in str(error.value) and str(broken) in str(error.value)


def test_text_checkpoint_missing_a_weight_is_an_error(tmp_path, minilm_path, tiny_kwargs):
    from care.lobes.loading import MissingWeightsError, resolve_source

    path, _ = resolve_source(minilm_path)
    removed = "encoder.layer.4.output.LayerNorm.weight"
    broken = _copy_without(path, tmp_path / "broken", removed)
    kwargs = dict(
        tiny_kwargs, d_model=384, num_heads=6, ffn_dim=256, num_semantic_layers=3,
        semantic_num_heads=12, semantic_ffn_dim=1536, semantic_layer_norm_eps=1e-12,
    )
    with pytest.raises(MissingWeightsError, match=removed.replace(".", r"\.")):
        CAREEncoder(**kwargs, text_source=broken, local_files_only=True)
