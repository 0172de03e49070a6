"""The shipped configurations: they build, load their weights, are reusable
from other YAML files, ship inside the package, and the README states their
real parameter counts."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hyperpyyaml import load_hyperpyyaml

from care.architectures import FOLDER
from care.lobes import CAREEncoder
from care.lobes.loading import check_speech_config, check_text_config

REPO = Path(__file__).resolve().parents[1]
HPARAMS = FOLDER  # care/architectures, shipped with the package
OFFLINE = {"speech_source": None, "text_source": None}


def load(name, overrides=None):
    with open(HPARAMS / f"{name}.yaml") as fin:
        return load_hyperpyyaml(fin, overrides or {})


@pytest.fixture(scope="module")
def care_small():
    return load("care_small")


def test_care_small_builds_offline_with_minilm_layers(care_small, minilm_path):
    """care_small takes MiniLM layers 3-5, frozen, from the installed package."""
    from transformers import AutoModel

    encoder = care_small["encoder"]
    assert isinstance(encoder, CAREEncoder)
    state = AutoModel.from_pretrained(minilm_path, local_files_only=True).state_dict()
    for index, text_layer in enumerate([3, 4, 5]):
        layer = encoder.semantic_layers[index].layer
        prefix = f"encoder.layer.{text_layer}."
        torch.testing.assert_close(
            layer.feed_forward.in_proj.weight, state[prefix + "intermediate.dense.weight"]
        )
        torch.testing.assert_close(
            layer.attention.qkv.bias,
            torch.cat([state[prefix + f"attention.self.{p}.bias"] for p in ("query", "key", "value")]),
        )
        assert not any(p.requires_grad for p in layer.parameters())
    assert all(p.requires_grad for p in encoder.semantic_layers[0].down.parameters())


@pytest.mark.parametrize("name, text_dim, layers", [("care_small", 384, 12), ("care_base", 768, 19)])
def test_output_shapes(clips, name, text_dim, layers, care_small):
    hparams = care_small if name == "care_small" else load(name, OFFLINE)
    encoder = hparams["encoder"].eval()
    wavs = torch.zeros(2, len(clips[1]))
    wavs[0] = clips[1]
    wavs[1, : len(clips[0])] = clips[0][: len(clips[1])]
    lens = torch.tensor([1.0, min(1.0, len(clips[0]) / len(clips[1]))])
    with torch.no_grad():
        out = encoder(wavs, lens)
    frames = encoder.frame_lengths(wavs.shape[1])
    assert out.semantic.shape == (2, text_dim)
    assert out.acoustic.shape == (2, frames, 256)
    assert out.hidden_states.shape == (layers, 2, frames, hparams["d_model"])
    assert out.lengths.shape == (2,)


def test_care_base_sizes_match_wavlm_base_and_roberta_base():
    """care_base's sizes are those of microsoft/wavlm-base and roberta-base
    (their published configurations), checked by the loader's own checks."""
    from transformers import RobertaConfig, WavLMConfig

    encoder_config = load("care_base", OFFLINE)["encoder"].config
    # WavLMConfig's defaults are microsoft/wavlm-base's.
    check_speech_config(WavLMConfig(), encoder_config, "wavlm-base")
    roberta_base = RobertaConfig(
        hidden_size=768, num_attention_heads=12, intermediate_size=3072,
        num_hidden_layers=12, layer_norm_eps=1e-5, hidden_act="gelu",
    )
    check_text_config(roberta_base, encoder_config, "roberta-base")
    with pytest.raises(ValueError, match="semantic_layer_norm_eps"):
        check_text_config(RobertaConfig(layer_norm_eps=1e-12), encoder_config, "bert-like")
    text = (HPARAMS / "care_base.yaml").read_text()  # read only: loading would fetch
    assert re.search(r"^speech_source: microsoft/wavlm-base$", text, re.MULTILINE)
    assert re.search(r"^text_source: roberta-base$", text, re.MULTILINE)
    assert re.search(r"^text_layers: \[6, 7, 8, 9, 10, 11\]", text, re.MULTILINE)


def test_reusable_from_another_yaml(tmp_path):
    """Any SpeechBrain YAML can take the encoder with ``!include:``."""
    recipe = tmp_path / "probe.yaml"
    recipe.write_text(
        f"care: !include:{HPARAMS / 'care_small.yaml'}\n"
        "    target_dim: 12\n"
        "encoder: !ref <care[encoder]>\n"
    )
    with open(recipe) as fin:
        hparams = load_hyperpyyaml(fin)
    assert isinstance(hparams["encoder"], CAREEncoder)
    assert hparams["encoder"].acoustic_head.out_features == 12


def readme_tables(readme):
    """Parameter counts (millions) from a README's configuration tables:
    totals (total, trainable, frozen) and parts (front end, shared, semantic
    text layers, semantic convs, acoustic)."""
    text = readme.read_text()
    totals, parts = {}, {}
    for match in re.finditer(r"^\| `(care_\w+)` \|([^\n]+)$", text, re.MULTILINE):
        cells = [c.strip() for c in match.group(2).split("|")]
        if cells[0].endswith(" M"):
            totals[match.group(1)] = [float(c.removesuffix(" M")) for c in cells[:3]]
        else:
            parts[match.group(1)] = [float(c.split()[0]) for c in cells[:5]]
    return totals, parts


@pytest.mark.parametrize("name", ["care_small", "care_base"])
def test_readme_parameter_counts(name, care_small):
    """The parameter counts of the README and the Pretrain README are those
    of the built encoders."""
    hparams = care_small if name == "care_small" else load(name, OFFLINE)
    counts = hparams["encoder"].parameter_counts()
    totals, _ = readme_tables(REPO / "README.md")
    recipe_totals, parts = readme_tables(REPO / "recipes" / "Pretrain" / "README.md")

    def millions(keys):
        return [round(counts[k] / 1e6, 1) for k in keys]

    assert totals[name] == millions(["total", "trainable", "frozen"])
    assert recipe_totals[name] == totals[name]
    assert parts[name] == millions(
        ["frontend", "shared", "semantic_layers", "semantic_convs", "acoustic"]
    )


def test_random_care_control_resolves_config_names():
    """``encoder_source: random:care_small`` (the probing control) finds the
    architecture file, not the training config beside it."""
    from care.probing.extractors import build_extractor

    extractor = build_extractor("random:care_small")
    assert (extractor.num_layers, extractor.dim) == (12, 384)
    with pytest.raises(ValueError, match="known: \\['care_base', 'care_small'\\]"):
        build_extractor("random:care_tiny")


def test_architectures_ship_in_a_non_editable_build(tmp_path):
    """The files a wheel packs (setuptools' ``build_py``, which ``bdist_wheel``
    runs) hold the architectures, and ``care.architectures`` finds them there:
    ``random:care_small`` needs neither an editable install nor the
    repository. (Without the pyproject's package-data entry the YAML files
    are left out and this fails.)"""
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source)
    shutil.copytree(REPO / "care", source / "care", ignore=shutil.ignore_patterns("__pycache__"))
    build = tmp_path / "build"
    subprocess.run(
        [sys.executable, "-c", "from setuptools import setup; setup()", "build_py",
         "--build-lib", str(build)],
        cwd=source, check=True, capture_output=True,
    )  # fmt: skip
    found = subprocess.run(
        [sys.executable, "-c", "import care.architectures as a; print(a.FOLDER); "
         "print(a.architecture_file('care_small')); print(a.known_architectures())"],
        cwd=tmp_path, env=dict(os.environ, PYTHONPATH=str(build)), capture_output=True, text=True,
    )  # fmt: skip
    assert found.returncode == 0, found.stderr
    folder, small, names = found.stdout.splitlines()
    assert folder == str(build / "care" / "architectures")
    assert small == str(build / "care" / "architectures" / "care_small.yaml")
    assert names == "['care_base', 'care_small']"


@pytest.mark.parametrize("name", ["care_small", "care_base", "care_base_authors"])
def test_training_configs_load(name, tmp_path):
    """Every pretraining config builds offline with the hub sources set to
    random weights (the text teacher loads its model only when it first
    embeds): the frame-target size reaches the encoder's head, the step
    budget is an override away, checkpoints are atomic."""
    overrides = {
        "data_folder": str(tmp_path),
        "output_folder": str(tmp_path / "out"),
        "speech_source": None,
        "text_source": None,
        "optimizer_step_limit": 123,
    }
    if name == "care_base_authors":
        overrides["pase_folder"] = str(tmp_path / "pase")
    path = REPO / "recipes" / "Pretrain" / "hparams" / f"{name}.yaml"
    with open(path) as fin:
        hparams = load_hyperpyyaml(fin, overrides)
    frame_targets = hparams["frame_targets"]
    assert hparams["target_dim"] == frame_targets.dim
    assert hparams["encoder"].acoustic_head.out_features == frame_targets.dim
    assert hparams["optimizer_step_limit"] == 123
    assert type(hparams["checkpointer"]).__name__ == "AtomicCheckpointer"
    if name == "care_small":
        assert hparams["lr_scheduler"].num_training_steps == 123


@pytest.mark.parametrize("name", ["care_base", "care_base_authors"])
def test_care_base_configs_follow_the_authors_code(name, tmp_path):
    """What iiscleap/CARE's pretraining code sets (train_pase.py,
    dataset_pase.py, model_pase.py) where both configs follow it, and the
    authors' config's PASE+ targets and fixed padded fp32 batches."""
    overrides = {"data_folder": str(tmp_path), "output_folder": str(tmp_path / "out"),
                 "speech_source": None, "text_source": None}
    if name == "care_base_authors":
        overrides["pase_folder"] = str(tmp_path / "pase")
    path = REPO / "recipes" / "Pretrain" / "hparams" / f"{name}.yaml"
    with open(path) as fin:
        hparams = load_hyperpyyaml(fin, overrides)
    encoder = hparams["encoder"]
    optimizer = hparams["opt_class"](encoder.parameters())
    group = optimizer.param_groups[0]
    assert type(optimizer) is torch.optim.AdamW
    assert (group["lr"], tuple(group["betas"]), group["eps"], group["weight_decay"]) == (
        1e-5, (0.9, 0.99), 1e-6, 0.0
    )
    assert hparams["lr_scheduler"] is None  # constant lr
    assert hparams["max_grad_norm"] == 0  # no clipping
    assert hparams["keep_best_valid"] and hparams["min_duration"] == 2.0
    assert hparams["crop_seconds"] == 5.0
    assert hparams["frame_targets"].normalise == "utterance"
    assert encoder.config["adapter_init"] == "pytorch"
    assert encoder.config["activation_dropout"] == 0.1
    assert encoder.feature_projection.dropout.p == 0.0
    assert encoder.acoustic_layers[0].feed_forward.activation_dropout.p == 0.1
    if name == "care_base_authors":
        assert type(hparams["frame_targets"]).__name__ == "NpyTargets"
        assert hparams["frame_targets"].dim == encoder.acoustic_head.out_features == 256
        assert hparams["precision"] == "fp32"
        assert (hparams["batch_size"], hparams["pad_to_crop"], hparams["require_text"]) == (128, True, True)
    else:
        assert type(hparams["frame_targets"]).__name__ == "OpenSmileTargets"
        assert hparams["precision"] == "bf16" and hparams["batch_size"] is None


PROBE_YAMLS = sorted((REPO / "recipes").glob("*/emotion/hparams/probe.yaml")) + [
    REPO / "templates" / "emotion_probe" / "hparams" / "probe.yaml"
]
# Keys the runner (run.py, loop.py, categorical.py) reads only in one
# configuration (a head's settings at the top level of a YAML without
# ``head``; protocol: emobox; extract_clips: authors).
CONDITIONAL_KEYS = {
    "head", "probe", "opt_class", "epochs", "solver", "C", "max_iterations", "authors_clip_rule",
    "emobox_folds", "emobox_dataset", "emobox_exclude", "emobox_valid_fraction",
}  # fmt: skip
# Keys only the recipes with attribute annotations define (task: dimensional,
# read by care.probing.dimensional).
DIMENSIONAL_KEYS = {"attributes", "dimensional_loss", "dimensional_reference"}


def top_level_keys(path):
    return set(re.findall(r"^([A-Za-z_]\w*):", path.read_text(), re.M))


def test_probe_yamls_define_every_key_the_runner_reads():
    """The thirteen probe.yaml files (twelve recipes, the template) define every key
    of ``run.PROBE_KEYS``, the twelve recipes the same keys; every key the
    runner reads as ``hparams[...]`` is in ``PROBE_KEYS`` or read only in one
    configuration, and no default for it hides in the code."""
    from care.probing import categorical, loop, run

    assert len(PROBE_YAMLS) == 13
    for path in PROBE_YAMLS:
        missing = set(run.PROBE_KEYS) - top_level_keys(path)
        assert not missing, f"{path.relative_to(REPO)} lacks {sorted(missing)}"
    recipes = [top_level_keys(path) - DIMENSIONAL_KEYS for path in PROBE_YAMLS[:-1]]
    assert all(keys == recipes[0] for keys in recipes), "the twelve recipes define different keys"
    for module in (run, loop, categorical):
        source = Path(module.__file__).read_text()
        read = set(re.findall(r"(?<![\w.])(?:self\.)?hparams\[\"(\w+)\"\]", source))
        assert read <= set(run.PROBE_KEYS) | CONDITIONAL_KEYS, sorted(read - set(run.PROBE_KEYS))
        defaults = set(re.findall(r"(?<![\w.])(?:self\.)?hparams\.get\(\"(\w+)\"", source))
        assert defaults <= {"head", "probe_head"}, sorted(defaults)


def test_prepare_options_have_one_name_per_meaning(tmp_path):
    """Each probe.yaml's ``prepare_options`` are arguments of its prepare
    function; no prepare function (twelve recipes, the template) takes a former
    name (``strict`` checks the release's counts, ``max_bad_files`` bounds the
    skipped audio files); and a former name in a YAML fails, saying what to
    write instead, before anything is prepared."""
    import inspect

    from care.probing.run import RENAMED_PREPARE_OPTIONS, prepare_corpus
    from conftest import load_module

    arguments = set()
    for path in PROBE_YAMLS:
        (script,) = path.parents[1].glob("*prepare.py")
        module = load_module(script, f"care_test_{script.stem}")
        (prepare,) = [f for n, f in vars(module).items() if n.startswith("prepare_") and callable(f)]
        parameters = set(inspect.signature(prepare).parameters)
        block = re.search(r"^prepare_options:.*\n((?:    .*\n)+)", path.read_text(), re.M).group(1)
        options = set(re.findall(r"^    (\w+):", block, re.M))
        assert options <= parameters, f"{path.relative_to(REPO)}: {sorted(options - parameters)}"
        arguments |= parameters
    assert len(PROBE_YAMLS) == 13 and not arguments & set(RENAMED_PREPARE_OPTIONS)
    assert {"strict", "max_bad_files"} <= arguments

    calls = []
    hparams = {"dataset": "EmoDB", "data_folder": str(tmp_path), "prepare_folder": str(tmp_path / "p"),
               "prepare_options": {"expected_utterances": None}}  # fmt: skip
    with pytest.raises(ValueError, match="prepare_options of EmoDB: expected_utterances is now strict"):
        prepare_corpus(lambda **options: calls.append(options), hparams)
    assert not calls
    hparams["prepare_options"] = {"strict": False}
    prepare_corpus(lambda **options: calls.append(options), hparams)
    assert calls == [{"data_folder": str(tmp_path), "save_folder": str(tmp_path / "p"), "strict": False}]


def load_probe_yaml(path, **overrides):
    """A probe.yaml loaded as a recipe would, with its placeholders filled."""
    values = {"data_folder": "corpus", "encoder_source": "egemaps", **overrides}
    with open(path, encoding="utf-8") as fin:
        return load_hyperpyyaml(fin, values)


@pytest.mark.parametrize("path", PROBE_YAMLS, ids=lambda p: p.parts[-4])
def test_probe_yamls_share_one_definition_of_the_heads_and_the_encoder_defaults(path):
    """Every probing YAML (recipes and template) takes its heads from
    care/probing/probe_heads.yaml, and reads a multi-layer encoder with
    linear_concat + mean_std, eGeMAPS with mlp + mean, unless the command
    line names a head or a pooling."""
    from care.probing.heads import probe_heads

    text = path.read_text()
    assert "probe_heads: !apply:care.probing.probe_heads" in text
    assert "layer_combination" not in text, "a head defined outside probe_heads.yaml"
    header = " ".join(line.strip("# ") for line in text.split("\n\n")[0].splitlines())
    assert "small MLP" not in header and "linear layer fitted to its optimum" in header, \
        "the header describes the defaults of an earlier version"
    shared = probe_heads()
    for source, head, pooling in (("egemaps", "mlp", "mean"), ("random:care_small", "linear_concat", "mean_std"),
                                  ("microsoft/wavlm-base", "linear_concat", "mean_std")):  # fmt: skip
        hparams = load_probe_yaml(path, encoder_source=source)
        assert (hparams["probe_head"], hparams["pooling"]) == (head, pooling), source
        assert hparams["head"].get("members") == shared[head].get("members")
        assert hparams["head"].get("C") == shared[head].get("C")
        assert hparams["head"]["probe"].keywords == shared[head]["probe"].keywords
        # The recipes' default normalisation (the normalisation study): speaker, URDU none.
        mode = "none" if "URDU" in path.parts else "speaker"
        assert hparams["feature_normalization"] == mode
        assert hparams["output_folder"].endswith(("" if head == "mlp" else f"-{head}-{pooling}")
                                                 + ("" if mode == "none" else f"-{mode}_norm"))
        assert hparams["reference"] is not None
    assert ("speaker-normalised" if mode == "speaker" else "not normalised") in header
    hparams = load_probe_yaml(path, encoder_source="random:care_small", probe_head="mlp", pooling="mean", lr=0.01)
    assert (hparams["probe_head"], hparams["pooling"]) == ("mlp", "mean")
    assert hparams["head"]["opt_class"].keywords["lr"] == 0.01


def test_probe_heads_refuses_an_unknown_setting():
    from care.probing.heads import probe_heads

    with pytest.raises(Exception, match="lrr"):
        probe_heads(lrr=0.1)
