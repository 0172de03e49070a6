"""The EmoBox protocol on fixture fold files laid out exactly like EmoBox's
repository (``data/<dataset>/label_map.json``,
``data/<dataset>/fold_<k>/<dataset>_<split>_fold_<k>.jsonl`` or ``.json``):
id matching, a missing id's error, the label-map quirks, MSP-Podcast's
excluded classes, the speaker-overlap count, and the proof that model
selection never sees the test fold."""

import json
import os

import pytest
import torch
from hyperpyyaml import load_hyperpyyaml

from care.probing import loop
from care.probing.categorical import CategoricalTask
from care.probing.emobox import (
    EmoBoxError,
    emobox_splits,
    read_emobox_folds,
    read_reference_csv,
    validation_part,
    write_emobox_style_folds,
)
from care.recipe import InputError
from conftest import load_module
from tests.test_probing import REPO, load_recipe_module, make_emodb, make_urdu, tiny_care_yaml

# EmoBox's data/emodb/label_map.json, quirks included: "boredem", and the key
# "Neutral" while the records say "neutral".
EMODB_LABEL_MAP = {"anger": "Angry", "boredem": "Boredom", "disgust": "Disgust", "fear": "Fear",
                   "happy": "Happy", "Neutral": "Neutral", "sad": "Sad"}
EMODB_EMO = {"W": "anger", "L": "boredem", "E": "disgust", "A": "fear", "F": "happy",
             "N": "neutral", "T": "sad"}
OUR_EMODB = {"W": "anger", "L": "boredom", "E": "disgust", "A": "fear", "F": "happiness",
             "N": "neutral", "T": "sadness"}


def manifest_entry(wav, label, speaker, fold):
    return {"wav": "{data_root}/" + wav, "duration": 1.0, "label": label, "speaker": speaker,
            "fold": fold}


def emodb_manifest(speakers=("03", "08", "09", "10")):
    return {f"{s}a01{e}a": manifest_entry(f"wav/{s}a01{e}a.wav", OUR_EMODB[e], s, s)
            for s in speakers for e in OUR_EMODB}


def emobox_record(dataset, stem, wav, emo, as_json=False):
    record = {"key": f"{dataset}-{stem}", "dataset": dataset, "wav": f"downloads/{dataset}/{wav}",
              "type": "raw", "sample_rate": 16000, "num_frame": 16000.0, "task": "category",
              "length": 1.0, "emo": emo, "channel": 1}
    return record


def write_fold(folder, dataset, fold, split, records, as_json=False):
    path = folder / dataset / f"fold_{fold}" / f"{dataset}_{split}_fold_{fold}.{'json' if as_json else 'jsonl'}"
    path.parent.mkdir(parents=True, exist_ok=True)
    if as_json:  # EmoBox's .json: a dict keyed by "key", records without it
        path.write_text(json.dumps({r["key"]: {k: v for k, v in r.items() if k != "key"}
                                    for r in records}, indent=4))
    else:
        path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def emodb_folds(root, data, num_folds=2):
    """EmoBox-like EmoDB folds: utterances dealt round-robin, every speaker in
    every test fold."""
    (root / "emodb").mkdir(parents=True, exist_ok=True)
    (root / "emodb" / "label_map.json").write_text(json.dumps(EMODB_LABEL_MAP, indent=4))
    ids = sorted(data)
    for fold in range(1, num_folds + 1):
        test = ids[fold - 1::num_folds]
        for split, utts in (("train", [u for u in ids if u not in test]), ("test", test)):
            write_fold(root, "emodb", fold, split,
                       [emobox_record("emodb", u, f"wav/{u}.wav", EMODB_EMO[u[5]]) for u in utts])
    return root


def test_emodb_ids_and_label_quirks(tmp_path):
    data = emodb_manifest()
    folds, info = read_emobox_folds(data, str(emodb_folds(tmp_path / "data", data)), "emodb")
    assert list(folds) == ["fold_1", "fold_2"]
    assert sorted(folds["fold_1"]["test"] + folds["fold_2"]["test"]) == sorted(data)
    assert folds["fold_1"]["valid"] is None
    # "neutral" found under the "Neutral" key; "boredem" is our "boredom"
    assert info["label_set"] == ["Angry", "Boredom", "Disgust", "Fear", "Happy", "Neutral", "Sad"]
    assert info["excluded"] == {}
    # data/emodb given directly works too
    again, _ = read_emobox_folds(data, str(tmp_path / "data" / "emodb"), "emodb")
    assert again == folds


def test_missing_id_and_wrong_label_are_named(tmp_path):
    data = emodb_manifest()
    root = emodb_folds(tmp_path / "data", data)
    del data["08a01Na"]
    with pytest.raises(EmoBoxError, match=r"EmoBox id emodb-08a01Na \(downloads/emodb/wav/08a01Na.wav\) matches no"):
        read_emobox_folds(data, str(root), "emodb")
    data = emodb_manifest()
    data["09a01Wa"]["label"] = "sadness"
    with pytest.raises(EmoBoxError, match="emodb-09a01Wa is 'Angry' there and 'sadness'"):
        read_emobox_folds(data, str(root), "emodb")
    label_map = root / "emodb" / "label_map.json"
    label_map.write_text(json.dumps({k: v for k, v in EMODB_LABEL_MAP.items() if k != "sad"}))
    with pytest.raises(EmoBoxError, match="label 'sad' is not in label_map.json"):
        read_emobox_folds(emodb_manifest(), str(root), "emodb")
    with pytest.raises(EmoBoxError, match="no EmoBox fold files for 'urdu'"):
        read_emobox_folds(data, str(root / "emodb"), "urdu")
    with pytest.raises(EmoBoxError, match="not found"):
        read_emobox_folds(data, str(tmp_path / "nowhere"), "emodb")


def test_urdu_json_folds_count_shared_speakers(tmp_path):
    """URDU: one random fold in EmoBox's .json form; our audio is FLAC where
    EmoBox's paths say .wav, so the key matches; most test speakers also
    train, and the count says so."""
    letters = {"Angry": "A", "Happy": "H", "Neutral": "N", "Sad": "S"}
    ours = {"Angry": "anger", "Happy": "happiness", "Neutral": "neutral", "Sad": "sadness"}
    data = {}
    for folder, letter in letters.items():
        for s in range(1, 5):
            for k in range(2):
                stem = f"SM{s}_F{k + 1}_{letter}0{s}{k}"
                data[stem] = manifest_entry(f"{folder}/{stem}.flac", ours[folder], f"M{s}", "g1")
    root = tmp_path / "data"
    (root / "urdu").mkdir(parents=True)
    (root / "urdu" / "label_map.json").write_text(json.dumps({"A": "Angry", "H": "Happy",
                                                              "N": "Neutral", "S": "Sad"}))
    ids = sorted(data)
    # test: all of M4, and one clip each of M1 and M2; M3 only trains
    test = sorted([u for u in ids if u.startswith("SM4")] + ["SM1_F1_A010", "SM2_F1_H020"])
    for split, utts in (("train", [u for u in ids if u not in test]), ("test", test)):
        write_fold(root, "urdu", 1, split, [
            emobox_record("urdu", u, f"{[f for f, c in letters.items() if c == u.split('_')[2][0]][0]}/{u}.wav",
                          u.split("_")[2][0]) for u in utts], as_json=True)
    splits, info = emobox_splits(data, str(root), "urdu", valid_fraction=0.25, seed=3)
    (name, train, valid, test_set), = splits
    assert name == "fold_1" and set(test_set) == set(test)
    fold = info["folds"]["fold_1"]
    assert (fold["test_speakers"], fold["test_speakers_in_training"]) == (3, 2)
    assert info["speaker_independent"] is False
    # the validation part is the training speaker absent from the test fold
    assert {data[u]["speaker"] for u in valid} == {"M3"}
    assert "absent from the test fold" in fold["validation"]
    assert not set(valid) & set(test_set) and not set(train) & set(test_set)


def test_msp_podcast_official_lists_exclusions_and_case(tmp_path):
    """MSP-Podcast: EmoBox's train / valid / test lists; no-agreement (X) and
    other (O) are excluded by default (our manifest has neither), and asking
    for them names the first id we do not have."""
    codes = {"A": "angry", "H": "happy", "N": "neutral", "S": "sad"}
    data, rows = {}, {"train": [], "valid": [], "test": []}
    for split, fold, podcast in (("train", "train", 1), ("valid", "valid", 2), ("test", "test", 3)):
        for k, code in enumerate("AHNSXO" * 2):
            stem = f"MSP-PODCAST_{podcast:04d}_{k:04d}"
            emo = code.lower() if code == "N" and k > 5 else code  # "n" vs "N": case quirk
            rows[split].append(emobox_record("msppodcast", stem, f"Audio/{stem}.wav", emo))
            if code in codes:
                data[stem] = manifest_entry(f"Audios/{stem}.wav", codes[code], f"{podcast}{k % 2}",
                                            fold)
    root = tmp_path / "data"
    for split, records in rows.items():
        write_fold(root, "msppodcast", 1, split, records)
    (root / "msppodcast" / "label_map.json").write_text(json.dumps({
        "U": "Surprise", "F": "Fear", "D": "Disgust", "A": "Angry", "S": "Sad",
        "X": "No-agreement", "C": "Contempt", "N": "Neutral", "O": "Other", "H": "Happy"}))
    splits, info = emobox_splits(data, str(root), "msppodcast")
    (name, train, valid, test), = splits
    assert (len(train), len(valid), len(test)) == (8, 8, 8)
    assert info["folds"]["fold_1"]["validation"] == "EmoBox's valid file"
    assert info["excluded"] == {"No-agreement": 6, "Other": 6}
    assert info["label_set"] == ["Angry", "Happy", "Neutral", "Sad"]
    assert info["speaker_independent"] is True
    with pytest.raises(EmoBoxError, match="msppodcast-MSP-PODCAST_0001_0004 .* matches no"):
        emobox_splits(data, str(root), "msppodcast", exclude=[])


def test_validation_part_speaker_disjoint_or_stratified():
    data = emodb_manifest(("03", "08", "09", "10", "11"))
    test = [u for u in data if u.startswith(("03", "08"))]
    train = [u for u in data if u not in test]
    kept, valid, how = validation_part(data, train, test, 0.2, seed=0)
    assert len({data[u]["speaker"] for u in valid}) == 1 and "absent from the test fold" in how
    assert not {data[u]["speaker"] for u in valid} & {data[u]["speaker"] for u in kept}
    # every training speaker also tests (EmoBox's EmoDB): stratified by label
    test = [u for u in data if u[5] in "WL"]
    train = [u for u in data if u not in test]
    kept, valid, how = validation_part(data, train, test, 0.2, seed=0)
    assert "not speaker-disjoint" in how and sorted(kept + valid) == sorted(train)
    assert {data[u]["label"] for u in valid} == {data[u]["label"] for u in train}


def test_emobox_style_folds_follow_the_rules(tmp_path):
    data = emodb_manifest(("03", "08", "09", "10", "11"))
    folder = write_emobox_style_folds(data, str(tmp_path), "emodb", num_folds=5)
    splits, info = emobox_splits(data, str(tmp_path), "emodb")
    assert folder == str(tmp_path / "emodb") and len(splits) == 5
    for _, train, valid, test in splits:  # same class balance: one of each emotion
        assert sorted(e["label"] for e in test.values()) == sorted(OUR_EMODB.values())
    assert sum(len(s[3]) for s in splits) == len(data)
    one = write_emobox_style_folds(data, str(tmp_path / "u"), "emodb", test_fraction=0.2, seed=1)
    assert sorted(os.listdir(one)) == ["fold_1", "label_map.json"]


# ---------------------------------------------------------------------------
# Model selection sees validation data only


class SpyFeatures(dict):
    """Records which utterances' features are read."""

    def __init__(self, *args):
        super().__init__(*args)
        self.read = []

    def __getitem__(self, key):
        self.read.append(key)
        return super().__getitem__(key)


def probe_hparams(tmp_path, epochs=8):
    with open(REPO / "recipes" / "EmoDB" / "emotion" / "hparams" / "probe.yaml") as handle:
        hparams = load_hyperpyyaml(handle, {"data_folder": str(tmp_path),
                                            "output_folder": str(tmp_path / "out"),
                                            "number_of_epochs": epochs, "batch_size": 8})
    return hparams


def test_test_fold_cannot_influence_the_kept_checkpoint(tmp_path, monkeypatch):
    """The epochs and weights kept are the same whatever the test fold holds
    (its labels shuffled, its features replaced by noise), and no test
    feature is read before the single test evaluation."""
    torch.manual_seed(0)
    labels = ["a", "b", "c"]
    data, features = {}, {}
    for i in range(60):
        utt = f"u{i:02d}"
        label = labels[i % 3]
        data[utt] = {"label": label, "speaker": f"s{i % 6}"}
        features[utt] = torch.randn(1, 8) + 1.5 * torch.nn.functional.one_hot(
            torch.tensor(i % 3), 8).float()
    train = {u: data[u] for u in list(data)[:36]}
    valid = {u: data[u] for u in list(data)[36:48]}
    test = {u: data[u] for u in list(data)[48:]}
    dims = {"num_layers": 1, "input_dim": 8, "num_classes": 3, "layers": None}
    hparams = probe_hparams(tmp_path)
    head = loop.probe_settings(hparams)
    assert head["refit"] and head["members"] > 1, "the default head refits an ensemble on training + validation"

    evaluated = []  # per test evaluation: the features read before it, and the probes' weights
    original = loop.test_probes

    def test_probes(experiment, probes, *args):
        evaluated.append((list(spy.read), [p.state_dict() for p in probes]))
        return original(experiment, probes, *args)

    monkeypatch.setattr(loop, "test_probes", test_probes)

    def run(name, feats, manifest):
        nonlocal spy
        spy = SpyFeatures(feats)
        experiment = loop.Experiment(hparams, None, spy, manifest, CategoricalTask(hparams, manifest),
                                     dims, head)
        return loop.train_fold(experiment, (train, valid, {u: manifest[u] for u in test}), 1, "f",
                               str(tmp_path / name))

    spy = None
    first = run("a", features, data)
    assert len(evaluated) == 1  # the test set is evaluated once, all members together, after training
    assert not set(evaluated[0][0]) & set(test), "test features read before the test evaluation"
    assert set(test) <= set(spy.read)

    noisy = dict(features, **{u: 10 * torch.randn(1, 8) for u in test})
    shuffled = {u: dict(e, label=labels[(labels.index(e["label"]) + 1) % 3]) if u in test else e
                for u, e in data.items()}
    second = run("b", noisy, shuffled)
    assert not set(evaluated[1][0]) & set(test)
    assert second["members"] == first["members"]  # each member's epoch and validation score
    assert second["layer_weights"] == first["layer_weights"]
    assert second["test"] != first["test"]  # the test fold did change
    for kept_first, kept_second in zip(evaluated[0][1], evaluated[1][1]):  # the probes tested
        for key in kept_first:
            torch.testing.assert_close(kept_first[key], kept_second[key])


# ---------------------------------------------------------------------------
# End to end


def test_recipe_emobox_protocol_end_to_end(tmp_path, tiny_kwargs, monkeypatch):
    """EmoDB recipe with ``--protocol emobox`` on rebuilt EmoBox-style folds:
    results say they are not speaker-independent, next to the number."""
    monkeypatch.chdir(tmp_path)
    root = make_emodb(tmp_path / "emodb", speakers=("03", "08", "09"))
    config = tiny_care_yaml(tmp_path, tiny_kwargs)
    train = load_recipe_module("EmoDB", "train")
    common = ["hparams/probe.yaml", "--data_folder", str(root),
              "--encoder_source", f"random:{config}",
              "--prepare_folder", str(tmp_path / "prepared"),
              "--feature_folder", str(tmp_path / "features"),
              "--prepare_options", "{strict: False}", "--seeds", "[1]",
              "--number_of_epochs", "2", "--export_classifier", "False"]
    independent = train.main(common)
    assert independent["speaker_independent"] is True
    data = json.loads((tmp_path / "prepared" / "data.json").read_text())
    write_emobox_style_folds(data, str(tmp_path / "folds"), "emodb", num_folds=3)
    results = train.main(common + ["--protocol", "emobox", "--emobox_folds", str(tmp_path / "folds")])
    out = tmp_path / "results" / "EmoDB" / "emobox" / "random-tiny_care-linear_concat-mean_std-speaker_norm"
    assert results["output_folder"] == str(out)
    assert results["folds"] == ["fold_1", "fold_2", "fold_3"]
    assert results["speaker_independent"] is False
    assert results["protocol_info"]["folds"]["fold_1"]["test_speakers_in_training"] == 3
    assert "NOT speaker-independent" in results["protocol"]
    assert "Speaker-independent: **no**" in (out / "results.md").read_text()
    with pytest.raises(EmoBoxError, match="no EmoBox fold files"):
        train.main(common + ["--protocol", "emobox", "--emobox_folds", str(tmp_path)])


def test_reference_csv(tmp_path):
    path = tmp_path / "ref.csv"
    path.write_text("encoder,dataset,protocol,weighted_f1,ua,source\n"
                    "wavlm-base,EmoDB,emobox,,12.5,a test fixture (not a published figure)\n")
    row, = read_reference_csv(str(path))
    assert row["dataset"] == "emodb" and row["ua"] == 12.5 and row["weighted_f1"] is None
    path.write_text("encoder,dataset\nx,y\n")
    with pytest.raises(ValueError, match="expected columns"):
        read_reference_csv(str(path))
    with pytest.raises(InputError, match=r"--reference_csv .*no_such.csv: cannot read it"):
        read_reference_csv(str(tmp_path / "no_such.csv"))  # X12: a traceback before


def test_benchmark_puts_protocols_side_by_side(tmp_path, tiny_kwargs, monkeypatch):
    """recipes/benchmark.py: one encoder under both protocols, the EmoBox row
    marked, and a reference row from the user's CSV with its source."""
    monkeypatch.chdir(tmp_path)
    make_emodb(tmp_path / "data" / "emodb", speakers=("03", "08", "09"))
    make_urdu(tmp_path / "data" / "urdu", speakers=5, per_emotion=1)
    benchmark = load_module(REPO / "recipes" / "benchmark.py")
    common = ["--encoder_source", f"random:{tiny_care_yaml(tmp_path, tiny_kwargs)}",
              "--datasets", "emodb", "--data_folder", str(tmp_path / "data"),
              "--output_folder", str(tmp_path / "bench"),
              "--prepare_options", "{strict: False}", "--seeds", "[1]",
              "--number_of_epochs", "2", "--export_classifier", "False"]
    benchmark.main(common)  # prepares the manifest the folds are built from
    data = json.loads((tmp_path / "results" / "EmoDB" / "prepared" / "data.json").read_text())
    write_emobox_style_folds(data, str(tmp_path / "folds"), "emodb", num_folds=3)
    reference = tmp_path / "reference.csv"
    reference.write_text("encoder,dataset,protocol,weighted_f1,ua,source\n"
                         "some-base,emodb,emobox,12.5,13.5,a test fixture\n"
                         "some-base,cremad,emobox,1.0,2.0,a test fixture\n")
    rows = benchmark.main(common + ["--protocol", "speaker_independent", "--protocol", "emobox",
                                    "--emobox_folds", str(tmp_path / "folds"),
                                    "--reference_csv", str(reference)])
    # Each is followed by its logistic regression; the recipe's default normalisation is named.
    rows = [r for r in rows if r["probe"] == "linear_concat, speaker-normalised"]
    assert [r["protocol"] for r in rows] == ["speaker_independent", "emobox"]
    assert [r["datasets"]["emodb"]["speaker_independent"] for r in rows] == [True, False]
    assert rows[1]["datasets"]["emodb"]["folds"] == 3
    text = (tmp_path / "bench" / "benchmark.md").read_text()
    assert "| reference: some-base |  | emobox | 12.5 | 13.5 | 12.5 | 13.5 |" in text
    assert "† not speaker-independent" in text and "a test fixture" in text
    emobox_line = next(line for line in text.splitlines()
                       if "| linear_concat, speaker-normalised | emobox |" in line and "random" in line)
    assert emobox_line.count("†") == 2
    with pytest.raises(SystemExit):
        benchmark.main(common + ["--protocol", "emobox"])
