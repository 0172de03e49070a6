"""Inference with a classifier exported from a normalised probing run
(``feature_normalization: speaker | corpus``): the folder stores its
normaliser, and EmotionRecognizer and care-classify z-score each group of
windows (a recording, one speaker's recordings) by the group's statistics,
refusing a group too small to have any unless told to fall back on the
stored corpus statistics.

The fixture classifier's label is the sign of one normalised feature,
eGeMAPS loudness: ``loud`` above its group's mean, ``calm`` below. A loud and
a quiet recording of one speaker are therefore ``loud`` and ``calm`` when
grouped, and both ``calm`` when each is normalised by the stored corpus
statistics (whose mean loudness is above both)."""

import json
import os
import shutil

import pytest
import torch
from speechbrain.dataio import audio_io

from care.cli import main, read_speaker_csv
from care.inference import CLASSIFIER_CLASSES, EmotionRecognizer, save_classifier
from care.lobes import EGeMAPSFeatures, EmotionProbe
from care.lobes.export import FolderError, UntrustedFolderError, check_hparams
from care.processing.normalization import NormalizationError, normalize_groups

LABELS = ["calm", "loud"]
RATE = 16000
CORPUS_LOUDNESS = 5.0  # the stored corpus mean of the loudness feature: above every test file


@pytest.fixture(scope="module")
def classifier(tmp_path_factory):
    """A speaker-normalised eGeMAPS classifier driven by mean loudness (1 s
    windows, 1 s hop, at least 5 windows per group)."""
    extractor = EGeMAPSFeatures()
    index = extractor.smile.feature_names.index("loudness_sma3_amean")
    probe = EmotionProbe(1, extractor.dim, 2, num_hidden_layers=0, dropout=0.0, layer_norm=False,
                         layer_combination="concatenate")
    linear = probe.mlp[-1]
    with torch.no_grad():
        linear.weight.zero_()
        linear.bias.zero_()
        linear.weight[1, index], linear.weight[0, index] = 4.0, -4.0
    mean = torch.zeros(1, extractor.dim)
    mean[0, index] = CORPUS_LOUDNESS
    normalization = {"mode": "speaker", "min_utterances": 5, "mean": mean, "std": torch.ones(1, extractor.dim)}
    root = tmp_path_factory.mktemp("normalised")
    folder = save_classifier(str(root / "classifier"), extractor, probe.eval(), LABELS,
                             window=1.0, hop=1.0, normalization=normalization)
    plain = save_classifier(str(root / "plain"), extractor, probe.eval(), LABELS, window=1.0, hop=1.0)
    return dict(folder=folder, plain=plain, index=index, extractor=extractor, probe=probe)


@pytest.fixture(scope="module")
def recognizer(classifier):
    return EmotionRecognizer.from_hparams(source=classifier["folder"], run_opts={"device": "cpu"})


@pytest.fixture(scope="module")
def speech(clips):
    """Three seconds of speech (three 1 s windows), peak 0.9."""
    audio = torch.cat(clips)[: 3 * RATE]
    return 0.9 * audio / audio.abs().max()


@pytest.fixture
def speaker(speech, tmp_path):
    """One speaker's loud and quiet recordings (3 windows each) in one folder,
    and one short file (one window) in another."""
    folder = tmp_path / "speaker_a"
    folder.mkdir()
    (tmp_path / "other").mkdir()
    paths = {}
    for name, audio in (("loud", speech), ("quiet", 0.05 * speech), ("short", speech[:RATE])):
        path = folder / f"{name}.wav" if name != "short" else tmp_path / "other" / "short.wav"
        audio_io.save(str(path), audio.unsqueeze(0), RATE)
        paths[name] = str(path)
    return paths


def test_export_stores_the_normalizer_and_loads_untrusted(classifier, recognizer, tmp_path):
    folder = classifier["folder"]
    assert sorted(os.listdir(folder)) == ["checksums.sha256", "extractor.ckpt", "hyperparams.yaml",
                                          "label_encoder.ckpt", "normalizer.ckpt", "probe.ckpt"]
    text = open(os.path.join(folder, "hyperparams.yaml"), encoding="utf-8").read()
    assert "normalizer: !new:care.lobes.FeatureNormalizer" in text and "# Features are speaker-normalised: each group" in text
    assert text.count("normalizer: !ref <normalizer>") == 2  # modules and pretrainer loadables
    assert "normalizer.ckpt" in open(os.path.join(folder, "checksums.sha256")).read()
    check_hparams(os.path.join(folder, "hyperparams.yaml"), CLASSIFIER_CLASSES)
    assert recognizer.normalization == "speaker" and recognizer.mods.normalizer.min_utterances == 5
    mean, std = recognizer.mods.normalizer.statistics()
    assert mean[0, classifier["index"]] == CORPUS_LOUDNESS and torch.all(std == 1)
    plain = EmotionRecognizer.from_hparams(source=classifier["plain"])
    assert plain.normalization == "none" and "normalizer" not in plain.mods
    assert "normalizer" not in os.listdir(classifier["plain"])

    # The normaliser's arguments are restricted like every exported class's.
    evil = tmp_path / "evil"
    shutil.copytree(folder, evil)
    os.remove(evil / "checksums.sha256")
    (evil / "hyperparams.yaml").write_text(text.replace("    min_utterances: 5", "    min_utterances: 5\n    source: /x"))
    with pytest.raises(UntrustedFolderError, match="argument source"):
        EmotionRecognizer.from_hparams(source=str(evil))
    # Strictly loaded: statistics of another shape are refused, naming the file.
    (evil / "hyperparams.yaml").write_text(text.replace("    dim: 88", "    dim: 87"))
    with pytest.raises(FolderError, match="normalizer.ckpt"):
        EmotionRecognizer.from_hparams(source=str(evil))
    # And checked: a normaliser from elsewhere does not match the checksums.
    shutil.rmtree(evil)
    shutil.copytree(folder, evil)
    torch.save({"mean": torch.zeros(1, 88), "std": torch.ones(1, 88)}, evil / "normalizer.ckpt")
    with pytest.raises(Exception, match="normalizer.ckpt"):
        EmotionRecognizer.from_hparams(source=str(evil))
    with pytest.raises(ValueError, match="exports no normaliser"):
        save_classifier(str(tmp_path / "none"), classifier["extractor"], classifier["probe"], LABELS,
                        normalization={"mode": "none", "min_utterances": 5, "mean": mean, "std": std})


def test_grouping_changes_the_label(recognizer, speaker):
    """One speaker's loud and quiet recordings: grouped, loud and calm; each
    alone, refused (3 windows < 5) or, falling back on the corpus statistics,
    both calm, each result saying which statistics it got."""
    loud, quiet = speaker["loud"], speaker["quiet"]
    grouped = dict(recognizer.recognize_files([loud, quiet], groups={loud: "a", quiet: "a"}))
    assert (grouped[loud].label, grouped[quiet].label) == ("loud", "calm")
    assert grouped[loud].normalization == "statistics of group 'a' (2 files, 6 windows)"
    assert grouped[loud].to_dict()["normalization"] == grouped[loud].normalization
    alone = dict(recognizer.recognize_files([loud, quiet]))
    for path in (loud, quiet):
        assert isinstance(alone[path], NormalizationError)
        assert f"{path}: 3 windows" in str(alone[path]) and "fewer than the 5" in str(alone[path])
    fallback = dict(recognizer.recognize_files([loud, quiet], fallback="corpus"))
    assert (fallback[loud].label, fallback[quiet].label) == ("calm", "calm")
    assert fallback[loud].normalization == "stored corpus statistics (fallback: 3 windows < 5)"


def test_long_recording_normalised_by_its_own_windows(recognizer, classifier, speech, tmp_path):
    """A recording quiet then loud (6 windows): its windows z-scored by their
    own statistics, exactly as normalize_groups does it, then the probe."""
    path = str(tmp_path / "rising.wav")
    recording = torch.cat([0.05 * speech, speech])
    audio_io.save(path, recording.unsqueeze(0), RATE)
    result = recognizer.recognize_file(path, batch_size=4)
    assert [w.label for w in result.windows] == ["calm"] * 3 + ["loud"] * 3
    assert result.normalization == "statistics of its own 6 windows"
    raw = recognizer.encode_batch(recording.reshape(6, RATE), kind="layers")
    expected, _ = normalize_groups(raw, ["r"] * 6, min_utterances=5)
    probs = classifier["probe"](expected).softmax(dim=-1)
    torch.testing.assert_close(torch.stack([w.probabilities for w in result.windows]), probs,
                               atol=1e-4, rtol=1e-3)
    # A raw batch is one group: the same six windows give the same probabilities.
    torch.testing.assert_close(recognizer.classify_batch(recording.reshape(6, RATE))[0], probs,
                               atol=1e-4, rtol=1e-3)


def test_short_file_refused_or_warned_never_zeros(recognizer, speaker, caplog):
    """One short file alone with a speaker-normalised classifier: its single
    window would be z-scored to all zeros (a label that says nothing). It is
    refused, naming the file, the reason and the ways out; with the corpus
    fallback it is labelled, with a warning."""
    short = speaker["short"]
    with pytest.raises(NormalizationError) as error:
        recognizer.classify_file(short)
    message = str(error.value)
    for part in (short, "1 window", "fewer than the 5", "all zeros", "--speaker_csv",
                 "--group_by folder", "--normalization_fallback corpus"):
        assert part in message, (part, message)
    with caplog.at_level("WARNING"):
        out_prob, score, index, text_lab = recognizer.classify_file(short, fallback="corpus")
    assert text_lab == ["calm"] and "stored statistics" in caplog.text and short in caplog.text
    batch = torch.stack([torch.zeros(RATE), torch.ones(RATE)])
    with pytest.raises(NormalizationError, match="at least 5 items"):
        recognizer.classify_batch(batch)
    assert recognizer.classify_batch(batch, fallback="corpus")[3] == ["calm", "calm"]
    with pytest.raises(ValueError, match="fallback must be"):
        recognizer.recognize_file(short, fallback="speaker")


def test_cli_refuses_one_short_file(classifier, speaker, capsys):
    short = speaker["short"]
    assert main(["--source", classifier["folder"], short]) == 1
    out, err = capsys.readouterr()
    assert out == "" and short in err and "fewer than the 5" in err and "all zeros" in err


def test_cli_fallback_warns_and_labels(classifier, speaker, capsys, caplog):
    short = speaker["short"]
    with caplog.at_level("WARNING"):
        status = main(["--source", classifier["folder"], short, "--normalization_fallback", "corpus"])
    out, err = capsys.readouterr()
    assert status == 0 and "stored statistics" in caplog.text
    header, row = out.splitlines()
    assert header.split()[-1] == "normalization" and row.split()[2] == "calm"
    assert row.endswith("stored corpus statistics (fallback: 1 window < 5)")


def test_cli_groups_by_folder_and_speaker_csv(classifier, speaker, tmp_path, capsys):
    loud, quiet = speaker["loud"], speaker["quiet"]
    folder = os.path.dirname(loud)
    assert main(["--source", classifier["folder"], folder, "--group_by", "folder", "--jsonl"]) == 0
    records = {r["file"]: r for r in map(json.loads, capsys.readouterr().out.splitlines())}
    assert (records[loud]["label"], records[quiet]["label"]) == ("loud", "calm")
    assert "(2 files, 6 windows)" in records[loud]["normalization"]
    # The same grouping from a CSV (no header; paths relative to the CSV's folder) ...
    table = tmp_path / "speakers.csv"
    table.write_text("speaker_a/loud.wav,anna\nspeaker_a/quiet.wav,anna\n")
    assert main(["--source", classifier["folder"], loud, quiet, "--speaker_csv", str(table)]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()[1:]]
    assert [row[2] for row in rows] == ["loud", "calm"] and "'anna'" in rows[0]
    # ... a file it does not list fails with the reason, the others are labelled.
    assert main(["--source", classifier["folder"], loud, quiet, speaker["short"], "--speaker_csv",
                 str(table)]) == 1
    out, err = capsys.readouterr()
    assert len(out.splitlines()) == 3 and f"{speaker['short']}: not listed in --speaker_csv" in err
    # ... and from the file names (--speaker_pattern: the first group names the speaker); a name
    # it does not match fails with the reason.
    assert main(["--source", classifier["folder"], loud, quiet, speaker["short"], "--speaker_pattern",
                 r"^(?:loud|quiet)(\.wav)$"]) == 1
    out, err = capsys.readouterr()
    rows = [line.split() for line in out.splitlines()[1:]]
    assert [row[2] for row in rows] == ["loud", "calm"] and "'.wav'" in rows[0]
    assert "short.wav does not match --speaker_pattern" in err
    for wrong, message in ((["--speaker_pattern", "(", ], "not a regular expression"),
                           (["--speaker_pattern", "x", "--group_by", "all"], "give one")):
        with pytest.raises(SystemExit):
            main(["--source", classifier["folder"], loud, *wrong])
        assert message in capsys.readouterr().err
    # Each alone (the default): both refused.
    assert main(["--source", classifier["folder"], folder]) == 1
    assert capsys.readouterr().err.count("fewer than the 5") == 2


def test_speaker_csv_errors_name_the_file_and_line(classifier, speaker, tmp_path, capsys):
    loud = speaker["loud"]
    cases = {
        "missing.csv": None,
        "three.csv": "file,speaker\na.wav,anna\nb.wav,ben,extra\n",
        "empty_cell.csv": "a.wav,\n",
        "twice.csv": "a.wav,anna\nb.wav,ben\na.wav,ben\n",
        "nothing.csv": "file,speaker\n",
        "corpus_short.csv": "path,label,speaker\na.wav,anger,anna\nb.wav,ben\n",
        "corpus_no_speaker.csv": "path,label,speaker\na.wav,anger,\n",
    }
    expected = {"missing.csv": "cannot read it", "three.csv": "line 3: expected two non-empty cells",
                "empty_cell.csv": "line 1: expected", "twice.csv": "line 3: a.wav has speaker 'ben' here and "
                "'anna' on line 1", "nothing.csv": "no rows",
                "corpus_short.csv": "line 3: expected 3 cells as in the header",
                "corpus_no_speaker.csv": "line 2: expected 3 cells as in the header, file and speaker not empty"}
    for name, text in cases.items():
        path = tmp_path / name
        if text is not None:
            path.write_text(text)
        with pytest.raises(SystemExit) as exit_info:
            main(["--source", classifier["folder"], loud, "--speaker_csv", str(path)])
        err = capsys.readouterr().err
        assert exit_info.value.code == 2 and f"--speaker_csv {path}" in err and expected[name] in err, err
    with pytest.raises(SystemExit):
        main(["--source", classifier["folder"], loud, "--speaker_csv", str(path), "--group_by", "all"])
    assert "give one" in capsys.readouterr().err
    (tmp_path / "header.csv").write_text("path,speaker\nx.wav,anna\n")
    assert read_speaker_csv(str(tmp_path / "header.csv")) == {str(tmp_path / "x.wav"): "anna",
                                                              os.path.abspath("x.wav"): "anna"}
    # A corpus CSV as the template reads it (other columns, speaker anywhere): its file and speaker.
    (tmp_path / "corpus.csv").write_text("speaker,label,file\nanna,anger,x.wav\n")
    assert read_speaker_csv(str(tmp_path / "corpus.csv"))[str(tmp_path / "x.wav")] == "anna"


def test_unnormalised_classifier_ignores_grouping(classifier, speaker, capsys):
    """A classifier without a normaliser (as every one exported before it
    existed) classifies as before: grouping options are ignored with one
    line, the output is unchanged and its results carry no normalisation."""
    paths = [speaker["short"]]  # one file: no progress bar on stderr
    assert main(["--source", classifier["plain"], *paths]) == 0
    before = capsys.readouterr()
    assert before.err == "" and "normalization" not in before.out
    assert main(["--source", classifier["plain"], *paths, "--group_by", "all",
                 "--normalization_fallback", "corpus"]) == 0
    after = capsys.readouterr()
    assert after.out == before.out
    assert after.err.strip().endswith("does not normalise its features: --group_by, "
                                      "--normalization_fallback ignored")
    plain = EmotionRecognizer.from_hparams(source=classifier["plain"])
    result = plain.recognize_file(speaker["short"])
    assert result.normalization is None and "normalization" not in result.to_dict()
