"""The template recipe (templates/emotion_probe): CSV preparation with
speaker-independent folds, then the whole path a new user takes: train on a
CSV corpus, export, classify a folder of audio with EmotionRecognizer and the
command line."""

import csv
import json
import math
import os

import pytest
import torch
from speechbrain.dataio import audio_io

from care.cli import main
from care.inference import EmotionRecognizer
from care.lobes import CAREEncoder, save_encoder
from care.probing import encoder_name
from care.processing.manifest import ManifestError, load_manifest
from care.processing.normalization import NormalizationError, normalize_groups
from conftest import REPO, kill_at_write, load_module

TEMPLATE = REPO / "templates" / "emotion_probe"
LABELS = ["calm", "excited"]
SPEAKERS = ["ann", "ben", "cat", "dan"]


def load_template_module(name):
    return load_module(TEMPLATE / f"{name}.py", f"template_{name}")


def tone(f0, loudness, seconds, rate, generator):
    t = torch.arange(int(seconds * rate)) / rate
    phase = 2 * math.pi * torch.cumsum(f0 * (1 + 0.03 * torch.sin(2 * math.pi * 5 * t)), 0) / rate
    wave = sum(torch.sin(k * phase) / k for k in range(1, 5))
    return loudness * wave / wave.abs().max() + 0.01 * torch.randn(t.shape, generator=generator)


@pytest.fixture
def corpus(tmp_path):
    """4 speakers x 2 labels x 3 clips in sub-folders, at 16, 22.05 and
    44.1 kHz (stereo), listed in metadata.csv."""
    generator = torch.Generator().manual_seed(0)
    folder = tmp_path / "corpus"
    rows = []
    for s, speaker in enumerate(SPEAKERS):
        (folder / speaker).mkdir(parents=True)
        for label in LABELS:
            for take in range(3):
                rate = (16000, 22050, 44100)[take]
                f0 = (110 if label == "calm" else 260) * (1 + 0.1 * s)
                wave = tone(f0, 0.1 if label == "calm" else 0.6, 0.8 + 0.2 * take, rate, generator)
                name = f"{speaker}/{label}_{take}.{'flac' if take == 1 else 'wav'}"
                audio_io.save(str(folder / name), wave.unsqueeze(0).repeat(1 + take // 2, 1), rate)
                rows.append({"path": name, "label": label, "speaker": speaker})
    write_csv(folder / "metadata.csv", rows)
    return folder, rows


def write_csv(path, rows, fields=("path", "label", "speaker")):
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


def test_prepare_speaker_folds_and_idempotence(corpus, tmp_path):
    prepare_csv = load_template_module("csv_prepare").prepare_csv
    folder, rows = corpus
    save = tmp_path / "prepared"
    prepare_csv(str(folder), str(save), str(folder / "metadata.csv"), num_folds=3)
    data = load_manifest(save / "data.json")
    assert len(data) == len(rows)
    assert all(entry["wav"].startswith("{data_root}/") for entry in data.values())
    folds = {}
    for entry in data.values():
        folds.setdefault(entry["speaker"], set()).add(entry["fold"])
    assert all(len(f) == 1 for f in folds.values())  # a speaker lives in one fold
    assert {f for fs in folds.values() for f in fs} == {"fold1", "fold2", "fold3"}
    stamp = os.stat(save / "data.json").st_mtime_ns
    prepare_csv(str(folder), str(save), str(folder / "metadata.csv"), num_folds=3)
    assert os.stat(save / "data.json").st_mtime_ns == stamp  # unchanged: skipped
    prepare_csv(str(folder), str(save), str(folder / "metadata.csv"), num_folds=4)
    assert len({e["fold"] for e in load_manifest(save / "data.json").values()}) == 4


def test_prepare_errors_name_the_problem(corpus, tmp_path):
    prepare_csv = load_template_module("csv_prepare").prepare_csv
    folder, rows = corpus
    save, bad = str(tmp_path / "prepared"), folder / "bad.csv"
    write_csv(bad, rows, fields=("path", "label"))
    with pytest.raises(ManifestError, match=r"bad.csv: missing column\(s\) \['speaker'\]"):
        prepare_csv(str(folder), save, str(bad))
    write_csv(bad, rows + [rows[0]])
    with pytest.raises(ManifestError, match="line 26: ann/calm_0.wav already listed on line 2"):
        prepare_csv(str(folder), save, str(bad))
    (folder / "ann" / "broken.wav").write_bytes(b"RIFF" + bytes(100))
    extra = [{"path": "ann/missing.wav", "label": "calm", "speaker": "ann"},
             {"path": "ann/broken.wav", "label": "calm", "speaker": "ann"}]  # fmt: skip
    write_csv(bad, rows + extra)
    with pytest.raises(ManifestError, match="2 audio file.*missing.wav: no such file.*broken.wav"):
        prepare_csv(str(folder), save, str(bad))
    with pytest.raises(ManifestError, match=r"max_bad_files: 1"):
        prepare_csv(str(folder), save, str(bad), num_folds=4, max_bad_files=1)
    prepare_csv(str(folder), save, str(bad), num_folds=4, max_bad_files=2)
    assert len(load_manifest(os.path.join(save, "data.json"))) == len(rows)
    # Own folds that put a speaker on both sides are refused when splitting.
    own = [dict(row, fold=f"f{i % 3}") for i, row in enumerate(rows)]
    write_csv(bad, own, ("path", "label", "speaker", "fold"))
    prepare_csv(str(folder), str(tmp_path / "own"), str(bad))
    from care.processing.folds import fold_splits
    from care.processing.manifest import SpeakerOverlapError

    with pytest.raises(SpeakerOverlapError):
        next(fold_splits(load_manifest(tmp_path / "own" / "data.json")))
    with pytest.raises(ManifestError, match="cannot make 5 speaker groups from 4 speakers"):
        prepare_csv(str(folder), str(tmp_path / "five"), str(folder / "metadata.csv"), num_folds=5)


def test_duplicate_spellings_and_extra_fields_named(corpus, tmp_path):
    """Reproduction: one file listed as ./ann/x.wav and ann//x.wav kept the
    second row's label silently (an anger clip became sadness); a row with an
    extra field raised AttributeError naming neither file nor line."""
    prepare_csv = load_template_module("csv_prepare").prepare_csv
    folder, rows = corpus
    save, bad = str(tmp_path / "prepared"), folder / "bad.csv"
    other = "excited" if rows[0]["label"] == "calm" else "calm"
    twice = [dict(rows[0], path="./" + rows[0]["path"])] + rows[1:]
    twice.append(dict(rows[0], path=rows[0]["path"].replace("/", "//"), label=other))
    write_csv(bad, twice)
    with pytest.raises(ManifestError, match=r"bad.csv, line 26: ann//calm_0.wav already listed on line 2"):
        prepare_csv(str(folder), save, str(bad), num_folds=3)
    write_csv(bad, rows)
    with open(bad, "a") as handle:
        handle.write("dan/late.wav,calm,dan,surplus\n")
    with pytest.raises(ManifestError, match=r"bad.csv, line 26: 1 more field\(s\) than the header"):
        prepare_csv(str(folder), save, str(bad), num_folds=3)


def test_prepare_interrupted_manifest_atomic(corpus, tmp_path, monkeypatch):
    """The template's data.json / prepare.json pair: a kill after data.json
    (new options) but before prepare.json left the old record, which a run
    with the old options took as up to date; an edited data.json was kept."""
    import care.processing.preparation as preparation

    prepare_csv = load_template_module("csv_prepare").prepare_csv
    folder, rows = corpus
    save, csv_file = tmp_path / "prepared", str(folder / "metadata.csv")
    prepare_csv(str(folder), str(save), csv_file, num_folds=3)
    kill_at_write(monkeypatch, preparation, "prepare.json", save / ".prepare.json.x1y2.tmp")
    with pytest.raises(KeyboardInterrupt):
        prepare_csv(str(folder), str(save), csv_file, num_folds=4)
    monkeypatch.undo()
    prepare_csv(str(folder), str(save), csv_file, num_folds=3)
    assert len({e["fold"] for e in load_manifest(save / "data.json").values()}) == 3
    assert not list(save.glob("*.tmp"))
    data = load_manifest(save / "data.json")
    first = next(iter(data))
    data[first]["wav"] = "{data_root}/../../etc/passwd"  # edited (or planted) since
    (save / "data.json").write_text(json.dumps(data))
    prepare_csv(str(folder), str(save), csv_file, num_folds=3)
    assert load_manifest(save / "data.json")[first]["wav"] != "{data_root}/../../etc/passwd"


def test_untrusted_manifest_paths_confined(tmp_path):
    """Reproduction: a manifest entry {data_root}/../../etc/passwd was read."""
    from care.processing.manifest import check_manifest_paths, resolve_wav

    manifest = tmp_path / "data.json"
    entry = {"duration": 1.0, "label": "calm", "speaker": "s", "fold": "s"}
    for wav in ("{data_root}/../../etc/passwd", "{data_root}/a/../../x.wav", "/etc/passwd",
                "{data_root}"):  # fmt: skip
        manifest.write_text(json.dumps({"u1": dict(entry, wav=wav)}))
        with pytest.raises(ManifestError, match=r"data.json: utterance u1: .*(leaves|must start)"):
            load_manifest(manifest, str(tmp_path / "corpus"))
        with pytest.raises(ManifestError, match="utterance u1"):
            check_manifest_paths(manifest, str(tmp_path / "corpus"))
    assert resolve_wav("{data_root}/a/./b/../c.wav", "/corpus") == "/corpus/a/c.wav"


def test_template_end_to_end(corpus, tmp_path, tiny_kwargs):
    """CSV corpus -> train (tiny random CARE encoder) -> exported classifier
    -> labels for a folder of audio, as the template's README describes."""
    folder, rows = corpus
    torch.manual_seed(0)
    encoder = save_encoder(CAREEncoder(**tiny_kwargs), str(tmp_path / "encoder"))
    experiment = tmp_path / "results"
    results = load_template_module("train").main([
        "hparams/probe.yaml", "--data_folder", str(folder), "--encoder_source", encoder,
        "--experiment_folder", str(experiment), "--num_folds", "4", "--seeds", "[1]",
        "--number_of_epochs", "3", "--device", "cpu",
    ])  # fmt: skip
    # A CARE encoder's default probe, on speaker-normalised features (the template's default).
    output = experiment / f"{encoder_name(encoder)}-linear_concat-mean_std-speaker_norm"
    assert results["labels"] == LABELS and len(results["folds"]) == 4
    assert 0 <= results["metrics"]["mean"]["weighted_f1"] <= 1
    assert results["feature_normalization"]["mode"] == "speaker"
    assert (output / "results.md").is_file() and (output / "confusion.png").is_file()
    classifier = output / "classifier"
    exported = json.loads((output / "results.json").read_text())["classifier"]["folder"]
    assert exported == str(classifier)

    # The exported classifier sees the features training saw: each speaker's recordings
    # classified together (read by the streaming reader, one window each, z-scored by the
    # speaker's statistics) equal the exported probe on the cached features (read by
    # load_audio) z-scored by the same speaker's statistics in the probing run.
    recognizer = EmotionRecognizer.from_hparams(source=str(classifier), run_opts={"device": "cpu"})
    assert recognizer.labels == LABELS and recognizer.normalization == "speaker"
    cache = torch.load(experiment / "features" / f"{encoder_name(encoder)}-mean_std.pt", weights_only=False)
    data = load_manifest(experiment / "prepared" / "data.json")
    normalised, _ = normalize_groups(cache["features"], [data[u]["speaker"] for u in cache["ids"]])
    paths = {u: str(folder / data[u]["wav"].split("/", 1)[1]) for u in cache["ids"]}
    found = dict(recognizer.recognize_files(list(paths.values()),
                                            groups={paths[u]: data[u]["speaker"] for u in paths}))
    for utt, features in zip(cache["ids"], normalised):
        with torch.no_grad():
            expected = recognizer.mods.probe(features[None]).softmax(dim=-1)[0]
        torch.testing.assert_close(found[paths[utt]].probabilities, expected, atol=1e-4, rtol=1e-3)
        assert repr(data[utt]["speaker"]) in found[paths[utt]].normalization  # statistics of group '<speaker>'
    # One file alone has too few windows for its own statistics: refused, with the way out.
    with pytest.raises(NormalizationError, match="normalization_fallback corpus"):
        recognizer.classify_file(paths[cache["ids"][0]])

    # The command line on the corpus folder, each speaker's files together: the corpus's own
    # CSV names them (path,label,speaker), and so does one folder per speaker.
    for grouping in (["--speaker_csv", str(folder / "metadata.csv")], ["--group_by", "folder"]):
        table = tmp_path / "labels.txt"
        assert main(["--source", str(classifier), str(folder), "--output", str(table), *grouping]) == 0
        lines = table.read_text().splitlines()
        assert lines[0].split() == ["file", "duration_s", "label", "score"] + LABELS + ["normalization"]
        listed = sorted(line.split()[0] for line in lines[1:])
        assert listed == sorted(str(folder / row["path"]) for row in rows)
        assert all(line.split()[2] in LABELS for line in lines[1:])
    assert main(["--source", str(classifier), str(folder), "--output", str(table)]) == 1  # each file alone


def test_template_dimensional_corpus(corpus, tmp_path, tiny_kwargs, monkeypatch):
    """The README's dimensional corpus: a CSV with numeric arousal and valence
    columns and no label; ``--task dimensional`` regresses them (CCC, Pearson
    r, MAE); a value that is not a number is an error naming line and column."""
    folder, rows = corpus
    numeric = [dict(row, arousal=(1.5 if row["label"] == "calm" else 4.5) + 0.1 * k,
                    valence=3.0 + 0.2 * (k % 5)) for k, row in enumerate(rows)]
    write_csv(folder / "attributes.csv", numeric, ("path", "speaker", "arousal", "valence"))
    torch.manual_seed(0)
    encoder = save_encoder(CAREEncoder(**tiny_kwargs), str(tmp_path / "encoder"))
    argv = ["hparams/probe.yaml", "--data_folder", str(folder), "--encoder_source", encoder,
            "--csv_file", str(folder / "attributes.csv"), "--dataset", "numbers",
            "--task", "dimensional", "--num_folds", "4", "--seeds", "[1]",
            "--number_of_epochs", "3", "--device", "cpu", "--export_classifier", "False"]
    monkeypatch.chdir(tmp_path)  # results/numbers/dimensional/...
    results = load_template_module("train").main(argv)
    assert results["task"] == "dimensional" and results["attributes"] == ["arousal", "valence"]
    assert len(results["folds"]) == 4 and results["utterances"] == len(rows)
    assert {"ccc_mean", "ccc_arousal", "pearson_valence", "mae_arousal"} <= set(results["metrics"]["mean"])
    output = (tmp_path / "results" / "numbers" / "dimensional"
              / f"{encoder_name(encoder)}-linear_concat-mean_std-speaker_norm")
    assert "| CCC |" in (output / "results.md").read_text()
    assert (output / "layer_weights.png").stat().st_size > 1000
    data = load_manifest(tmp_path / "results" / "numbers" / "dimensional" / "prepared" / "data.json")
    assert data[rows[0]["path"]]["arousal"] == 1.5
    numeric[3]["valence"] = "high"
    write_csv(folder / "attributes.csv", numeric, ("path", "speaker", "arousal", "valence"))
    prepare = load_template_module("csv_prepare").prepare_csv
    with pytest.raises(ManifestError, match=r"attributes.csv, line 5: valence is not a number \('high'\)"):
        prepare(folder, tmp_path / "s", str(folder / "attributes.csv"), task="dimensional")
    with pytest.raises(ManifestError, match="missing \\['dominance'\\]"):
        prepare(folder, tmp_path / "s", str(folder / "attributes.csv"), task="dimensional",
                attributes=["dominance"])


def test_relabelled_corpus_rerun_in_place_equals_a_fresh_run(corpus, tmp_path, tiny_kwargs):
    """X7 (issue 35): after two speakers' clips are relabelled in the CSV, a
    rerun into the same experiment folder retrains what changed and reports
    what a fresh run on the new CSV reports (it reused the old folds before)."""
    folder, rows = corpus
    torch.manual_seed(0)
    encoder = save_encoder(CAREEncoder(**tiny_kwargs), str(tmp_path / "encoder"))
    train = load_template_module("train")

    def run(experiment):
        return train.main(["hparams/probe.yaml", "--data_folder", str(folder), "--encoder_source", encoder,
                           "--experiment_folder", str(experiment), "--num_folds", "4", "--seeds", "[1]",
                           "--device", "cpu", "--export_classifier", "False", "--noprogressbar"])

    before = run(tmp_path / "in_place")
    flipped = [dict(r, label=LABELS[1 - LABELS.index(r["label"])]) if r["speaker"] in ("ann", "ben") else r
               for r in rows]
    write_csv(folder / "metadata.csv", flipped)
    rerun, fresh = run(tmp_path / "in_place"), run(tmp_path / "fresh")
    assert rerun["metrics"]["per_fold"] == fresh["metrics"]["per_fold"]
    assert rerun["metrics"]["per_fold"] != before["metrics"]["per_fold"]
