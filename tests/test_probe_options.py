"""A probing recipe's option mistakes end in one line naming the option,
before any feature is extracted (issue 35, X12)."""

import pytest
from test_probing import load_recipe_module, make_emodb

from care.recipe import InputError

CASES = {
    "seeds not a list": (["--seeds", "1"], r"seeds: 1; expected a list of integers"),
    "seeds repeated": (["--seeds", "[1, 1]"], r"each seed once"),
    "unknown head": (["--probe_head", "no_such_head"], r"probe_head: 'no_such_head'; expected one of mlp"),
    "dimensional on a categorical corpus": (["--task", "dimensional"], r"prepared for task categorical"),
    "missing encoder folder": (["--encoder_source", "./no_such_encoder"], r"no such file or folder"),
    "unknown architecture": (["--encoder_source", "random:no_such_arch"], r"no packaged architecture 'no_such_arch'"),
    "unknown normalisation": (["--feature_normalization", "speakers"], r"expected one of none, speaker, corpus"),
    "minimum below 2": (["--feature_normalization", "speaker", "--normalization_min_utterances", "1"],
                        r"normalization_min_utterances: 1"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_option_mistakes_are_input_errors_before_extraction(tmp_path, monkeypatch, case):
    argv, message = CASES[case]
    monkeypatch.chdir(tmp_path)
    root = make_emodb(tmp_path / "emodb", speakers=("03", "08", "09"))
    train = load_recipe_module("EmoDB", "train")
    with pytest.raises(InputError, match=message):
        train.main(["hparams/probe.yaml", "--data_folder", str(root), "--prepare_options", "{strict: False}",
                    "--experiment_folder", str(tmp_path / "run"), *argv])
    assert not (tmp_path / "run" / "features").exists()


def test_a_second_run_on_a_folder_in_use_is_refused(tmp_path, monkeypatch):
    """X14: a probing run whose output folder another run holds says so, in
    one line, before extracting anything (it died in the checkpointer
    before)."""
    from care.io import exclusive_use

    monkeypatch.chdir(tmp_path)
    root = make_emodb(tmp_path / "emodb", speakers=("03", "08", "09"))
    train = load_recipe_module("EmoDB", "train")
    argv = ["hparams/probe.yaml", "--data_folder", str(root), "--prepare_options", "{strict: False}",
            "--experiment_folder", str(tmp_path / "run"), "--seeds", "[1]"]
    with exclusive_use(tmp_path / "run" / "egemaps-speaker_norm" / "save"):  # what the first run holds
        with pytest.raises(InputError, match="is in use by another probing run"):
            train.main(argv)
    assert not (tmp_path / "run" / "features" / "egemaps.pt").exists()


def test_emodb_speaker_groups_instead_of_leave_one_out(tmp_path):
    """prepare_emodb(num_folds=2): speaker groups (every speaker in one),
    recorded in prepare.json; without it, a fold per speaker as before."""
    import json

    prepare = load_recipe_module("EmoDB", "emodb_prepare").prepare_emodb
    root = make_emodb(tmp_path / "emodb", speakers=("03", "08", "09", "10"))
    prepare(str(root), str(tmp_path / "loso"), strict=False)
    prepare(str(root), str(tmp_path / "groups"), strict=False, num_folds=2)
    loso = json.loads((tmp_path / "loso" / "data.json").read_text())
    groups = json.loads((tmp_path / "groups" / "data.json").read_text())
    assert {e["fold"] for e in loso.values()} == {"03", "08", "09", "10"}
    assert {e["fold"] for e in groups.values()} == {"g1", "g2"}
    for fold in ("g1", "g2"):
        assert len({e["speaker"] for e in groups.values() if e["fold"] == fold}) == 2
    assert "speaker-grouped" in json.loads((tmp_path / "groups" / "prepare.json").read_text())["protocol"]


def test_flag_given_a_value_is_not_glued_onto_the_previous_option(tmp_path, monkeypatch):
    """``--output_folder X --noprogressbar True`` writes to X (it wrote to "X True":
    SpeechBrain's flag took no value, and the previous option took it)."""
    monkeypatch.chdir(tmp_path)
    root = make_emodb(tmp_path / "emodb", speakers=("03", "08", "09"))
    train = load_recipe_module("EmoDB", "train")
    train.main(["hparams/probe.yaml", "--data_folder", str(root), "--prepare_options", "{strict: False}",
                "--experiment_folder", str(tmp_path / "run"), "--seeds", "[1]", "--test_folds", '["03"]',
                "--export_classifier", "False", "--output_folder", str(tmp_path / "out"), "--noprogressbar", "True"])
    assert (tmp_path / "out" / "results.md").is_file() and not (tmp_path / "out True").exists()
    with pytest.raises(InputError, match="--noprogressbar is a flag"):
        train.main(["hparams/probe.yaml", "--data_folder", str(root), "--noprogressbar", "yes please"])


def test_a_run_option_that_is_a_yaml_key_keeps_the_other_overrides_as_written():
    """``--noprogressbar`` is also a key of every probe.yaml / finetune.yaml, so the
    run option is written into the overrides. Doing so once re-dumped them with
    PyYAML (YAML 1.1), and HyperPyYAML (YAML 1.2) then read the fold "08" as the
    number 8: a 5-fold fine-tuning run died at its second fold."""
    from pathlib import Path

    from care.recipe import load_recipe

    folder = Path(__file__).resolve().parents[1] / "recipes" / "EmoDB" / "emotion"
    for hparams_file in ("hparams/probe.yaml", "hparams/finetune.yaml"):
        _, _, _, hparams = load_recipe(str(folder), [
            hparams_file, "--data_folder", "emodb", "--test_folds", '["03", "08", "09"]',
            "--encoder_source", "random:care_small", "--noprogressbar"])
        assert hparams["test_folds"] == ["03", "08", "09"] and hparams["noprogressbar"] is True
        assert hparams["data_folder"] == "emodb" and hparams["encoder_source"] == "random:care_small"
