"""Emotion probing: the manifest contract and its checks, the EmoDB and URDU
preparations on synthetic trees laid out like the releases, metrics against
scikit-learn, the feature cache, and probe runs end to end (a tiny random
WavLM and a tiny random CARE) including the exported classifier."""

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from speechbrain.dataio import audio_io

from care.probing import encoder_name, resolve_layers
from care.probing.cache import cached_features
from care.probing.metrics import classification_metrics, summarize
from care.processing.folds import check_speaker_overlap, fold_splits, group_speakers
from care.processing.manifest import ManifestError, SpeakerOverlapError, validate_manifest
from conftest import load_module

REPO = Path(__file__).resolve().parents[1]
EMODB_LETTERS = "WLEAFTN"


def load_recipe_module(dataset, name):
    """Imports ``recipes/<dataset>/emotion/<name>.py``."""
    return load_module(REPO / "recipes" / dataset / "emotion" / f"{name}.py", f"{dataset}_{name}")


def tone(seconds, rate, f0):
    t = torch.arange(int(seconds * rate)) / rate
    return (0.3 * torch.sin(2 * np.pi * f0 * t) + 0.01 * torch.randn(t.shape)).unsqueeze(0)


def make_emodb(root, speakers=("03", "08", "09", "10"), rate=16000, seconds=0.5):
    """An EmoDB-like tree: ``wav/<speaker><sentence><letter><version>.wav``,
    one clip per speaker and emotion, the pitch depending on the emotion."""
    (root / "wav").mkdir(parents=True)
    for speaker in speakers:
        for i, letter in enumerate(EMODB_LETTERS):
            audio_io.save(str(root / "wav" / f"{speaker}a0{i % 5 + 1}{letter}a.wav"),
                          tone(seconds, rate, 100 + 40 * i), rate)
    (root / "wav" / "notes.wav").write_bytes(b"")  # not an EmoDB name: skipped
    return root


def make_urdu(root, speakers=6, per_emotion=2, rate=44100):
    """A URDU-like tree: ``<Emotion>/S<G><id>_F<nn>_<E><nn>.flac``."""
    for folder in ("Angry", "Happy", "Neutral", "Sad"):
        (root / folder).mkdir(parents=True)
        for s in range(speakers):
            gender = "MF"[s % 2]
            for k in range(per_emotion):
                name = f"S{gender}{s + 1}_F{k + 1:02d}_{folder[0]}{s * per_emotion + k + 1:03d}.flac"
                audio_io.save(str(root / folder / name), tone(0.3, rate, 150), rate)
    return root


def entry(speaker, fold=None, label="anger"):
    return {"wav": "{data_root}/x.wav", "duration": 1.0, "label": label,
            "speaker": speaker, "fold": fold or speaker}


# ---------------------------------------------------------------------------
# Manifest contract


def test_validate_manifest_names_the_problem():
    data = {f"u{i}": entry(f"s{i % 3}", label=["anger", "neutral"][i % 2]) for i in range(6)}
    validate_manifest(data, "toy", expected_count=6, expected_labels=["anger", "neutral"],
                      expected_speakers=3, expected_folds=3)
    with pytest.raises(ManifestError, match="toy: expected 7 utterances, found 6"):
        validate_manifest(data, "toy", expected_count=7)
    with pytest.raises(ManifestError, match=r"missing \['sadness'\]"):
        validate_manifest(data, "toy", expected_labels=["anger", "neutral", "sadness"])
    with pytest.raises(ManifestError, match="expected 4 speakers"):
        validate_manifest(data, "toy", expected_speakers=4)
    broken = dict(data, bad={"wav": "/abs/x.wav", "duration": 1.0, "label": "anger",
                             "speaker": "s0", "fold": "s0"})
    with pytest.raises(ManifestError, match="bad: wav must start with"):
        validate_manifest(broken, "toy")
    with pytest.raises(ManifestError, match=r"lacks \['fold'\]"):
        validate_manifest({"u": {k: v for k, v in entry("s").items() if k != "fold"}}, "toy")


def test_overlap_refused_and_named():
    train = {"a": entry("s1"), "b": entry("s2"), "c": entry("s3")}
    test = {"d": entry("s3"), "e": entry("s1"), "f": entry("s9")}
    with pytest.raises(SpeakerOverlapError, match="share 2 speaker\\(s\\): s1, s3"):
        check_speaker_overlap(train, test)
    check_speaker_overlap(train, {"f": entry("s9")})
    # Folds that mix a speaker's utterances are refused when splitting.
    leaky = {"a": entry("s1", "g1"), "b": entry("s1", "g2"), "c": entry("s2", "g3")}
    with pytest.raises(SpeakerOverlapError, match="s1"):
        list(fold_splits(leaky))


def test_fold_splits_cover_and_separate():
    data = {f"u{i}": entry(f"s{i % 5}") for i in range(20)}
    splits = list(fold_splits(data, num_valid_folds=1))
    assert [name for name, *_ in splits] == ["s0", "s1", "s2", "s3", "s4"]
    tested = set()
    for name, train, valid, test in splits:
        assert {e["speaker"] for e in test.values()} == {name}
        assert len(valid) == 4 and len(train) == 12
        assert not (set(train) & set(valid)) and not (set(train) & set(test))
        tested |= set(test)
    assert tested == set(data)
    official = {"a": entry("s1", "train"), "b": entry("s2", "valid"), "c": entry("s3", "test")}
    (name, train, valid, test), = fold_splits(official)
    assert (name, list(train), list(valid), list(test)) == ("test", ["a"], ["b"], ["c"])
    with pytest.raises(ManifestError, match="unknown test fold"):
        list(fold_splits(data, folds=["s7"]))


def test_group_speakers_balances_sizes():
    counts = {f"s{i}": n for i, n in enumerate([30, 20, 15, 12, 10, 8, 5, 5, 3, 2])}
    groups = group_speakers(counts, 3)
    sizes = [sum(n for s, n in counts.items() if groups[s] == g) for g in range(3)]
    assert max(sizes) - min(sizes) <= 3 and sum(sizes) == 110  # greedy: 35, 37, 38
    with pytest.raises(ManifestError, match="cannot make 11 speaker groups"):
        group_speakers(counts, 11)


# ---------------------------------------------------------------------------
# Preparation


@pytest.mark.parametrize("rate", [16000, 22050])
def test_prepare_emodb_fixture_tree(tmp_path, rate):
    prepare = load_recipe_module("EmoDB", "emodb_prepare").prepare_emodb
    root = make_emodb(tmp_path / "emodb", rate=rate)
    save = tmp_path / "prep"
    prepare(str(root), str(save), strict=False)
    data = json.loads((save / "data.json").read_text())
    assert len(data) == 28
    assert {e["label"] for e in data.values()} == {
        "anger", "boredom", "disgust", "fear", "happiness", "sadness", "neutral"}
    first = data["03a01Wa"]
    assert first["wav"] == "{data_root}/wav/03a01Wa.wav"
    assert first["speaker"] == first["fold"] == "03" and first["label"] == "anger"
    assert first["duration"] == pytest.approx(0.5, abs=1e-3)
    record = json.loads((save / "prepare.json").read_text())
    assert record["counts"]["folds"] == {"03": 7, "08": 7, "09": 7, "10": 7}
    assert "leave-one-speaker-out" in record["protocol"]

    # Idempotent: unchanged options and audio -> not rewritten; changed audio -> rewritten.
    stamp = os.stat(save / "data.json").st_mtime_ns
    prepare(str(root), str(save), strict=False)
    assert os.stat(save / "data.json").st_mtime_ns == stamp
    os.remove(root / "wav" / "10a01Wa.wav")
    prepare(str(root), str(save), strict=False)
    assert len(json.loads((save / "data.json").read_text())) == 27

    with pytest.raises(ManifestError, match="expected 535 utterances, found 27"):
        prepare(str(root), str(tmp_path / "other"))


def test_prepare_emodb_refuses_missing_emotion(tmp_path, monkeypatch):
    module = load_recipe_module("EmoDB", "emodb_prepare")
    root = make_emodb(tmp_path / "emodb", speakers=("03", "08"))
    for path in (root / "wav").glob("*T?.wav"):
        path.unlink()
    monkeypatch.setattr(module, "UTTERANCES", 12)  # the fixture's count, so that labels are checked
    with pytest.raises(ManifestError, match=r"EmoDB at .*missing \['sadness'\]"):
        module.prepare_emodb(str(root), str(tmp_path / "prep"), strict=True)
    assert not (tmp_path / "prep" / "data.json").exists()


def test_prepare_urdu_fixture_tree(tmp_path, monkeypatch):
    module = load_recipe_module("URDU", "urdu_prepare")
    prepare = module.prepare_urdu
    root = make_urdu(tmp_path / "urdu")
    save = tmp_path / "prep"
    with monkeypatch.context() as patch:
        patch.setattr(module, "UTTERANCES", 48)  # the fixture's count: every strict check runs
        prepare(str(root), str(save), num_folds=3, strict=True)
    data = json.loads((save / "data.json").read_text())
    assert len(data) == 48
    assert data["SM1_F01_A001"]["label"] == "anger" and data["SM1_F01_A001"]["speaker"] == "M1"
    folds = {}
    for e in data.values():
        folds.setdefault(e["fold"], set()).add(e["speaker"])
    assert sorted(folds) == ["g1", "g2", "g3"]
    assert all(len(speakers) == 2 for speakers in folds.values())  # 6 speakers, 3 groups
    for name, train, valid, test in fold_splits(data):
        check_speaker_overlap(train, test)
    with pytest.raises(ManifestError, match="expected 400 utterances"):
        prepare(str(root), str(tmp_path / "p2"))
    (root / "Sad" / "SM1_F01_A001.flac").write_bytes(
        (root / "Angry" / "SM1_F01_A001.flac").read_bytes())
    with pytest.raises(ManifestError, match="letter A .Angry. disagrees with its folder Sad"):
        prepare(str(root), str(tmp_path / "p3"), num_folds=3, strict=False)


# ---------------------------------------------------------------------------
# Metrics


def test_metrics_match_scikit_learn():
    from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score

    rng = np.random.default_rng(0)
    for trial in range(20):
        classes = 5
        y = rng.integers(0, classes - (trial % 2), 60)  # sometimes a class never occurs
        p = np.where(rng.random(60) < 0.5, y, rng.integers(0, classes, 60))
        ours = classification_metrics(y, p, classes)
        assert ours["weighted_f1"] == pytest.approx(f1_score(y, p, average="weighted", zero_division=0))
        assert ours["macro_f1"] == pytest.approx(f1_score(y, p, average="macro", zero_division=0))
        assert ours["wa"] == pytest.approx(accuracy_score(y, p))
        with np.errstate(all="ignore"):
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                assert ours["ua"] == pytest.approx(balanced_accuracy_score(y, p))


def test_summarize_over_folds_and_seeds():
    runs = [{"seed": s, "fold": f, "test": {"weighted_f1": v}}
            for s, f, v in [(1, "a", 0.2), (1, "b", 0.4), (2, "a", 0.4), (2, "b", 0.8)]]
    out = summarize(runs, metrics=["weighted_f1"])
    assert out["per_fold"] == {"a": {"weighted_f1": pytest.approx(0.3)},
                               "b": {"weighted_f1": pytest.approx(0.6)}}
    assert out["mean"]["weighted_f1"] == pytest.approx(0.45)
    assert out["std_folds"]["weighted_f1"] == pytest.approx(np.std([0.3, 0.6], ddof=1))
    assert out["std_seeds"]["weighted_f1"] == pytest.approx(np.std([0.3, 0.6], ddof=1))


# ---------------------------------------------------------------------------
# Encoders and the feature cache


class CountingExtractor(torch.nn.Module):
    """Energy per quarter of each utterance; counts the utterances it sees."""

    num_layers, dim = 2, 4

    def __init__(self, scale=1.0):
        super().__init__()
        self.scale = torch.nn.Parameter(torch.tensor(scale))
        self.seen = 0

    def forward(self, wavs, wav_lens):
        self.seen += wavs.shape[0]
        quarters = wavs.abs().reshape(wavs.shape[0], 4, -1).mean(-1) * self.scale
        return torch.stack([quarters, 2 * quarters], dim=1)

    def export_yaml(self):
        return ["!new:CountingExtractor"]


def test_feature_cache_reuse_invalidation_and_resume(tmp_path):
    root = make_emodb(tmp_path / "emodb", speakers=("03", "08"))
    data = {p.stem: {"wav": f"{{data_root}}/wav/{p.name}", "duration": 0.5}
            for p in sorted((root / "wav").glob("*a.wav"))}
    cache = str(tmp_path / "cache" / "counting.pt")
    extractor = CountingExtractor()
    ids, first = cached_features(extractor, data, str(root), cache, batch_size=4, progressbar=False)
    assert ids == sorted(data) and first.shape == (14, 2, 4) and extractor.seen == 14

    ids, again = cached_features(extractor, data, str(root), cache, progressbar=False)
    assert extractor.seen == 14 and torch.equal(again, first)  # reused, not recomputed

    other = CountingExtractor(scale=2.0)  # other weights: extracted again
    _, scaled = cached_features(other, data, str(root), cache, progressbar=False)
    assert other.seen == 14 and torch.allclose(scaled, 2 * first)

    path = root / "wav" / "03a01Wa.wav"  # the audio changes: extracted again
    audio_io.save(str(path), tone(0.5, 16000, 300), 16000)
    _, changed = cached_features(other, data, str(root), cache, progressbar=False)
    i = ids.index("03a01Wa")
    assert other.seen == 28 and not torch.allclose(changed[i], scaled[i])

    # An interrupted extraction resumes from its partial file.
    fresh = CountingExtractor(scale=3.0)
    _, full = cached_features(fresh, data, str(root), cache, batch_size=2, save_every=1,
                              progressbar=False)
    partial_ids = sorted(data)[:6]
    from care.probing.cache import cache_key

    torch.save({"key": cache_key(fresh, data, str(root)), "ids": partial_ids,
                "features": full[:6]}, cache + ".partial")
    os.remove(cache)
    resumed = CountingExtractor(scale=3.0)
    _, out = cached_features(resumed, data, str(root), cache, progressbar=False)
    assert resumed.seen == 8 and torch.allclose(out, full)
    assert not os.path.exists(cache + ".partial")


def test_layer_choice_and_names(tmp_path):
    class Care:
        num_layers = 7
        layer_groups = {"input": [0], "shared": [1, 2], "semantic": [3, 4], "acoustic": [5, 6]}

    assert resolve_layers("shared+semantic", Care()) == [1, 2, 3, 4]
    assert resolve_layers([6], Care()) == [6]
    with pytest.raises(ValueError, match="unknown group 'prosody'"):
        resolve_layers("prosody", Care())
    with pytest.raises(ValueError, match="needs a CARE encoder"):
        resolve_layers("semantic", CountingExtractor())
    with pytest.raises(ValueError, match="indices below 2"):
        resolve_layers([2], CountingExtractor())
    (tmp_path / "care_small" / "1986" / "encoder").mkdir(parents=True)
    assert encoder_name(str(tmp_path / "care_small" / "1986" / "encoder") + "/") == (
        "care_small-1986-encoder")
    from care.probing import build_extractor

    with pytest.raises(ValueError, match="not 'egemaps'"):
        build_extractor("no such thing")
    with pytest.raises(ValueError, match="already utterance-level functionals"):
        build_extractor("egemaps", pooling="mean_std")
    with pytest.raises(ValueError, match="pooling must be one of"):
        build_extractor("egemaps", pooling="max")


# ---------------------------------------------------------------------------
# End to end


def run_emodb(tmp_path, root, source, *extra):
    train = load_recipe_module("EmoDB", "train")
    out = tmp_path / "out"
    return train.main([
        "hparams/probe.yaml",  # relative to the recipe folder
        "--data_folder", str(root),
        "--encoder_source", str(source),
        "--output_folder", str(out),
        "--prepare_folder", str(tmp_path / "prepared"),
        "--feature_folder", str(tmp_path / "features"),
        "--prepare_options", "{strict: False}",
        "--seeds", "[1]",
        "--number_of_epochs", "3",
        "--batch_size", "8",
        *extra,
    ]), out


def test_probe_end_to_end_hf_encoder_and_classifier(tmp_path, tiny_wavlm, monkeypatch):
    """A tiny random WavLM (SpeechBrain's HF integration) on a 4-speaker
    EmoDB-like tree: LOSO folds, results files, resumption, and the exported
    classifier rebuilt from its folder."""
    from hyperpyyaml import load_hyperpyyaml

    monkeypatch.chdir(tmp_path)
    root = make_emodb(tmp_path / "emodb")
    results, out = run_emodb(tmp_path, root, tiny_wavlm)
    assert results["folds"] == ["03", "08", "09", "10"]
    assert len(results["runs"]) == 4 and results["runs"][0]["sizes"] == {
        "train": 14, "valid": 7, "test": 7}
    for metric in ("weighted_f1", "ua", "wa", "macro_f1"):
        assert 0.0 <= results["metrics"]["mean"][metric] <= 1.0
    assert (out / "confusion.png").stat().st_size > 1000
    assert "| weighted F1 |" in (out / "results.md").read_text()
    assert json.loads((out / "results.json").read_text())["utterances"] == 28
    assert len(results["mean_layer_weights"]) == 5  # CNN output + 4 layers
    assert (out / "layer_weights.png").stat().st_size > 1000

    # A second run reuses the feature cache and the finished folds.
    cache = tmp_path / "features" / (encoder_name(tiny_wavlm) + "-mean_std.pt")  # the default for a speech encoder
    stamp = cache.stat().st_mtime_ns
    again, _ = run_emodb(tmp_path, root, tiny_wavlm)
    assert cache.stat().st_mtime_ns == stamp
    assert again["runs"] == results["runs"]

    folder = out / "classifier"
    with open(folder / "hyperparams.yaml") as handle:
        hparams = load_hyperpyyaml(handle)
    pretrainer = hparams["pretrainer"]
    pretrainer.set_collect_in(str(tmp_path / "collect"))
    pretrainer.collect_files(default_source=str(folder))
    pretrainer.load_collected()
    saved = torch.load(folder / "probe.ckpt")
    for key, value in hparams["probe"].state_dict().items():
        torch.testing.assert_close(value, saved[key])
    cached = torch.load(cache)
    wav = audio_io.load(str(root / "wav" / "08a02La.wav"))[0]
    features = hparams["extractor"](wav, torch.ones(1))
    index = cached["ids"].index("08a02La")
    torch.testing.assert_close(features[0], cached["features"][index], atol=1e-4, rtol=1e-4)
    logits = hparams["probe"].eval()(features)
    assert logits.shape == (1, 7)
    assert hparams["label_encoder"].decode_ndim([0]) == ["anger"]


def test_probe_end_to_end_random_care_layer_groups(tmp_path, tiny_kwargs, monkeypatch):
    """A randomly initialised CARE from a YAML (the control), probing the
    semantic branch only."""
    monkeypatch.chdir(tmp_path)
    config = tiny_care_yaml(tmp_path, tiny_kwargs)
    root = make_emodb(tmp_path / "emodb", speakers=("03", "08", "09"))
    results, out = run_emodb(tmp_path, root, f"random:{config}", "--layers", "semantic",
                             "--export_classifier", "False")
    assert results["encoder_name"] == "random-tiny_care"
    assert len(results["mean_layer_weights"]) == tiny_kwargs["num_semantic_layers"]
    assert len(results["runs"]) == 3 and "classifier" not in results
    assert (out / "layer_weights.png").stat().st_size > 1000  # per fold and seed, groups marked


def test_linear_concat_head_statistics_pooling_end_to_end(tmp_path, tiny_kwargs, monkeypatch):
    """``--probe_head linear_concat`` (the layers side by side, one linear
    layer fitted full-batch, C chosen by cross-validation over the training
    speakers) with ``--pooling mean_std`` through the recipe on a
    tiny random CARE: one layer weight per layer, features of twice the
    width in their own cache file, and the exported classifier rebuilds the
    same extractor and head (and loads through the untrusted reader)."""
    from hyperpyyaml import load_hyperpyyaml

    from care.inference import EmotionRecognizer

    monkeypatch.chdir(tmp_path)
    config = tiny_care_yaml(tmp_path, tiny_kwargs)
    root = make_emodb(tmp_path / "emodb", speakers=("03", "08", "09"))
    results, out = run_emodb(tmp_path, root, f"random:{config}", "--probe_head", "linear_concat",
                             "--layers", "shared+acoustic", "--pooling", "mean_std")
    layers = tiny_kwargs["num_shared_layers"] + tiny_kwargs["num_acoustic_layers"]
    width = 2 * tiny_kwargs["d_model"]
    assert results["probe_head"] == "linear_concat" and results["pooling"] == "mean_std"
    cache = torch.load(out.parent / "features" / "random-tiny_care-mean_std.pt", weights_only=True)
    assert cache["features"].shape[-1] == width
    assert "pooling: mean_std" in (out / "results.md").read_text()
    assert len(results["mean_layer_weights"]) == layers
    assert abs(sum(results["mean_layer_weights"]) - 1) < 1e-3
    assert all(r["C"] in results_c(out) and r["best_epoch"] is None for r in results["runs"])
    assert results["classifier"]["C"] in results_c(out)
    with open(out / "classifier" / "hyperparams.yaml") as handle:
        classifier = load_hyperpyyaml(handle.read())
    member = classifier["probe"]
    assert member.config["layer_combination"] == "concatenate"
    assert member.config["input_dim"] == width
    assert member.mlp[-1].in_features == layers * width
    assert classifier["extractor"].pooling == "mean_std" and classifier["extractor"].dim == width
    recognizer = EmotionRecognizer.from_hparams(source=str(out / "classifier"),
                                                savedir=str(tmp_path / "collected"))
    wav = torch.randn(1, 16000) * 0.1  # one waveform: its own speaker's statistics are not to be had
    assert recognizer.normalization == "speaker"  # the recipe's default
    assert recognizer.classify_batch(wav, torch.ones(1), fallback="corpus")[0].shape == (1, len(results["labels"]))


def results_c(out):
    """The values of C the EmoDB recipe's linear_concat chooses from."""
    from hyperpyyaml import load_hyperpyyaml

    with open(REPO / "recipes" / "EmoDB" / "emotion" / "hparams" / "probe.yaml") as handle:
        return load_hyperpyyaml(handle, {"data_folder": str(out)})["linear_C"]


def tiny_care_yaml(tmp_path, tiny_kwargs):
    import yaml

    config = tmp_path / "tiny_care.yaml"
    config.write_text("encoder: !new:care.lobes.CAREEncoder\n" + "".join(
        f"    {k}: {yaml.safe_dump(v).splitlines()[0]}\n" for k, v in tiny_kwargs.items()))
    return config


def test_recipe_yaml_names_folders_after_the_encoder():
    from hyperpyyaml import load_hyperpyyaml

    for dataset, norm in (("EmoDB", "-speaker_norm"), ("URDU", "")):  # the recipes' default normalisation
        path = REPO / "recipes" / dataset / "emotion" / "hparams" / "probe.yaml"
        with open(path) as handle:
            hparams = load_hyperpyyaml(handle, {"data_folder": "x",
                                                "encoder_source": "random:care_small"})
        # the default for a multi-layer encoder: linear_concat over statistics pooling
        assert hparams["output_folder"] == f"results/{dataset}/random-care_small-linear_concat-mean_std{norm}"
        assert hparams["save_folder"] == f"results/{dataset}/random-care_small-linear_concat-mean_std{norm}/save"
        for overrides, folder in (({"probe_head": "mlp", "pooling": "mean"}, "random-care_small"),
                                  ({"probe_head": "mlp"}, "random-care_small-mean_std"),
                                  ({"pooling": "mean"}, "random-care_small-linear_concat"),
                                  ({"probe_head": "authors"}, "random-care_small-authors")):  # fmt: skip
            with open(path) as handle:
                hparams = load_hyperpyyaml(handle, {"data_folder": "x", "encoder_source": "random:care_small",
                                                    **overrides})
            assert hparams["output_folder"] == f"results/{dataset}/{folder}{norm}", overrides
        with open(path) as handle:
            hparams = load_hyperpyyaml(handle, {"data_folder": "x", "encoder_source": "egemaps"})
        assert hparams["output_folder"] == f"results/{dataset}/egemaps{norm}"
        with open(path) as handle:
            hparams = load_hyperpyyaml(handle, {"data_folder": "x", "encoder_source": "egemaps",
                                                "feature_normalization": "none"})
        assert hparams["output_folder"] == f"results/{dataset}/egemaps"


def test_benchmark_table_two_datasets(tmp_path, tiny_kwargs, monkeypatch):
    """recipes/benchmark.py on tiny EmoDB- and URDU-like trees, one encoder."""
    monkeypatch.chdir(tmp_path)
    make_emodb(tmp_path / "data" / "emodb")
    make_urdu(tmp_path / "data" / "urdu", speakers=5, per_emotion=1)
    benchmark = load_module(REPO / "recipes" / "benchmark.py")
    assert {"emodb", "urdu"} <= set(benchmark.available_datasets())
    source = f"random:{tiny_care_yaml(tmp_path, tiny_kwargs)}"
    rows = benchmark.main([
        "--encoder_source", source, "--datasets", "emodb,urdu",
        "--data_folder", str(tmp_path / "data"), "--output_folder", str(tmp_path / "bench"),
        "--prepare_options", "{strict: False}", "--seeds", "[1]",
        "--number_of_epochs", "2", "--export_classifier", "False",
    ])
    row, reference = rows
    assert row["probe"] == "linear_concat" and reference["probe"] == "logistic regression (C=0.1)"
    assert reference["datasets"]["urdu"]["folds"] == 5
    assert row["datasets"]["emodb"]["folds"] == 4 and row["datasets"]["urdu"]["folds"] == 5
    expected = (row["datasets"]["emodb"]["mean"]["weighted_f1"]
                + row["datasets"]["urdu"]["mean"]["weighted_f1"]) / 2
    assert row["average"]["weighted_f1"] == pytest.approx(expected)
    text = (tmp_path / "bench" / "benchmark.md").read_text()
    assert ("| encoder | probe | protocol | emodb wF1 | emodb UA | urdu wF1 | urdu UA | "
            "average wF1 | average UA |") in text
    assert f"| `{source}` | logistic regression (C=0.1) | speaker_independent |" in text
    assert (tmp_path / "results" / "URDU" / "random-tiny_care-linear_concat-mean_std" / "results.json").is_file()
    with pytest.raises(SystemExit):
        benchmark.main(["--encoder_source", "egemaps", "--datasets", "nosuch"])


# ---------------------------------------------------------------------------
# The authors' probe, the extraction rule and the logistic-regression reference


def test_authors_probe_on_a_tiny_care_encoder(tiny_kwargs):
    """``AuthorsProbe`` on a tiny CARE: per depth the semantic and acoustic
    paths side by side (input and shared layers in both halves), softmax over
    depths with random-uniform initial logits, the pooled last semantic layer
    appended, then Linear -> Dropout -> Linear -> Dropout -> Linear (no
    nonlinearity), inputs not standardised."""
    from care.lobes import AuthorsProbe, CAREEncoder, CAREFeatures, masked_mean
    from care.probing.extractors import authors_layout

    torch.manual_seed(0)
    features = CAREFeatures(CAREEncoder(**tiny_kwargs))
    layout = authors_layout(features)
    groups = features.layer_groups
    bottom = groups["input"] + groups["shared"]
    assert layout["depth_layers"] == [
        [s, a] for s, a in zip(bottom + groups["semantic"], bottom + groups["acoustic"])]
    assert layout["appended_layer"] == groups["semantic"][-1]

    wavs, lens = torch.randn(3, 16000) * 0.1, torch.tensor([1.0, 0.7, 0.4])
    pooled = features(wavs, lens)
    probe = AuthorsProbe(features.num_layers, features.dim, 5, **layout).eval()
    probe.set_normalisation(pooled * 3 + 1)  # the authors' probe does not standardise
    dim, depths = features.dim, len(layout["depth_layers"])
    assert [type(m).__name__ for m in probe.mlp] == ["Linear", "Dropout", "Linear", "Dropout", "Linear"]
    assert [(m.in_features, m.out_features) for m in probe.mlp if isinstance(m, torch.nn.Linear)] == [
        (3 * dim, 768), (768, 256), (256, 5)]
    assert [m.p for m in probe.mlp if isinstance(m, torch.nn.Dropout)] == [0.2, 0.2]
    logits = probe.layer_weighting.logits.detach()
    assert logits.shape == (depths,) and ((logits >= 0) & (logits < 1)).all() and logits.std() > 0

    # The first linear layer's input, rebuilt from the encoder's hidden states.
    with torch.no_grad():
        out = features.encoder(wavs, lens)
        hidden = masked_mean(out.hidden_states, out.lengths)  # [batch, layers, dim]
        weights = logits.softmax(0)
        expected = sum(
            w * torch.cat([hidden[:, s], hidden[:, a]], dim=-1)
            for w, (s, a) in zip(weights, layout["depth_layers"]))
        expected = torch.cat([expected, hidden[:, groups["semantic"][-1]]], dim=-1)
        seen = []
        hook = probe.mlp[0].register_forward_hook(lambda m, i, o: seen.append(i[0]))
        logits_out = probe(pooled)
        hook.remove()
    torch.testing.assert_close(seen[0], expected, atol=1e-5, rtol=1e-5)
    assert logits_out.shape == (3, 5)
    with pytest.raises(ValueError, match="layers: all"):
        AuthorsProbe(features.num_layers, dim, 5, layers=[1, 2], **layout)


def test_authors_head_end_to_end_with_the_clip_rule(tmp_path, tiny_kwargs, monkeypatch):
    """``--probe_head authors`` through the recipe on a tiny random CARE, with
    the authors' extraction rule (here: clips under 2 s padded to 3 s) in its
    own cache; the exported classifier rebuilds the authors' probe. The
    default run beside it has the logistic-regression reference."""
    from hyperpyyaml import load_hyperpyyaml

    monkeypatch.chdir(tmp_path)
    config = tiny_care_yaml(tmp_path, tiny_kwargs)
    root = make_emodb(tmp_path / "emodb", speakers=("03", "08", "09"))
    rule = "{max_seconds: 20, crop_seconds: 5, min_seconds: 2, pad_seconds: 3}"
    results, out = run_emodb(tmp_path, root, f"random:{config}", "--probe_head", "authors",
                             "--extract_clips", "authors", "--authors_clip_rule", rule,
                             "--authors_epochs", "2")
    depths = 1 + tiny_kwargs["num_shared_layers"] + tiny_kwargs["num_semantic_layers"]
    assert results["probe_head"] == "authors" and len(results["mean_layer_weights"]) == depths
    assert (out / "layer_weights.png").stat().st_size > 1000  # one bar per depth
    assert all(r["refit"] is False and r["best_epoch"] <= 2 for r in results["runs"])
    assert results["authors_clip_rule"]["pad_seconds"] == 3
    padded = torch.load(tmp_path / "features" / "random-tiny_care-authors_clips.pt")
    with open(out / "classifier" / "hyperparams.yaml") as handle:
        text = handle.read()
    assert "!new:care.lobes.AuthorsProbe" in text
    classifier = load_hyperpyyaml(text)
    assert classifier["probe"].config["depth_layers"][0] == [0, 0]

    (tmp_path / "default").mkdir()
    default, out2 = run_emodb(tmp_path / "default", root, f"random:{config}",
                              "--export_classifier", "False", "--probe_head", "mlp", "--pooling", "mean")
    whole = torch.load(tmp_path / "default" / "features" / "random-tiny_care.pt")
    assert whole["ids"] == padded["ids"] and not torch.allclose(whole["features"], padded["features"])
    assert default["probe_head"] == "mlp" and all(r["refit"] for r in default["runs"])
    assert all(r["sizes"]["train"] + r["sizes"]["valid"] == 14 for r in default["runs"])
    reference = default["reference"]
    assert reference["name"] == "logistic regression (C=0.1)"
    assert set(reference["metrics"]["per_fold"]) == {"03", "08", "09"}
    assert "logistic regression (C=0.1)" in (out2 / "results.md").read_text()


def test_logistic_regression_reference_matches_scikit_learn():
    """The reference is scikit-learn's LogisticRegression(C) on features
    standardised with the statistics of training + validation, the test fold
    untouched."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    from care.probing.reference import logistic_regression

    rng = np.random.default_rng(0)
    labels = ["a", "b", "c"]
    ids = [f"u{i:02d}" for i in range(45)]
    data = {u: {"label": labels[i % 3]} for i, u in enumerate(ids)}
    features = {u: torch.tensor(rng.normal(size=(2, 4)) + (i % 3), dtype=torch.float32)
                for i, u in enumerate(ids)}
    train, valid, test = ({u: data[u] for u in ids[a:b]} for a, b in ((0, 25), (25, 35), (35, 45)))
    run, = logistic_regression(features, data, [("f", train, valid, test)], labels, layers=[1], C=0.5)
    fit = sorted(train) + sorted(valid)
    x = np.stack([features[u][1].numpy() for u in fit])
    scaler = StandardScaler().fit(x)
    model = LogisticRegression(C=0.5, max_iter=5000).fit(
        scaler.transform(x), [labels.index(data[u]["label"]) for u in fit])
    predictions = model.predict(scaler.transform(np.stack([features[u][1].numpy() for u in sorted(test)])))
    expected = classification_metrics([labels.index(data[u]["label"]) for u in sorted(test)],
                                      predictions, 3)
    assert run["test"] == pytest.approx(expected) and run["sizes"] == {"train": 35, "test": 10}


def test_probing_run_killed_mid_fold_resumes_to_the_same_results(tmp_path, monkeypatch):
    """A probing run (eGeMAPS, the default mlp ensemble, 4 folds) killed in
    the middle of its third fold, then started again with the same
    command, writes the results.json of a run that was never interrupted
    (timings and folders aside); the finished folds are not trained again."""
    from care.probing import loop

    monkeypatch.chdir(tmp_path)
    root = make_emodb(tmp_path / "emodb")

    def run(name):
        results, out = run_emodb(tmp_path / name, root, "egemaps")
        results = {k: v for k, v in results.items() if k not in ("timing_seconds", "output_folder", "classifier")}
        results["runs"] = [{k: v for k, v in r.items() if k != "seconds"} for r in results["runs"]]
        return results

    uninterrupted = run("a")
    original, folds = loop.fit_probes, []

    def killed(experiment, seed, seeds, train, valid, log=None, stop_epochs=None):
        if valid is not None:
            folds.append(seed)
            if len(folds) == 3:
                def log_then_kill(epoch, *args):
                    if epoch == 2:
                        raise KeyboardInterrupt("killed mid-fold")
                return original(experiment, seed, seeds, train, valid, log=log_then_kill)
        return original(experiment, seed, seeds, train, valid, log=log, stop_epochs=stop_epochs)

    monkeypatch.setattr(loop, "fit_probes", killed)
    with pytest.raises(KeyboardInterrupt):
        run("b")
    monkeypatch.undo()
    saved = sorted((tmp_path / "b" / "out" / "save").glob("run-*/*/seed_*/result.json"))
    assert len(saved) == 2
    trained = []
    monkeypatch.setattr(loop, "fit_probes", lambda *args, **kwargs: trained.append(1) or original(*args, **kwargs))
    resumed = run("b")
    assert len(trained) == 2 * 2 + 1  # folds 3 and 4 (selection and refit each), then the export
    assert resumed == uninterrupted


@pytest.mark.parametrize("value", ["[]", "[-1]", "[abc]"])
def test_bad_linear_C_is_refused_before_extraction(tmp_path, monkeypatch, value):
    """``--linear_C`` empty, not positive or not a number: one InputError
    naming the option, before any feature is extracted."""
    from care.recipe import InputError

    monkeypatch.chdir(tmp_path)
    root = make_emodb(tmp_path / "emodb", speakers=("03", "08"))
    with pytest.raises(InputError, match=r"linear_C"):
        run_emodb(tmp_path, root, "egemaps", "--probe_head", "linear_concat", "--linear_C", value)
    assert not (tmp_path / "features").exists()
