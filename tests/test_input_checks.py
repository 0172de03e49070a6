"""Inputs that gave silently wrong answers, refused or warned about before any
training, and how a recipe reports a user's mistake: standardisation of
values constant in training, dimensional attribute columns, categorical CSVs,
cross-corpus corpus names, and command-line overrides."""

import csv
import logging
import math
import os
import subprocess
import sys
from functools import partial

import numpy as np
import pytest
import torch
from speechbrain.dataio import audio_io

from care.lobes import EmotionProbe
from care.recipe import load_script
from conftest import REPO

TEMPLATE = REPO / "templates" / "emotion_probe"


def write_csv(path, rows):
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return str(path)


@pytest.fixture
def corpus(tmp_path):
    """Six 0.3 s tones by three speakers in ``tmp_path/corpus``; rows of a CSV."""
    folder = tmp_path / "corpus"
    folder.mkdir()
    rows = []
    for k in range(6):
        t = torch.arange(4800) / 16000
        audio_io.save(str(folder / f"{k}.wav"), 0.3 * torch.sin(2 * math.pi * (100 + 40 * k) * t)[None], 16000)
        rows.append({"path": f"{k}.wav", "label": "ab"[k % 2], "speaker": f"s{k % 3}",
                     "arousal": str(1 + k), "valence": str(5 - k % 4)})
    return folder, rows


def prepare_csv():
    return load_script(TEMPLATE / "csv_prepare.py", "template_csv_prepare").prepare_csv


# --- standardisation ---------------------------------------------------------------


def test_constant_training_features_keep_scale_one():
    """Reproduction: a feature constant in training got std 1e-5, so a test
    value that differed became a standard score near 1e4. It now gets scale 1
    (as scikit-learn's StandardScaler)."""
    train = torch.randn(20, 2, 4)
    train[:, 0, 1] = 3.0
    probe = EmotionProbe(2, 4, 3)
    probe.set_normalisation(train)
    assert probe.feature_std[0, 1] == 1.0 and probe.feature_mean[0, 1] == 3.0
    torch.testing.assert_close(probe.feature_std[1], train[:, 1].std(dim=0))


def dimensional_fold(tmp_path, data, features, attributes, loss="ccc"):
    """One fold of the probing loop's dimensional task (train 100, valid 30, test 30)."""
    import json

    from speechbrain.utils.train_logger import FileTrainLogger

    from care.probing import loop
    from care.probing.dimensional import DimensionalTask

    ids = sorted(data)
    (tmp_path / "prepare.json").write_text(json.dumps({"options": {"task": "dimensional"}}))
    hparams = {"batch_size": 16, "noprogressbar": True, "train_logger": FileTrainLogger,
               "prepare_folder": str(tmp_path), "attributes": attributes, "dimensional_loss": loss}
    head = {"probe": partial(EmotionProbe, hidden_dim=32, dropout=0.0, layer_norm=False),
            "opt_class": partial(torch.optim.AdamW, lr=0.01),
            "epochs": 25, "refit": True, "members": 1}
    dims = {"num_layers": 2, "input_dim": 8, "num_classes": len(attributes), "layers": None}
    experiment = loop.Experiment(hparams, {"device": "cpu"}, features, data,
                                 DimensionalTask(hparams, data), dims, loop.probe_settings({"head": head}))
    return loop.train_fold(experiment, (ids[:100], ids[100:130], ids[130:]), 1, "f",
                           str(tmp_path / "fold"))


def test_dimensional_fold_with_a_feature_constant_in_training(tmp_path):
    """Reproduction: a feature constant in the training folds (e.g. an
    eGeMAPS functional that is zero there) gave a fold MAE of 56 on a 1-5
    scale. Predictions now stay in the corpus's range."""
    generator = torch.Generator().manual_seed(0)
    ids = [f"u{i:03d}" for i in range(160)]
    features = {u: torch.randn(2, 8, generator=generator) for u in ids}
    for i, u in enumerate(ids):
        features[u][0, 0] = 0.0 if i < 130 else 1.0  # constant in training and validation
    weights = torch.randn(8, generator=generator)
    data = {u: {"arousal": 3.0 + 0.5 * float(features[u][1] @ weights)} for u in ids}
    result = dimensional_fold(tmp_path, data, features, ["arousal"])
    assert result["test"]["mae_arousal"] < 1.0
    predictions = np.array(result["outputs"]["predictions"])
    assert predictions.min() > -5 and predictions.max() < 11


def test_dimensional_column_at_a_tiny_scale_is_learned(tmp_path):
    """Reproduction: an attribute at 1e-9 scale was standardised with a
    1e-5 floor and never learned; its standard deviation is now used."""
    generator = torch.Generator().manual_seed(0)
    ids = [f"u{i:03d}" for i in range(160)]
    features = {u: torch.randn(2, 8, generator=generator) for u in ids}
    weights = torch.randn(8, generator=generator)
    data = {u: {"arousal": 1e-9 * (3.0 + float(features[u][1] @ weights))} for u in ids}
    result = dimensional_fold(tmp_path, data, features, ["arousal"], loss="mse")
    assert result["test"]["ccc_arousal"] > 0.8


# --- dimensional attribute columns -----------------------------------------------


def test_dimensional_attributes_refused_before_training(corpus, tmp_path):
    """Reproduction: a constant column reported CCC 0 in the headline mean;
    an attribute named duration overwrote the manifest's durations;
    `[arousal, arousal]` trained every fold and died in the export; `1_000`
    was read as a number. Each is refused, naming the column."""
    from care.probing.dimensional import manifest_attributes

    data = {f"u{k}": {"duration": 0.3, "arousal": float(k), "valence": 2.0} for k in range(4)}
    with pytest.raises(ValueError, match="attribute 'arousal' is given 2 times"):
        manifest_attributes(data, ["arousal", "arousal"])
    with pytest.raises(ValueError, match="attribute 'duration' is a manifest field"):
        manifest_attributes(data, ["duration"])
    with pytest.raises(ValueError, match="attribute 'valence' has the one value 2 in all 4 utterances"):
        manifest_attributes(data, ["arousal", "valence"])
    with pytest.raises(ValueError, match="'valence' has the one value"):
        manifest_attributes(data)

    folder, rows = corpus
    prepare = partial(prepare_csv(), str(folder), save_folder=str(tmp_path / "prepared"),
                      num_folds=3, task="dimensional")
    with pytest.raises(ValueError, match="attribute 'duration' is a manifest field"):
        prepare(csv_file=write_csv(tmp_path / "a.csv", [{**row, "duration": "19.7"} for row in rows]),
                attributes=["arousal", "duration"])
    rows[2]["arousal"] = "1_000"
    with pytest.raises(ValueError, match=r"a.csv, line 4: arousal is not a number \('1_000'\); write a plain decimal"):
        prepare(csv_file=write_csv(tmp_path / "a.csv", rows))
    rows[2]["arousal"] = "3"
    for row in rows:
        row["valence"] = "4"
    with pytest.raises(ValueError, match="attribute 'valence' has the one value 4 in all 6 utterances"):
        prepare(csv_file=write_csv(tmp_path / "a.csv", rows))


# --- categorical CSVs ------------------------------------------------------------


def test_categorical_csv_label_spread_warned_and_folders_named(corpus, tmp_path, caplog):
    """Reproduction: a label with one utterance, or labels each tied to one
    speaker, passed silently. They are warned about with counts; and a row
    naming a folder says so."""
    folder, rows = corpus
    rows = [{k: row[k] for k in ("path", "label", "speaker")} for row in rows]
    rows[5]["label"] = "c"  # one utterance
    for row in rows:  # b only ever by speaker s1
        if row["label"] == "b":
            row["speaker"] = "s1"
    prepare = partial(prepare_csv(), str(folder), num_folds=3)
    with caplog.at_level(logging.WARNING):
        prepare(str(tmp_path / "prepared"), csv_file=write_csv(tmp_path / "a.csv", rows))
    assert "label 'b' has 2 utterances, all of one speaker (s1)" in caplog.text
    assert "label 'c' has 1 utterance" in caplog.text
    (folder / "sub.wav").mkdir()
    rows[0]["path"] = "sub.wav"
    with pytest.raises(ValueError, match="sub.wav: is a folder, not an audio file"):
        prepare(str(tmp_path / "prepared2"), csv_file=write_csv(tmp_path / "b.csv", rows))


def test_csv_file_whose_name_starts_with_two_dots_is_inside(corpus, tmp_path):
    """Reproduction: a row naming ``..take1.wav`` inside the data folder was
    refused as "not inside the data folder" (the test was startswith("..")).
    Path components decide: ``../x.wav`` is still refused."""
    from care.processing.manifest import ManifestError, relative_wav

    folder, rows = corpus
    rows = [{k: row[k] for k in ("path", "label", "speaker")} for row in rows]
    os.rename(folder / "0.wav", folder / "..take1.wav")
    rows[0]["path"] = "..take1.wav"
    prepared = tmp_path / "prepared"
    prepare_csv()(str(folder), str(prepared), csv_file=write_csv(tmp_path / "a.csv", rows), num_folds=3)
    assert "{data_root}/..take1.wav" in (prepared / "data.json").read_text()
    assert relative_wav(folder / "sub" / "..x.wav", folder) == "{data_root}/sub/..x.wav"
    with pytest.raises(ManifestError, match="is not inside the data folder"):
        relative_wav(folder / ".." / "x.wav", folder)


# --- cross-corpus ------------------------------------------------------------------


def test_cross_corpus_unknown_folder_name_and_repeated_corpus_refused(tmp_path, capsys):
    """Reproduction: `--dataset_folder urdo=PATH` was ignored (the default
    folder used) and `--train emodb,emodb` doubled the counts. Both are
    refused, naming the problem."""
    cross = load_script(REPO / "recipes" / "cross_corpus.py", "cross_corpus")
    for name in ("emodb", "urdu"):
        (tmp_path / name).mkdir()
    common = ["--encoder_source", "egemaps", "--data_folder", str(tmp_path)]
    for argv, problem in (
        (["--train", "emodb", "--test", "urdu", "--dataset_folder", f"urdo={tmp_path}"],
         "urdo is not among the corpora of this run"),
        (["--train", "emodb,emodb", "--test", "urdu"], "--train names emodb more than once"),
    ):  # fmt: skip
        with pytest.raises(SystemExit) as exit_info:
            cross.main(argv + common)
        assert exit_info.value.code == 2
        assert problem in capsys.readouterr().err


def test_cross_corpus_folder_of_a_corpus_outside_the_pair_is_ignored(tmp_path, capsys):
    """Reproduction: one list of `--dataset_folder`s for a loop over pairs failed
    on every pair ("nemo is not among the corpora of this run"). A corpus with a
    recipe that is not in the pair is now ignored with a line saying so; the
    pair's own folders are still checked."""
    cross = load_script(REPO / "recipes" / "cross_corpus.py", "cross_corpus")
    (tmp_path / "emodb").mkdir()
    with pytest.raises(SystemExit) as exit_info:
        cross.main(["--train", "emodb", "--test", "urdu", "--encoder_source", "egemaps",
                    "--data_folder", str(tmp_path), "--dataset_folder", f"nemo={tmp_path}",
                    "--dataset_folder", f"urdu={tmp_path / 'missing'}"])
    assert exit_info.value.code == 2
    out, err = capsys.readouterr()
    assert "nemo takes no part in this run, ignored" in out
    assert "urdu: data folder" in err and "not found" in err and "nemo" not in err


# --- user errors: one line, no traceback -------------------------------------------


def template_argv(tmp_path, folder, *extra):
    return ["hparams/probe.yaml", "--data_folder", str(folder), "--encoder_source", "egemaps",
            "--experiment_folder", str(tmp_path / "results"), "--device", "cpu", *extra]


def test_bad_overrides_are_user_errors(corpus, tmp_path):
    """Reproduction: a repeated key gave a YAML traceback, an unknown key a
    KeyError, and `{strict:False}` was read as the key `strict:False` (so
    strict stayed as it was). Each is now an InputError (a ValueError) naming the option."""
    folder, rows = corpus
    write_csv(folder / "metadata.csv", [{k: r[k] for k in ("path", "label", "speaker")} for r in rows])
    train = load_script(TEMPLATE / "train.py", "template_train")
    for extra, problem in (
        (["--num_folds", "3", "--num_folds", "4"], "--num_folds given more than once"),
        (["--members", "3", "--members=4"], "--members given more than once"),
        (["--prepare_options", "{csv_file: x.csv, strict:False}"], "reads as the one key 'strict:False'"),
        (["--no_such_key", "3"], "Override 'no_such_key' not found"),
        (["--prepare_options", "{csv_file: x.csv, no_such_option: 1}"], r"unknown option\(s\) \['no_such_option'\]"),
    ):  # fmt: skip
        with pytest.raises(ValueError, match=problem):
            train.main(template_argv(tmp_path, folder, *extra))


def test_missing_data_folder_names_the_option_and_the_command(tmp_path):
    """Reproduction: a recipe run without --data_folder ended in hyperpyyaml's
    traceback "'data_folder' is a !PLACEHOLDER and must be replaced". The
    error now names the option and gives the command with it."""
    from care.recipe import InputError, load_recipe

    recipe = REPO / "recipes" / "IEMOCAP" / "emotion"
    argv = ["hparams/probe.yaml", "--output_folder", str(tmp_path)]
    with pytest.raises(InputError, match=r"probe.yaml: --data_folder is required .*; run: python "
                                         r".* hparams/probe.yaml --output_folder .* --data_folder DATA_FOLDER$"):
        load_recipe(str(recipe), argv)


def run_template(tmp_path, folder, *extra):
    return subprocess.run(
        [sys.executable, str(TEMPLATE / "train.py"), *template_argv(tmp_path, folder, *extra)],
        capture_output=True, text=True, cwd=TEMPLATE, timeout=300,
        env=dict(os.environ, PYTHONPATH=str(REPO)),
    )  # fmt: skip


def test_user_errors_print_one_line_bugs_a_traceback(corpus, tmp_path):
    """Reproduction: recipe errors printed a full traceback before the clear
    last line. A user's mistake (bad data, a repeated key) now prints one
    line and exits non-zero; a bug still shows its traceback."""
    folder, rows = corpus
    write_csv(folder / "metadata.csv", [{"path": r["path"], "label": r["label"]} for r in rows])
    for run, problem in (
        (run_template(tmp_path, folder), "metadata.csv: missing column"),
        (run_template(tmp_path, folder, "--num_folds", "3", "--num_folds", "4"),
         "--num_folds given more than once"),
    ):  # fmt: skip
        assert run.returncode != 0
        assert "Traceback" not in run.stderr, run.stderr
        assert f"train.py: error: " in run.stderr and problem in run.stderr, run.stderr
    bug = subprocess.run(
        [sys.executable, "-c", "from care.recipe import user_errors\n"
         "with user_errors():\n    raise RuntimeError('a bug')"],
        capture_output=True, text=True, cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO)),
    )  # fmt: skip
    assert bug.returncode == 1 and "Traceback" in bug.stderr and "RuntimeError: a bug" in bug.stderr


# --- sample rates ---------------------------------------------------------------


def _tone(path, rate, seconds, frequency=1000.0):
    t = torch.arange(int(seconds * rate), dtype=torch.float64) / rate
    audio_io.save(str(path), (0.5 * torch.sin(2 * math.pi * frequency * t)).float()[None], rate)
    return str(path)


def test_odd_sample_rate_builds_one_bounded_resampling_kernel(tmp_path, monkeypatch):
    """Reproduction: a rate coprime with 16 kHz (8001 Hz) made every window
    build a [16000, 8015] sinc kernel (2.8 GB and 20 s for a 20-s clip). Each
    file now builds one kernel of at most MAX_KERNEL values."""
    import torchaudio.functional.functional as functional
    import torchaudio.transforms._transforms as transforms

    from care.processing.audio import MAX_KERNEL
    from care.processing.stream import AudioStream

    built = []
    original = functional._get_sinc_resample_kernel

    def recording(*args, **kwargs):
        kernel, width = original(*args, **kwargs)
        built.append(kernel.numel())
        return kernel, width

    monkeypatch.setattr(functional, "_get_sinc_resample_kernel", recording)
    monkeypatch.setattr(transforms, "_get_sinc_resample_kernel", recording)
    for rate in (8001, 100003):
        built.clear()
        with AudioStream(_tone(tmp_path / f"{rate}.wav", rate, 3.0)) as stream:
            for start in (0, 16000, 32000):
                stream.read(start, start + 16000)
        assert len(built) == 1 and built[0] <= MAX_KERNEL, (rate, built)


def test_odd_sample_rates_resample_to_the_same_tone(tmp_path):
    """A 1 kHz tone at 8001, 44100 and 100003 Hz keeps its frequency (within
    the documented 0.05 %) and its energy, read whole or in segments."""
    from care.processing.audio import load_audio, resampling_ratio
    from care.processing.stream import AudioStream

    for rate in (8001, 44100, 100003):
        path = _tone(tmp_path / f"{rate}.wav", rate, 2.0)
        whole = load_audio(path)
        orig, new = resampling_ratio(rate)
        assert abs(orig * 16000 / new - rate) <= 5e-4 * rate
        assert abs(len(whole) - 32000) <= 0.0005 * 32000 + 1
        middle = whole[1000:-1000].double()
        spectrum = torch.fft.rfft(middle * torch.hann_window(len(middle), dtype=torch.float64))
        peak = spectrum.abs().argmax().item() * 16000 / len(middle)
        assert abs(peak - 1000) < 1.0, (rate, peak)
        assert abs(middle.pow(2).mean().sqrt().item() - 0.5 / math.sqrt(2)) < 0.01, rate
        with AudioStream(path) as stream:
            assert stream.num_samples == len(whole)
            assert torch.allclose(stream.read(8000, 24000), whole[8000:24000], atol=1e-4)


def test_absurd_sample_rates_are_refused_naming_the_file(tmp_path):
    """A header below 1 kHz or above 384 kHz (a damaged file, or one made to
    cost memory) is refused naming the file, whichever reader meets it."""
    from care.processing.audio import AudioError, audio_info, load_audio
    from care.processing.stream import AudioStream

    for rate in (500, 1_000_000):
        path = _tone(tmp_path / f"odd_{rate}.wav", rate, 0.01, frequency=100.0)
        for read in (load_audio, AudioStream, audio_info):
            with pytest.raises(AudioError, match=rf"odd_{rate}\.wav: sample rate {rate} Hz"):
                read(path)
