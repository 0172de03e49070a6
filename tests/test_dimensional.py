"""Dimensional emotion: the concordance correlation coefficient against a
reference written here, the metrics against scikit-learn and SciPy, the CCC
loss (the probe's objective), attribute selection, the exported dimensional classifier through
``EmotionRecognizer`` and ``care-classify`` (per file and per window), the
benchmark's dimensional columns, and the cross-corpus runner."""

import json

import numpy as np
import pytest
import torch

from care.probing.dimensional import (
    Objective,
    ccc,
    manifest_attributes,
    metric_names,
    regression_metrics,
    task_folder,
)
from conftest import REPO, TINY_ENCODER, load_module

ATTRIBUTES = ["arousal", "valence", "dominance"]


def reference_ccc(y, x):
    """Lin's CCC through Pearson's r: rho * 2 sx sy / (sx^2 + sy^2 + (mx - my)^2),
    population standard deviations (a second route to the same number)."""
    y, x = np.asarray(y, float), np.asarray(x, float)
    rho = np.corrcoef(x, y)[0, 1]
    sx, sy = x.std(), y.std()
    return rho * 2 * sx * sy / (sx**2 + sy**2 + (x.mean() - y.mean()) ** 2)


def test_ccc_matches_the_reference():
    """Against the Pearson route on random data, and an exact hand value:
    targets 1, 2, 3, 4 and predictions 1.5, 2, 3.5, 4 give
    2 * 1.125 / (1.0625 + 1.25 + 0.0625) = 18/19. A shift or a scale change
    keeps Pearson's r at 1 but lowers the CCC (what makes it the challenge's
    metric): an implementation returning Pearson fails here."""
    assert ccc([1, 2, 3, 4], [1.5, 2, 3.5, 4]) == pytest.approx(18 / 19, abs=1e-12)
    rng = np.random.default_rng(0)
    for _ in range(5):
        y = rng.normal(3, 1, size=200)
        x = 0.6 * y + rng.normal(1.5, 0.8, size=200)
        assert ccc(y, x) == pytest.approx(reference_ccc(y, x), abs=1e-10)
    y = rng.normal(4, 1, size=100)
    assert ccc(y, y) == pytest.approx(1.0)
    assert ccc(y, y + 1.0) == pytest.approx(2 * y.var() / (2 * y.var() + 1))  # a shift costs
    assert ccc(y, 2 * y - y.mean()) < 0.95  # perfectly correlated, wrong scale
    assert ccc(y, -y) == pytest.approx(reference_ccc(y, -y))
    assert ccc([2.0, 2.0], [3.0, 3.0]) == 0.0  # both constant: defined as 0
    with pytest.raises(ValueError, match="1-D sequences"):
        ccc([1.0, 2.0], [1.0])


def test_regression_metrics_against_scipy_and_scikit_learn():
    from scipy.stats import pearsonr
    from sklearn.metrics import mean_absolute_error

    rng = np.random.default_rng(1)
    targets = rng.uniform(1, 7, size=(50, 3))
    predictions = targets * 0.5 + rng.normal(2, 0.5, size=(50, 3))
    metrics = regression_metrics(targets, predictions, ATTRIBUTES)
    assert list(metrics) == metric_names(ATTRIBUTES)
    for k, name in enumerate(ATTRIBUTES):
        assert metrics[f"ccc_{name}"] == pytest.approx(reference_ccc(targets[:, k], predictions[:, k]))
        assert metrics[f"pearson_{name}"] == pytest.approx(pearsonr(targets[:, k], predictions[:, k])[0])
        assert metrics[f"mae_{name}"] == pytest.approx(
            mean_absolute_error(targets[:, k], predictions[:, k]))
    assert metrics["ccc_mean"] == pytest.approx(np.mean([metrics[f"ccc_{a}"] for a in ATTRIBUTES]))


def test_ccc_loss_is_one_minus_the_batch_ccc_and_trains():
    """The objective's ``ccc`` loss: 1 - the mean CCC of each member's batch
    (targets standardised first, which CCC does not see through: the loss
    is taken against standardised targets), weights that are all equal
    change nothing, and gradient descent on it recovers a linear map."""
    rng = np.random.default_rng(2)
    targets = rng.normal(size=(64, 2))
    predictions = targets + rng.normal(0.3, 0.7, size=(64, 2))
    objective = Objective("ccc", torch.zeros(2), torch.ones(2), ["arousal", "valence"])
    batch = torch.tensor(np.stack([predictions, targets]))  # two members
    loss = objective.loss(batch, torch.tensor(np.stack([targets, targets])))
    expected = 1 - np.mean([reference_ccc(targets[:, k], predictions[:, k]) for k in range(2)])
    assert float(loss[0]) == pytest.approx(expected, abs=1e-5) and float(loss[1]) == pytest.approx(0.0, abs=1e-6)
    weighted = objective.loss(batch, torch.tensor(np.stack([targets, targets])), weights=torch.full((2, 64), 3.0))
    torch.testing.assert_close(weighted, loss)
    torch.manual_seed(0)
    inputs = torch.randn(256, 4)
    outputs = inputs @ torch.tensor([[1.0, -0.5], [0.5, 0.2], [0.0, 1.0], [-1.0, 0.0]]) + 3.0
    layer = torch.nn.Linear(4, 2)
    optimizer = torch.optim.Adam(layer.parameters(), lr=0.05)
    for _ in range(300):
        optimizer.zero_grad()
        objective.loss(layer(inputs)[None], outputs[None]).sum().backward()
        optimizer.step()
    assert float(objective.loss(layer(inputs)[None], outputs[None]).detach()) < 0.01


def test_attributes_present_or_named(tmp_path):
    data = {"a": {"arousal": 3.0, "valence": 2.0}, "b": {"arousal": 4.0, "valence": 5.0, "dominance": 1.0}}
    assert manifest_attributes(data) == ["arousal", "valence"]  # dominance: not in every utterance
    assert manifest_attributes(data, ["valence"]) == ["valence"]
    with pytest.raises(ValueError, match="'dominance': 1 of 2 utterances lack .*'a'"):
        manifest_attributes(data, ["dominance"])
    with pytest.raises(ValueError, match="no attribute is present in every utterance"):
        manifest_attributes({"a": {"label": "x"}})
    for name in ("id", "sig"):  # X16: the data pipeline's own keys, a crash in extraction before
        with pytest.raises(ValueError, match=f"attribute '{name}' is a name SpeechBrain's data pipeline"):
            manifest_attributes({"a": {name: 1.0}, "b": {name: 2.0}}, [name])
    assert task_folder("results/X", "dimensional") == "results/X/dimensional"
    with pytest.raises(ValueError, match="expected one of categorical, dimensional"):
        task_folder("results/X", "regression")
    # A --prepare_options override without task: dimensional would probe the
    # categorical manifest's subset: refused before any training.
    from care.probing.dimensional import DimensionalTask

    (tmp_path / "prepare.json").write_text(json.dumps({"options": {"num_classes": 6}}))
    hparams = {"task": "dimensional", "prepare_folder": str(tmp_path)}
    with pytest.raises(ValueError, match="prepare.json: the corpus was prepared for task categorical"):
        DimensionalTask(hparams, data)


@pytest.mark.parametrize("loss, combination", [("ccc", "weighted_sum"), ("mse", "weighted_sum"),
                                               ("ccc", "concatenate")])
def test_dimensional_probe_learns_a_linear_rating(tmp_path, loss, combination):
    """One fold of the runner's training on synthetic features whose ratings
    are a linear function of one layer (different scales and offsets): the
    epoch chosen on validation CCC, refit, and the test predictions on the
    ratings' own scale (high CCC, small MAE): a sign or scale slip in the
    standardisation fails here. With the layers side by side, the reported
    layer weights point at the layer the ratings come from."""
    from functools import partial

    from speechbrain.utils.train_logger import FileTrainLogger

    from care.lobes import EmotionProbe
    from care.probing import loop
    from care.probing.dimensional import DimensionalTask

    generator = torch.Generator().manual_seed(0)
    ids = [f"u{i:03d}" for i in range(160)]
    features = {u: torch.randn(2, 8, generator=generator) for u in ids}
    weights = torch.randn(8, 2, generator=generator)
    data = {u: {"arousal": 4.0 + 0.8 * float(features[u][1] @ weights[:, 0]),
                "valence": 2.0 + 0.3 * float(features[u][1] @ weights[:, 1])} for u in ids}
    (tmp_path / "prepare.json").write_text(json.dumps({"options": {"task": "dimensional"}}))
    hparams = {"batch_size": 16, "noprogressbar": True, "train_logger": FileTrainLogger,
               "prepare_folder": str(tmp_path), "dimensional_loss": loss}
    task = DimensionalTask(hparams, data)
    assert task.outputs == ["arousal", "valence"]
    head = {"probe": partial(EmotionProbe, hidden_dim=32, dropout=0.0, layer_norm=False,
                             layer_combination=combination),
            "opt_class": partial(torch.optim.AdamW, lr=0.01),
            "epochs": 25, "refit": True, "members": 1}
    dims = {"num_layers": 2, "input_dim": 8, "num_classes": 2, "layers": None}
    experiment = loop.Experiment(hparams, {"device": "cpu"}, features, data, task, dims,
                                 loop.probe_settings({"head": head}))
    result = loop.train_fold(experiment, (ids[:100], ids[100:130], ids[130:]), 1, "f",
                             str(tmp_path / loss))
    assert len(result["layer_weights"]) == 2
    if combination == "concatenate":
        assert result["layer_weights"][1] > 0.6
    assert result["test"]["ccc_mean"] > 0.8
    assert result["test"]["mae_arousal"] < 0.5 and result["test"]["mae_valence"] < 0.2
    predictions = np.array(result["outputs"]["predictions"])
    assert abs(predictions[:, 0].mean() - 4.0) < 0.5 and abs(predictions[:, 1].mean() - 2.0) < 0.3


def test_attribute_constant_within_a_test_fold_is_named(tmp_path):
    """X8: an attribute whose test values are all equal in a fold scores CCC 0
    there by definition; the results name the fold and results.md says so."""
    from care.probing.dimensional import DimensionalTask, results_markdown

    (tmp_path / "prepare.json").write_text(json.dumps({"options": {"task": "dimensional"}}))
    data = {f"u{i}": {"arousal": float(i), "valence": 3.0 if i < 4 else float(i)} for i in range(8)}
    task = DimensionalTask({"prepare_folder": str(tmp_path)}, data)
    runs = [{"fold": fold, "outputs": {"targets": [[data[u]["arousal"], data[u]["valence"]] for u in ids]}}
            for fold, ids in (("f0", ["u0", "u1", "u2", "u3"]), ("f1", ["u4", "u5", "u6", "u7"]))]
    extra = task.extra_results(runs)
    assert extra == {"constant_in_test_fold": {"valence": ["f0"]}}
    assert task.extra_results(runs[1:]) == {}
    summary = {"mean": {}, "std_folds": {}, "std_seeds": {}, "per_fold": {}}
    for name in ("ccc", "pearson", "mae"):
        for column in ("mean", "arousal", "valence"):
            for part in ("mean", "std_folds", "std_seeds"):
                summary[part][f"{name}_{column}"] = 0.0
    results = {"metrics": summary, "attributes": ["arousal", "valence"], "dataset": "toy", "encoder_source": "x",
               "protocol": "p", "utterances": 8, "attribute_range": {"arousal": [0, 7], "valence": [3, 7]},
               "loss": "ccc", "layers": "all", "seeds": [1], "folds": [], "mean_layer_weights": [1.0],
               "pooled_over_folds": {k: 0.0 for k in summary["mean"]}, **extra}
    assert "valence is constant within test fold(s) f0" in results_markdown(results)


# ---------------------------------------------------------------------------
# The exported dimensional classifier


@pytest.fixture(scope="module")
def dimensional(clips, tmp_path_factory):
    """A tiny random CARE and a probe fitted to standardised attribute values
    of the five clips, exported with their scale."""
    from care.inference import save_classifier
    from care.lobes import CAREEncoder, CAREFeatures, EmotionProbe

    torch.manual_seed(0)
    extractor = CAREFeatures(CAREEncoder(**TINY_ENCODER))
    probe = EmotionProbe(extractor.num_layers, extractor.dim, 3, hidden_dim=16, dropout=0.0).eval()
    longest = max(len(c) for c in clips)
    wavs = torch.stack([torch.nn.functional.pad(c, (0, longest - len(c))) for c in clips])
    lens = torch.tensor([len(c) / longest for c in clips])
    probe.set_normalisation(extractor(wavs, lens))
    mean, std = [4.0, 3.5, 4.2], [1.2, 0.8, 0.5]
    folder = str(tmp_path_factory.mktemp("dim") / "classifier")
    save_classifier(folder, extractor, probe, ATTRIBUTES, window=2.0, hop=1.0, outputs={
        "task": "dimensional", "attributes": ATTRIBUTES, "attribute_mean": mean, "attribute_std": std})
    with torch.no_grad():
        expected = probe(extractor(wavs, lens)) * torch.tensor(std) + torch.tensor(mean)
    return {"folder": folder, "extractor": extractor, "probe": probe, "wavs": wavs, "lens": lens,
            "expected": expected, "mean": mean, "std": std}


def test_dimensional_classifier_predicts_attribute_values(dimensional, clips, tmp_path):
    """predict_batch: the probe's outputs mapped back to the attributes' scale;
    recognize_file: per-window values and their length-weighted mean (a
    3.5 s clip in 2 s windows every 1 s); classify_* refuse with a message."""
    from care.inference import EmotionRecognizer
    from care.processing.audio import load_audio
    from speechbrain.dataio import audio_io

    recognizer = EmotionRecognizer.from_hparams(source=dimensional["folder"], run_opts={"device": "cpu"})
    assert recognizer.dimensional and recognizer.labels == ATTRIBUTES
    values = recognizer.predict_batch(dimensional["wavs"], dimensional["lens"])
    torch.testing.assert_close(values, dimensional["expected"], atol=1e-4, rtol=1e-4)
    with pytest.raises(TypeError, match="dimensional .*predict_batch"):
        recognizer.classify_batch(dimensional["wavs"])

    path = str(tmp_path / "long.wav")
    audio_io.save(path, clips[3][: int(3.5 * 16000)].unsqueeze(0), 16000)
    audio = load_audio(path, 16000)  # as written (16-bit)
    result = recognizer.recognize_file(path)
    spans = [(0.0, 2.0), (1.0, 3.0), (2.0, 3.5)]
    assert [(w.start, w.end) for w in result.windows] == spans
    assert result.label is None and list(result.attributes) == ATTRIBUTES
    by_window = []
    for (start, stop), window in zip(spans, result.windows):
        piece = audio[int(start * 16000): int(stop * 16000)]
        expected = recognizer.predict_batch(piece.unsqueeze(0))[0]
        assert list(window.attributes.values()) == pytest.approx(expected.tolist(), abs=1e-4)
        by_window.append(expected * (stop - start))
    mean = torch.stack(by_window).sum(dim=0) / (2.0 + 2.0 + 1.5)  # weighted by window length
    assert list(result.attributes.values()) == pytest.approx(mean.tolist(), abs=1e-4)
    record = result.to_dict()
    assert set(record) == {"file", "duration", "attributes", "windows"}
    assert list(record["windows"][2]["attributes"]) == ATTRIBUTES
    with pytest.raises(TypeError, match="recognize_file"):
        recognizer.classify_file(path)


def test_care_classify_prints_attributes(dimensional, clips, tmp_path, capsys):
    from care.cli import main
    from speechbrain.dataio import audio_io

    short, long = str(tmp_path / "short.wav"), str(tmp_path / "long.wav")
    audio_io.save(short, clips[2].unsqueeze(0), 16000)
    audio_io.save(long, clips[3][: 3 * 16000].unsqueeze(0), 16000)
    assert main(["--source", dimensional["folder"], short, long, "--timeline"]) == 0
    lines = capsys.readouterr().out.splitlines()
    lines = lines[next(i for i, line in enumerate(lines) if line.startswith("file ")):]
    assert lines[0].split() == ["file", "duration_s"] + ATTRIBUTES
    assert lines[1].split()[0] == short and len(lines[1].split()) == 5
    assert [line.split()[0] for line in lines[3:]] == ["0.00-2.00", "1.00-3.00"]  # long's windows
    output = tmp_path / "values.jsonl"
    assert main(["--source", dimensional["folder"], short, long, "--jsonl", "--output", str(output)]) == 0
    records = [json.loads(line) for line in output.read_text().splitlines()]
    assert [len(r["windows"]) for r in records] == [1, 2]
    assert all(list(r["attributes"]) == ATTRIBUTES for r in records)


# ---------------------------------------------------------------------------
# Benchmark columns and the cross-corpus runner


def load_script(name):
    return load_module(REPO / "recipes" / f"{name}.py")


def test_benchmark_dimensional_table(tmp_path, monkeypatch):
    benchmark = load_script("benchmark")
    # main(): --task dimensional reaches every recipe; the CCC columns and average.
    calls = []

    def fake_run(recipe_dir, argv):
        calls.append(argv)
        value = 0.4 if "iemocap" in str(recipe_dir).lower() else 0.6
        metrics = {"mean": {"ccc_mean": value, "ccc_arousal": value + 0.1, "ccc_valence": value - 0.1,
                            "ccc_dominance": value}, "std_folds": {"ccc_mean": 0.01}, "per_fold": {"a": {}}}
        return {"task": "dimensional", "probe_head": "mlp", "metrics": metrics, "seeds": [1],
                "protocol": "p", "output_folder": str(tmp_path), "speaker_independent": True}

    monkeypatch.setattr(benchmark, "run_dataset", fake_run)
    for name in ("iemocap", "msp-podcast"):
        (tmp_path / name).mkdir()
    rows = benchmark.main(["--encoder_source", "egemaps", "--datasets", "iemocap,msp-podcast",
                           "--data_folder", str(tmp_path), "--output_folder", str(tmp_path / "bench"),
                           "--task", "dimensional"])
    assert all(argv[argv.index("--task") + 1] == "dimensional" for argv in calls)
    assert rows[0]["average"]["ccc_mean"] == pytest.approx(0.5)
    text = (tmp_path / "bench" / "benchmark.md").read_text()
    assert "| `egemaps` | mlp | speaker_independent | 0.400 ± 0.010 | 0.500 / 0.300 / 0.400 | " in text
    assert "--task dimensional" in text
    cell = {"mean": {"ccc_mean": 0.5, "ccc_arousal": 0.7, "ccc_valence": 0.3},
            "std": {"ccc_mean": 0.05}, "speaker_independent": True}
    rows = [{"encoder_source": "egemaps", "probe": "mlp", "protocol": "speaker_independent",
             "datasets": {"iemocap": cell}, "average": {"ccc_mean": 0.5}}]
    text = benchmark.table(rows, ["iemocap"], task="dimensional")
    assert "| encoder | probe | protocol | iemocap CCC | iemocap CCC aro / val / dom | average CCC |" in text
    assert "| `egemaps` | mlp | speaker_independent | 0.500 ± 0.050 | 0.700 / 0.300 / – | 0.500 |" in text


def test_cross_corpus_labels_and_validation_speakers():
    import doctest

    cross = load_script("cross_corpus")
    assert doctest.testmod(cross).failed == 0
    assert cross.map_labels("cremad", ["angry", "happy", "calm"]) == {
        "angry": "anger", "happy": "happiness", "calm": "calm"}
    table = {"*": {"calm": "neutral"}, "urdu": {"anger": "rage"}}
    assert cross.map_labels("urdu", ["anger", "calm"], table) == {"anger": "rage", "calm": "neutral"}
    corpora = {"emodb": {"anger", "happiness", "neutral", "sadness", "boredom"},
               "urdu": {"rage", "happiness", "neutral", "sadness"}}
    assert cross.shared_labels(corpora) == ["happiness", "neutral", "sadness"]
    assert cross.shared_labels(corpora, "shared") == ["happiness", "neutral", "sadness"]
    with pytest.raises(Exception, match="share fewer than two .* emodb: .*boredom"):
        cross.shared_labels(corpora, ["anger", "boredom"])
    # Validation: a whole speaker group, never a part of a speaker.
    data = {f"u{i}": {"speaker": f"s{i % 6}", "label": "ab"[i % 2]} for i in range(24)}
    valid = cross.validation_speakers(data, 3)
    assert len(valid) == 2 and valid < {f"s{i}" for i in range(6)}
    # A missing --label_map: one line naming it (X12: a traceback before).
    with pytest.raises(Exception, match=r"--label_map .*no_such_map.json: cannot read it"):
        cross.read_label_map("/nonexistent/no_such_map.json")


def test_cross_corpus_end_to_end(tmp_path, tiny_kwargs, monkeypatch):
    """EmoDB-like -> URDU-like trees with a tiny random CARE: the four shared
    labels, validation speakers from the training corpus only, the test
    corpus only tested, the table; no shared labels is refused."""
    from test_probing import make_emodb, make_urdu, tiny_care_yaml

    monkeypatch.chdir(tmp_path)
    make_emodb(tmp_path / "data" / "emodb", speakers=("03", "08", "09", "10", "11"))
    make_urdu(tmp_path / "data" / "urdu", speakers=5, per_emotion=1)
    cross = load_script("cross_corpus")
    source = f"random:{tiny_care_yaml(tmp_path, tiny_kwargs)}"
    common = ["--train", "emodb", "--test", "urdu", "--encoder_source", source,
              "--data_folder", str(tmp_path / "data"), "--output_folder", str(tmp_path / "cross"),
              "--prepare_options", "{strict: False}", "--seeds", "[1]",
              "--number_of_epochs", "2", "--feature_normalization", "none"]
    rows = cross.main(common + ["--probe_head", "mlp", "--pooling", "mean"])
    assert [row["probe"] for row in rows] == ["mlp", "logistic regression (C=0.1)"]
    folder = tmp_path / "cross" / "emodb-to-urdu"
    results = json.loads((folder / "random-tiny_care" / "results.json").read_text())
    assert results["labels"] == ["anger", "happiness", "neutral", "sadness"]
    assert results["folds"] == ["test"] and "classifier" not in results
    # The combined feature cache was built from the corpora's own caches and
    # reused by the probing run (an extraction there would have replaced it).
    cache = torch.load(folder / "features" / "random-tiny_care.pt", weights_only=True)
    assert cache["info"]["from"] == "the corpora's own caches"
    assert (tmp_path / "results" / "EmoDB" / "features" / "random-tiny_care.pt").is_file()
    data = json.loads((folder / "prepared" / "data.json").read_text())
    splits = {}
    for utt, entry in data.items():
        splits.setdefault(entry["fold"], set()).add(entry["speaker"])
        assert utt.startswith(entry["corpus"] + "/")
    assert {s.split("/")[0] for s in splits["train"] | splits["valid"]} == {"emodb"}
    assert {s.split("/")[0] for s in splits["test"]} == {"urdu"}
    assert len(splits["valid"]) == 1 and not splits["valid"] & splits["train"]
    assert results["cross_corpus"]["utterances_per_corpus"] == {
        "emodb": {"train": 16, "valid": 4}, "urdu": {"test": 20}}
    assert "| `" + source + "` | mlp |" in (folder / "cross_corpus.md").read_text()
    # The default for a multi-layer encoder, linear_concat over statistics pooling: its own
    # caches (the corpus's and the combined one), twice the width, the mean-pooled caches
    # left as they were.
    mean_cache = tmp_path / "results" / "EmoDB" / "features" / "random-tiny_care.pt"
    before = mean_cache.read_bytes()
    other_folder = [str(tmp_path / "cross_ms") if arg == str(tmp_path / "cross") else arg for arg in common]
    rows = cross.main(other_folder)
    assert rows[0]["probe"] == "linear_concat"
    folder = tmp_path / "cross_ms" / "emodb-to-urdu"
    assert json.loads((folder / "random-tiny_care" / "results.json").read_text())["pooling"] == "mean_std"
    cache = torch.load(folder / "features" / "random-tiny_care-mean_std.pt", weights_only=True)
    assert cache["info"]["from"] == "the corpora's own caches"
    assert cache["features"].shape[-1] == 2 * tiny_kwargs["d_model"]
    assert (mean_cache.parent / "random-tiny_care-mean_std.pt").is_file()
    assert mean_cache.read_bytes() == before
    with pytest.raises(Exception, match="share fewer than two"):
        cross.main(common + ["--labels", "anger,boredom"])
    # Corpus normalisation, cross_corpus.py's default: each corpus by the statistics of all its
    # utterances (EmoDB's 35, not only the 20 of the shared labels); its own folder and table,
    # whose command line is complete (X24: --valid_groups was left out) and names the mode.
    normalised = common[:-2] + ["--valid_groups", "4"]
    cross.main(normalised)
    folder = tmp_path / "cross" / "emodb-to-urdu"
    results = json.loads((folder / "random-tiny_care-corpus_norm" / "results.json").read_text())
    assert results["feature_normalization"]["corpora"] == {"emodb": 35, "urdu": 20}
    table = (folder / "cross_corpus-corpus_norm.md").read_text()
    assert "Feature normalisation: corpus" in table and "| corpus |" in table
    assert "--valid_groups 4" in table and "--feature_normalization corpus" in table


@pytest.mark.parametrize("loss", ["ccc", "mse"])
def test_linear_head_fits_attributes_and_chooses_C_by_cross_validation(loss):
    """The full-batch linear head on the dimensional task: each speaker group
    held out once per C (the held-out utterances weigh nothing in the loss),
    the C of best pooled held-out mean CCC kept, and the fit recovers a
    linear rating."""
    from care.lobes import EmotionProbe
    from care.lobes.probe import standard_scale
    from care.probing.training import fit_linear

    generator = torch.Generator().manual_seed(0)
    features = torch.randn(120, 2, 8, generator=generator)
    targets = torch.stack([3.0 + features[:, 1] @ torch.randn(8, generator=generator),
                           2.0 + 0.5 * features[:, 0] @ torch.randn(8, generator=generator)], dim=1)
    probe = EmotionProbe(2, 8, 2, num_hidden_layers=0, dropout=0.0, layer_norm=False,
                         layer_combination="concatenate")
    probe.set_normalisation(features)
    objective = Objective(loss, *standard_scale(targets), ["arousal", "valence"])
    choice = fit_linear(probe, objective, features, targets, [f"g{i % 4}" for i in range(120)],
                        [0.001, 1.0, 100.0], max_iterations=200)
    assert choice["C"] == max(choice["cv_scores"], key=choice["cv_scores"].get)
    assert choice["cv_scores"][choice["C"]] > 0.9
    with torch.no_grad():
        predictions = objective.predictions(probe(features))
    assert regression_metrics(targets.tolist(), predictions.tolist(), ["arousal", "valence"])["ccc_mean"] > 0.95
