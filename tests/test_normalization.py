"""Speaker and corpus normalisation of pooled features
(``care/processing/normalization.py``) and the probing recipes'
``feature_normalization`` option."""

import json
import os

import pytest
import torch
from conftest import care_data
from test_probing import make_emodb, run_emodb, tiny_care_yaml

from care.processing.normalization import (
    NormalizationError,
    describe_normalization,
    normalize_features,
    normalize_groups,
    single_label_speakers,
)
from care.recipe import InputError


def test_each_group_is_z_scored_by_its_own_statistics_per_dimension():
    """Per speaker and per (layer, dimension): mean 0, standard deviation 1,
    whatever each speaker's offset and scale."""
    torch.manual_seed(0)
    values, groups = [], []
    for g, (offset, scale) in enumerate([(0.0, 1.0), (50.0, 0.1), (-7.0, 30.0)]):
        values.append(offset + scale * torch.randn(8, 3, 4))
        groups += [f"s{g}"] * 8
    out, report = normalize_groups(torch.cat(values), groups, ["corpus"] * 24)
    for g in range(3):
        block = out[8 * g: 8 * g + 8].double()
        assert torch.allclose(block.mean(0), torch.zeros(3, 4, dtype=torch.double), atol=1e-5)
        assert torch.allclose(block.std(0), torch.ones(3, 4, dtype=torch.double), atol=1e-4)
    assert report["groups"] == 3 and report["fallback_utterances"] == 0


def test_small_and_unknown_speakers_take_their_corpus_statistics_and_are_counted():
    """A speaker with one utterance is never turned into zeros: it takes its
    corpus's statistics, as do unknown speakers; both are counted."""
    values = torch.arange(14, dtype=torch.float).reshape(14, 1, 1) ** 1.5
    groups = ["a"] * 6 + ["b"] * 6 + ["lonely"] + ["unknown"]
    out, report = normalize_groups(values, groups, ["c"] * 14, min_utterances=5)
    mean, std = values.mean(), values.std()
    assert torch.allclose(out[12:].flatten(), ((values[12:] - mean) / std).flatten())
    assert out[12].abs().item() > 0.1  # not zeroed
    assert report == {"groups": 2, "fallback_groups": 1, "fallback_utterances": 2, "fallback_names": ["lonely"],
                      "unknown_utterances": 1, "min_utterances": 5}
    with pytest.raises(NormalizationError, match="fewer than 5"):
        normalize_groups(values, groups, min_utterances=5)  # no corpus to fall back on


def test_labels_are_never_read():
    """The normalised features do not change when every label does."""
    torch.manual_seed(1)
    features = {f"u{i}": torch.randn(2, 3) + (i % 3) for i in range(30)}
    data = {u: {"speaker": f"s{i % 3}", "label": "xy"[i % 2]} for i, u in enumerate(features)}
    relabelled = {u: dict(e, label="z") for u, e in data.items()}
    for mode in ("speaker", "corpus"):
        first, _ = normalize_features(features, data, mode)
        second, _ = normalize_features(features, relabelled, mode)
        assert all(torch.equal(first[u], second[u]) for u in features)


def test_corpus_mode_uses_each_corpus_own_statistics():
    features = {f"a{i}": torch.tensor([[float(i)]]) for i in range(6)}
    features.update({f"b{i}": torch.tensor([[100.0 + 10 * i]]) for i in range(6)})
    data = {u: {"speaker": u, "corpus": u[0]} for u in features}
    out, report = normalize_features(features, data, "corpus")
    for corpus in "ab":
        column = torch.stack([out[u] for u in features if u[0] == corpus]).flatten().double()
        assert abs(column.mean().item()) < 1e-6 and abs(column.std().item() - 1) < 1e-5
    assert report["corpora"] == {"a": 6, "b": 6}


def test_single_label_speakers_are_counted_by_the_utterances_they_would_strip():
    """Only speakers with their own statistics (at least the minimum) count,
    by their utterances, per corpus; unknown speakers never count."""
    data = {f"a{i}": {"speaker": "a", "label": "xy"[i % 2]} for i in range(6)}
    data.update({f"b{i}": {"speaker": "b", "label": "x"} for i in range(8)})
    data.update({f"c{i}": {"speaker": "c", "label": "y"} for i in range(3)})  # too few: corpus statistics
    data.update({f"u{i}": {"speaker": "unknown", "label": "x"} for i in range(9)})
    assert single_label_speakers(data) == {"utterances": 8, "of": 14, "speakers": 1, "of_speakers": 2}
    assert single_label_speakers(data, min_utterances=2)["of"] == 17


def _check(data, mode="speaker", allow=False, task="categorical"):
    from care.probing.run import check_feature_normalization

    check_feature_normalization({"dataset": "toy", "feature_normalization": mode, "task": task,
                                 "normalization_min_utterances": 5, "allow_single_label_speakers": allow}, data)


def test_speaker_normalisation_refused_where_speakers_carry_the_label():
    """Most speakers speak one label: refused with the counts and the reason,
    unless allowed; corpus and none are never refused; an unknown mode is an
    InputError naming the choices."""
    data = {f"{s}{k}": {"speaker": s, "label": "xy"[i % 2]} for i, s in enumerate("abc") for k in range(5)}
    data.update({f"d{k}": {"speaker": "d", "label": "xy"[k % 2]} for k in range(5)})
    with pytest.raises(InputError, match=r"15 of the 20 utterances .* \(3 of 4 speakers\)"):
        _check(data)
    _check(data, allow=True)
    _check(data, mode="corpus")
    _check(data, mode="none")
    with pytest.raises(InputError, match="none, speaker, corpus"):
        _check(data, mode="speakers")
    mixed = {f"{s}{k}": {"speaker": s, "label": "xy"[k % 2]} for s in "abcd" for k in range(5)}
    _check(mixed)


def test_speaker_normalised_run_names_itself_and_counts_its_fallbacks(tmp_path, tiny_kwargs, monkeypatch):
    """Through the EmoDB recipe (a tiny random CARE, 4 speakers, one of them
    with 3 clips): its own output folder, results.json and results.md name the
    normalisation and its transductive statistics, the small speaker is
    counted, the probe's inputs are each speaker's z-scores (the recipe's
    default: no option given), and a run with ``none`` beside it keeps the
    old folder."""
    monkeypatch.chdir(tmp_path)
    config = tiny_care_yaml(tmp_path, tiny_kwargs)
    root = make_emodb(tmp_path / "emodb", speakers=("03", "08", "09", "10"))
    for path in sorted((root / "wav").glob("10*.wav"))[3:]:
        path.unlink()  # speaker 10 keeps 3 clips: fewer than the minimum of 5
    results, out = run_emodb(tmp_path, root, f"random:{config}", "--export_classifier", "False")
    normalization = results["feature_normalization"]
    assert normalization["mode"] == "speaker" and normalization["groups"] == 3
    assert normalization["fallback_names"] == ["10"] and normalization["fallback_utterances"] == 3
    text = (out / "results.md").read_text()
    assert "Feature normalisation: speaker" in text and "transductive" in text
    assert "1 speaker(s) with fewer than 5 utterances (3 utterances: 10)" in text
    saved = json.loads((out / "results.json").read_text())
    assert "mean" not in saved["feature_normalization"]  # statistics go to the classifier, not the table
    (tmp_path / "plain").mkdir()
    plain, plain_out = run_emodb(tmp_path / "plain", root, f"random:{config}", "--feature_normalization", "none",
                                 "--export_classifier", "False")
    assert plain["feature_normalization"]["mode"] == "none"
    assert "Feature normalisation: none" in (plain_out / "results.md").read_text()
    # The two runs' probes are kept apart (the options hash names the folder).
    assert set(os.listdir(out / "save")).isdisjoint(os.listdir(plain_out / "save"))



def test_normalised_run_exports_a_classifier_that_normalises(tmp_path, tiny_kwargs, monkeypatch):
    """The exported classifier of a speaker-normalised run stores the mode,
    the minimum and the corpus's raw statistics, says so in its info, and
    refuses a single short file (one window would be all zeros) unless told
    to fall back on those statistics."""
    from care.inference import EmotionRecognizer
    from care.processing.normalization import NormalizationError

    monkeypatch.chdir(tmp_path)
    config = tiny_care_yaml(tmp_path, tiny_kwargs)
    root = make_emodb(tmp_path / "emodb", speakers=("03", "08", "09"))
    results, out = run_emodb(tmp_path, root, f"random:{config}", "--feature_normalization", "speaker")
    cache = torch.load(tmp_path / "features" / "random-tiny_care-mean_std.pt", weights_only=True)
    recognizer = EmotionRecognizer.from_hparams(source=str(out / "classifier"), savedir=str(tmp_path / "c"))
    assert recognizer.normalization == "speaker"
    normalizer = recognizer.mods.normalizer
    assert torch.allclose(normalizer.mean, cache["features"].mean(0), atol=1e-5)
    text = (out / "classifier" / "hyperparams.yaml").read_text()
    assert "mode: speaker" in text and "feature_normalization: 'speaker (each speaker" in text
    clip = sorted((root / "wav").glob("03*.wav"))[0]
    with pytest.raises(NormalizationError, match="fewer than|too few|windows"):
        recognizer.classify_file(str(clip))
    _, _, _, labels = recognizer.classify_file(str(clip), fallback="corpus")
    assert labels[0] in results["labels"]


def test_statistics_come_from_the_pool_and_the_corpus_statistics_are_kept():
    """A cross-corpus run normalises with every utterance of each corpus (the
    pool), not only those of the shared labels; the raw statistics of the
    run's own features are kept for the exported classifier."""
    from care.probing.run import normalized_features

    pool = {f"a{i}": torch.tensor([[float(i)]]) for i in range(10)}
    pool_data = {u: {"speaker": "s", "corpus": "a"} for u in pool}
    run = {u: pool[u] for u in ("a0", "a1", "a2", "a3", "a4")}
    data = {u: {"speaker": "s", "label": "x", "corpus": "a"} for u in run}
    hparams = {"feature_normalization": "speaker", "normalization_min_utterances": 5, "dataset": "toy",
               "task": "dimensional"}
    out, record = normalized_features(hparams, data, run, (pool, pool_data))
    expected = (torch.arange(5.0) - 4.5) / torch.arange(10.0).std()
    assert torch.allclose(torch.stack([out[u] for u in sorted(out)]).flatten(), expected)
    assert record["mode"] == "speaker" and record["groups"] == 1
    assert torch.allclose(record["mean"], torch.tensor([[2.0]])) and record["std"].shape == (1, 1)
    with pytest.raises(ValueError, match="pool lacks"):
        normalized_features(hparams, data, {**run, "b0": torch.zeros(1, 1)}, (pool, pool_data))


def test_recipe_output_folder_names_the_normalisation():
    from hyperpyyaml import load_hyperpyyaml

    path = "recipes/EmoDB/emotion/hparams/probe.yaml"
    with open(os.path.join(os.path.dirname(__file__), "..", path)) as handle:
        hparams = load_hyperpyyaml(handle, {"data_folder": "x", "feature_normalization": "corpus"})
    assert hparams["output_folder"] == os.path.join("results", "EmoDB", "egemaps-corpus_norm")


def test_describe_names_forced_single_label_runs():
    text = describe_normalization({"mode": "speaker", "groups": 4, "fallback_utterances": 0,
                                   "single_label": {"utterances": 15, "of": 20}, "single_label_speakers_allowed": True})
    assert "ALLOWED although 15 of the 20 utterances" in text


@pytest.mark.skipif(care_data() is None, reason="CARE_DATA (the shared corpora) not found")
def test_urdu_speaker_normalisation_is_refused_before_extraction(tmp_path, monkeypatch):
    """The real URDU corpus: refused with its counts, before any feature is
    extracted (its preparation takes seconds)."""
    from test_probing import load_recipe_module

    monkeypatch.chdir(tmp_path)
    train = load_recipe_module("URDU", "train")
    with pytest.raises(InputError, match=r"URDU: \d+ of the \d+ utterances .* single label"):
        train.main(["hparams/probe.yaml", "--data_folder", str(care_data() / "urdu"),
                    "--experiment_folder", str(tmp_path / "urdu"), "--feature_normalization", "speaker"])
    assert not (tmp_path / "urdu" / "features").exists()
