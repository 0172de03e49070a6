"""Encoder export round trip and the probe lobe."""

import os

import pytest
import torch

from care.lobes import (EmotionProbe, LayerConcatenation, LayerWeighting, load_encoder, masked_mean,
                        masked_pool, save_encoder)
from care.lobes import CAREEncoder


def test_export_round_trip(tmp_path, tiny_kwargs):
    encoder = CAREEncoder(**tiny_kwargs).eval()
    folder = save_encoder(encoder, str(tmp_path / "encoder"), info={"steps": 3})
    assert sorted(os.listdir(folder)) == ["checksums.sha256", "encoder.ckpt", "hyperparams.yaml"]
    loaded = load_encoder(folder)
    assert not any(p.requires_grad for p in loaded.parameters())
    wavs = torch.randn(2, 12000)
    lens = torch.tensor([1.0, 0.7])
    with torch.no_grad():
        a, b = encoder(wavs, lens), loaded(wavs, lens)
    torch.testing.assert_close(a.hidden_states, b.hidden_states)
    torch.testing.assert_close(a.semantic, b.semantic)


def test_export_is_usable_from_yaml(tmp_path, tiny_kwargs):
    from hyperpyyaml import load_hyperpyyaml

    folder = save_encoder(CAREEncoder(**tiny_kwargs), str(tmp_path / "enc"))
    hparams = load_hyperpyyaml(
        f"encoder: !apply:care.lobes.load_encoder [{folder}]\n"
    )
    assert isinstance(hparams["encoder"], CAREEncoder)


def test_load_encoder_names_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="hyperparams.yaml"):
        load_encoder(str(tmp_path))


def test_masked_mean_ignores_padding():
    hidden = torch.randn(3, 2, 10, 4)
    pooled = masked_mean(hidden, torch.tensor([1.0, 0.5]))
    torch.testing.assert_close(pooled[1], hidden[:, 1, :5].mean(dim=1))
    padded = hidden.clone()
    padded[:, 1, 5:] = 1e6
    torch.testing.assert_close(masked_mean(padded, torch.tensor([1.0, 0.5]))[1], pooled[1])


def test_statistics_pooling_counts_valid_frames_only():
    """``mean_std``: the mean and the population standard deviation of each
    utterance's valid frames, side by side; padding changes neither."""
    hidden = torch.randn(3, 2, 10, 4)
    lengths = torch.tensor([1.0, 0.5])
    pooled = masked_pool(hidden, lengths, "mean_std")
    assert pooled.shape == (2, 3, 8)
    torch.testing.assert_close(pooled[..., :4], masked_pool(hidden, lengths, "mean"))
    torch.testing.assert_close(pooled[1, :, 4:], hidden[:, 1, :5].std(dim=1, correction=0))
    torch.testing.assert_close(pooled[0, :, 4:], hidden[:, 0].std(dim=1, correction=0))
    padded = hidden.clone()
    padded[:, 1, 5:] = 1e6
    torch.testing.assert_close(masked_pool(padded, lengths, "mean_std")[1], pooled[1])
    three_d = masked_pool(hidden[0], lengths, "mean_std")  # [batch, frames, dim]
    torch.testing.assert_close(three_d, pooled[:, 0])
    with pytest.raises(ValueError, match="pooling must be one of"):
        masked_pool(hidden, lengths, "max")


def test_layer_weighting_selects_layers():
    x = torch.randn(2, 4, 8)
    weighting = LayerWeighting(4, layers=[2], layer_norm=False)
    torch.testing.assert_close(weighting(x), x[:, 2])
    with pytest.raises(ValueError, match="indices below 4"):
        LayerWeighting(4, layers=[4])


def test_probe_learns_separable_classes():
    torch.manual_seed(0)
    x = torch.randn(64, 3, 16)
    y = (x[:, 1, 0] > 0).long()
    probe = EmotionProbe(3, 16, 2, hidden_dim=32, dropout=0.0)
    opt = torch.optim.Adam(probe.parameters(), lr=1e-2)
    for _ in range(200):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(probe(x), y).backward()
        opt.step()
    assert (probe(x).argmax(-1) == y).float().mean() > 0.95


def test_layer_concatenation_selects_and_orders_layers():
    x = torch.randn(2, 4, 8)
    torch.testing.assert_close(LayerConcatenation(4, layers=[3, 1], layer_norm=False)(x),
                               torch.cat([x[:, 3], x[:, 1]], dim=-1))
    with pytest.raises(ValueError, match="indices below 4"):
        LayerConcatenation(4, layers=[4])
    with pytest.raises(ValueError, match="layer_combination"):
        EmotionProbe(4, 8, 2, layer_combination="sum")


def _fit(probe, x, y, steps=300):
    opt = torch.optim.Adam(probe.parameters(), lr=1e-2)
    for _ in range(steps):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(probe(x), y).backward()
        opt.step()
    return (probe(x).argmax(-1) == y).float().mean().item()


def test_concatenated_layers_read_what_a_weighted_sum_cannot():
    """The class is the sign of layer 0 minus layer 2 in one dimension. A
    linear head on a softmax-weighted sum of the layers (positive weights on
    shared coordinates) cannot form that difference; on the layers side by
    side it can, and its layer weights point at the two layers used."""
    torch.manual_seed(0)
    x = torch.randn(256, 3, 8)
    y = (x[:, 0, 0] - x[:, 2, 0] > 0).long()
    summed = EmotionProbe(3, 8, 2, num_hidden_layers=0, dropout=0.0, layer_norm=False)
    side_by_side = EmotionProbe(3, 8, 2, num_hidden_layers=0, dropout=0.0, layer_norm=False,
                                layer_combination="concatenate")
    assert _fit(summed, x, y) < 0.85
    assert _fit(side_by_side, x, y) > 0.97
    weights = side_by_side.layer_weights()
    assert weights.shape == (3,) and abs(weights.sum().item() - 1) < 1e-5
    assert weights[1] < 0.2 and weights[0] > 0.3 and weights[2] > 0.3


def test_classifier_folder_round_trip(tmp_path, tiny_kwargs):
    """A saved classifier rebuilds from its hyperparams.yaml plus checkpoints
    (what EmotionRecognizer.from_hparams does) with identical outputs."""
    from hyperpyyaml import load_hyperpyyaml

    from care.inference import save_classifier
    from care.lobes import CAREFeatures

    extractor = CAREFeatures(CAREEncoder(**tiny_kwargs))
    probe = EmotionProbe(extractor.num_layers, extractor.dim, 3, hidden_dim=16).eval()
    probe.set_normalisation(torch.randn(10, extractor.num_layers, extractor.dim))
    folder = save_classifier(str(tmp_path / "clf"), extractor, probe, ["ang", "hap", "neu"])
    with open(os.path.join(folder, "hyperparams.yaml")) as handle:
        hparams = load_hyperpyyaml(handle)
    pretrainer = hparams["pretrainer"]
    pretrainer.set_collect_in(str(tmp_path / "collect"))
    pretrainer.collect_files(default_source=folder)
    pretrainer.load_collected()
    wavs, lens = torch.randn(2, 16000), torch.tensor([1.0, 0.8])
    expected = probe(extractor(wavs, lens))
    got = hparams["probe"].eval()(hparams["extractor"](wavs, lens))
    torch.testing.assert_close(got, expected)
    assert hparams["label_encoder"].decode_ndim([0, 2]) == ["ang", "neu"]
    assert hparams["sample_rate"] == 16000


@pytest.mark.parametrize("kind", ["ensemble", "authors"])
def test_every_exported_probe_loads_without_trust(tmp_path, tiny_kwargs, kind):
    """Every probe the recipes can export (the default ensemble, the authors'
    probe) is one the safe loader accepts, and classifies as it did when
    saved."""
    from care.inference import EmotionRecognizer
    from care.inference import save_classifier
    from care.lobes import AuthorsProbe, CAREFeatures, ProbeEnsemble
    from care.probing.extractors import authors_layout

    torch.manual_seed(0)
    extractor = CAREFeatures(CAREEncoder(**tiny_kwargs)).eval()
    dims = (extractor.num_layers, extractor.dim, 3)
    if kind == "ensemble":
        members = [EmotionProbe(*dims, hidden_dim=8) for _ in range(3)]
        for member in members:
            member.set_normalisation(torch.randn(10, extractor.num_layers, extractor.dim))
        probe = ProbeEnsemble.from_members(members).eval()
    else:
        probe = AuthorsProbe(*dims, hidden_dims=[8, 4], **authors_layout(extractor)).eval()
    folder = save_classifier(str(tmp_path / "clf"), extractor, probe, ["ang", "hap", "neu"])
    recognizer = EmotionRecognizer.from_hparams(source=folder, savedir=str(tmp_path / "collect"))
    wavs, lens = torch.randn(2, 16000), torch.tensor([1.0, 0.8])
    with torch.no_grad():
        expected = probe(extractor(wavs, lens)).softmax(dim=-1)
    out_prob = recognizer.classify_batch(wavs, lens)[0]
    torch.testing.assert_close(out_prob, expected)


@pytest.mark.parametrize("pooling, dim", [("mean", 64), ("mean_std", 128)])
def test_hugging_face_extractor_exports_and_loads(tmp_path, tiny_wavlm, pooling, dim):
    """A Hugging Face speech model as encoder_source (a local save_pretrained
    folder): built by build_extractor as care.lobes.HFSpeechFeatures, every
    hidden state pooled (mean, or mean and standard deviation), exported
    under that class path and loaded without trust, classifying as it did
    when saved."""
    from care.inference import EmotionRecognizer, save_classifier
    from care.lobes import HFSpeechFeatures
    from care.probing.extractors import build_extractor

    extractor = build_extractor(str(tiny_wavlm), hf_cache=str(tmp_path / "hf"), pooling=pooling)
    assert isinstance(extractor, HFSpeechFeatures)
    assert (extractor.num_layers, extractor.dim) == (5, dim)  # CNN projection + 4 layers
    wavs, lens = torch.randn(2, 16000), torch.tensor([1.0, 0.6])
    probe = EmotionProbe(5, dim, 2, hidden_dim=8).eval()
    with torch.no_grad():
        expected = probe(extractor(wavs, lens)).softmax(dim=-1)
    folder = save_classifier(str(tmp_path / "clf"), extractor, probe, ["calm", "angry"])
    assert "!new:care.lobes.HFSpeechFeatures" in open(os.path.join(folder, "hyperparams.yaml")).read()
    recognizer = EmotionRecognizer.from_hparams(source=folder, savedir=str(tmp_path / "collect"))
    torch.testing.assert_close(recognizer.classify_batch(wavs, lens)[0], expected)
