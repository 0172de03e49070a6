"""recipes/benchmark.py --results: the table across corpora built from finished
runs' results.json (the table the top-level README embeds)."""

import json

import pytest

from conftest import REPO, load_module


def fake_run(root, dataset, folder, encoder_name, wf1, ua, std=0.1, probe_head="mlp", pooling="mean",
             encoder_source=None, speaker_independent=True, normalization=None):
    """Writes ``root/<dataset>/<folder>/results.json`` with the keys a probing run writes
    (``normalization``: its ``feature_normalization`` record, absent by default as in runs
    made before the option)."""
    path = root / dataset / folder / "results.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({
        **({"feature_normalization": normalization} if normalization else {}),
        "dataset": dataset, "encoder_source": encoder_source or encoder_name, "encoder_name": encoder_name,
        "layers": "all", "pooling": pooling, "probe_head": probe_head, "seeds": [1, 2, 3],
        "speaker_independent": speaker_independent,
        "metrics": {"mean": {"weighted_f1": wf1, "ua": ua}, "std_folds": {"weighted_f1": std, "ua": std},
                    "per_fold": {"f1": {"weighted_f1": wf1, "ua": ua}}},
    }))
    return path


@pytest.fixture
def bench():
    return load_module(REPO / "recipes" / "benchmark.py")


def test_table_rows_columns_and_mean(tmp_path, bench, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    fake_run(tmp_path, "URDU", "egemaps", "egemaps", 0.732, 0.612, std=0.164)
    fake_run(tmp_path, "EmoDB", "egemaps", "egemaps", 0.643, 0.625, std=0.128)
    fake_run(tmp_path, "EmoDB", "random-care_small-linear_concat-mean_std", "random-care_small", 0.54, 0.489,
             probe_head="linear_concat", pooling="mean_std", encoder_source="random:care_small")
    text = bench.main(["--results", str(tmp_path), "--markdown",
                           "--label", "egemaps=eGeMAPS", "--label", "random:care_small=random control"])
    assert capsys.readouterr().out == text
    lines = text.splitlines()
    assert lines[0] == "| encoder | probe | EmoDB | URDU | mean |"
    # labelled rows in the order of --label; cells wF1 ± std / UA; mean over both corpora
    assert lines[2] == "| eGeMAPS | `mlp`, `mean` pooling | 64.3 ± 12.8 / 62.5 | 73.2 ± 16.4 / 61.2 | 68.8 / 61.9 |"
    # a corpus a row lacks: a dash, and no mean
    assert lines[3] == ("| random control | `linear_concat`, `mean_std` pooling | 54.0 ± 10.0 / 48.9 | – | – |")
    assert "seeds [1, 2, 3]" in text
    assert not (tmp_path / "results").exists()  # --markdown writes nothing, prints the table


def test_columns_in_the_order_asked(tmp_path, bench):
    fake_run(tmp_path, "URDU", "egemaps", "egemaps", 0.7, 0.6)
    fake_run(tmp_path, "EmoDB", "egemaps", "egemaps", 0.6, 0.5)
    fake_run(tmp_path, "ASED", "egemaps", "egemaps", 0.8, 0.8)
    text = bench.main(["--results", str(tmp_path), "--markdown", "--datasets", "emodb,urdu,nemo,ased"])
    lines = text.splitlines()
    # the runs' spelling, the order asked; a corpus without runs is a column of dashes (no mean)
    assert lines[0] == "| encoder | probe | EmoDB | URDU | nemo | ASED | mean |"
    assert lines[2] == "| `egemaps` | `mlp`, `mean` pooling | 60.0 ± 10.0 / 50.0 | 70.0 ± 10.0 / 60.0 | – | 80.0 ± 10.0 / 80.0 | – |"
    text = bench.results_table(tmp_path, columns=["urdu"])  # other corpora left out, the mean over those asked
    assert text.splitlines()[0] == "| encoder | probe | URDU | mean |" and "| 70.0 / 60.0 |" in text


def test_plot_from_results(tmp_path, bench, monkeypatch):
    """--results --plot draws what the table shows (it was silently ignored): one series per row,
    named by its label, each corpus's per-fold weighted F1 in %, a corpus a row lacks left out."""
    fake_run(tmp_path, "EmoDB", "egemaps", "egemaps", 0.64, 0.62)
    fake_run(tmp_path, "URDU", "egemaps", "egemaps", 0.73, 0.61)
    fake_run(tmp_path, "EmoDB", "random", "random-care_small", 0.54, 0.49, probe_head="linear_concat",
             pooling="mean_std", encoder_source="random:care_small")
    drawn = {}
    monkeypatch.setattr(bench, "plot_scores", lambda series, datasets, path, **kw: drawn.update(
        series=series, datasets=datasets, path=path))
    bench.main(["--results", str(tmp_path), "--markdown", "--datasets", "EmoDB,URDU",
                "--label", "random-care_small=control", "--label", "egemaps=eGeMAPS",
                "--plot", str(tmp_path / "scores.png")])
    assert drawn["datasets"] == ["EmoDB", "URDU"] and drawn["path"] == str(tmp_path / "scores.png")
    assert list(drawn["series"]) == ["control", "eGeMAPS"]  # the labels' order
    assert drawn["series"]["control"] == {"EmoDB": [pytest.approx(54.0)]}
    assert drawn["series"]["eGeMAPS"] == {"EmoDB": [pytest.approx(64.0)], "URDU": [pytest.approx(73.0)]}
    monkeypatch.undo()
    bench.main(["--results", str(tmp_path), "--markdown", "--plot", str(tmp_path / "real.png")])
    assert (tmp_path / "real.png").read_bytes().startswith(b"\x89PNG")


def test_no_results_is_one_line(tmp_path, bench):
    (tmp_path / "none").mkdir()
    text = bench.results_table(tmp_path / "none")
    assert text.count("\n") == 1 and "No probing results" in text


def test_missing_results_folder_is_an_error(tmp_path, bench, capsys):
    """A mistyped --results folder: exit 2 naming it, not an empty table (X22)."""
    with pytest.raises(SystemExit) as stop:
        bench.main(["--results", str(tmp_path / "no_such_folder"), "--markdown"])
    assert stop.value.code == 2 and "no_such_folder: no such folder" in capsys.readouterr().err


MALFORMED = {
    "null": (lambda r: None, "a JSON NoneType"),
    "list": (lambda r: [1, 2], "a JSON list"),
    "no ua": (lambda r: r["metrics"]["mean"].pop("ua") and r, "metrics.mean.ua is None"),
    "no std_folds": (lambda r: r["metrics"].pop("std_folds") and r, "no metrics.std_folds"),
    "metrics a list": (lambda r: dict(r, metrics=[]), "metrics is a list"),
    "wf1 a string": (lambda r: r["metrics"]["mean"].update(weighted_f1="0.5") or r, "weighted_f1 is '0.5'"),
    "wf1 NaN": (lambda r: r["metrics"]["mean"].update(weighted_f1=float("nan")) or r, "weighted_f1 is nan"),
    "dataset null": (lambda r: dict(r, dataset=None), "dataset is None"),
    "no per_fold": (lambda r: r["metrics"].pop("per_fold") and r, "no metrics.per_fold"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_results_named_not_a_traceback(tmp_path, bench, case):
    """Each malformed or partial results.json: a ValueError naming the file
    and what is wrong (X13), which --results turns into one line."""
    path = fake_run(tmp_path, "EmoDB", "egemaps", "egemaps", 0.6, 0.6)
    edit, message = MALFORMED[case]
    path.write_text(json.dumps(edit(json.loads(path.read_text()))))
    with pytest.raises(ValueError, match="EmoDB/egemaps/results.json: .*" + message.replace("(", r"\(")):
        bench.results_table(tmp_path)


def test_bad_results_named(tmp_path, bench):
    path = fake_run(tmp_path, "EmoDB", "egemaps", "egemaps", 0.6, 0.6)
    data = json.loads(path.read_text())
    del data["metrics"]
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=r"EmoDB/egemaps/results.json: no metrics"):
        bench.results_table(tmp_path)
    path.write_text("{not json")
    with pytest.raises(ValueError, match="not a readable results.json"):
        bench.results_table(tmp_path)


def test_two_runs_of_one_configuration_refused(tmp_path, bench):
    fake_run(tmp_path, "EmoDB", "egemaps", "egemaps", 0.6, 0.6)
    fake_run(tmp_path, "EmoDB", "egemaps-again", "egemaps", 0.7, 0.7)
    with pytest.raises(ValueError, match="two runs of the same encoder and probe on EmoDB"):
        bench.results_table(tmp_path)


def test_not_speaker_independent_marked(tmp_path, bench):
    fake_run(tmp_path, "EmoDB", "emobox-egemaps", "egemaps", 0.69, 0.68, speaker_independent=False)
    text = bench.results_table(tmp_path)
    assert "`mlp`, `mean` pooling †" in text and "† not speaker-independent" in text


def test_results_mode_refuses_recipe_options(tmp_path, bench):
    with pytest.raises(SystemExit):
        bench.main(["--results", str(tmp_path), "--markdown", "--seeds", "[1]"])


def test_rows_of_the_recipes_default_normalisation(tmp_path, bench):
    """--normalization default keeps, per corpus, the runs of its recipe's current
    feature_normalization (EmoDB speaker, URDU none), one row saying which and naming a
    forced run; --normalization none adds the unnormalised rows after it, labelled."""
    assert bench.recipe_normalization("EmoDB") == "speaker" and bench.recipe_normalization("urdu") == "none"
    fake_run(tmp_path, "EmoDB", "egemaps", "egemaps", 0.6, 0.6)
    fake_run(tmp_path, "EmoDB", "egemaps-speaker_norm", "egemaps", 0.7, 0.7, normalization={"mode": "speaker"})
    fake_run(tmp_path, "EmoDB", "egemaps-corpus_norm", "egemaps", 0.65, 0.65, normalization={"mode": "corpus"})
    fake_run(tmp_path, "URDU", "egemaps", "egemaps", 0.5, 0.5)
    fake_run(tmp_path, "URDU", "egemaps-speaker_norm", "egemaps", 0.2, 0.2,
             normalization={"mode": "speaker", "single_label_speakers_allowed": True})
    fake_run(tmp_path, "ASED", "egemaps-speaker_norm", "egemaps", 0.9, 0.9,
             normalization={"mode": "speaker", "single_label_speakers_allowed": True})
    lines = bench.main(["--results", str(tmp_path), "--markdown", "--datasets", "EmoDB,URDU",
                        "--normalization", "default", "--normalization", "none"]).splitlines()
    assert lines[2] == ("| `egemaps` | `mlp`, `mean` pooling, the recipes' defaults, speaker-normalised "
                        "(URDU: no normalisation) | 70.0 ± 10.0 / 70.0 | 50.0 ± 10.0 / 50.0 | 60.0 / 60.0 |")
    assert lines[3] == ("| `egemaps` | `mlp`, `mean` pooling, no normalisation "
                        "| 60.0 ± 10.0 / 60.0 | 50.0 ± 10.0 / 50.0 | 55.0 / 55.0 |")
    assert len(lines) == 6 and "the recipes' defaults: each corpus with its recipe's" in lines[5]
    text = bench.results_table(tmp_path, columns=["EmoDB", "ASED"], normalizations=["default"])
    assert "speaker-normalised (ASED: speaker, forced)" in text  # forced on its corpus: named
    text = bench.results_table(tmp_path, columns=["EmoDB"], normalizations=["corpus"])
    assert "corpus-normalised | 65.0" in text and "70.0" not in text
