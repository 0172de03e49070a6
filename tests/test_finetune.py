"""Fine-tuning recipes (``hparams/finetune.yaml``): the YAMLs beside every
probe.yaml, which encoder parts train, a run end to end on an EmoDB-like tree
with a tiny random CARE (results, the exported classifier loaded by
``EmotionRecognizer`` and run by ``care-classify``), and a killed run resumed
to the same result."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import speechbrain as sb
import torch
from hyperpyyaml import load_hyperpyyaml

from care.lobes import CAREEncoder
from care.probing.finetune import ENCODER_PARTS, EmotionFineTuner, set_trainable, trainable_encoder
from care.recipe import InputError
from test_probing import load_recipe_module, make_emodb, tiny_care_yaml

REPO = Path(__file__).resolve().parents[1]
FINETUNE_YAMLS = sorted((REPO / "recipes").glob("*/emotion/hparams/finetune.yaml")) + [
    REPO / "templates" / "emotion_probe" / "hparams" / "finetune.yaml"
]
# Read by sb.Brain as run options (the command line's replace them).
RUN_OPTIONS = {"precision", "eval_precision", "max_grad_norm", "grad_accumulation_factor",
               "ckpt_interval_minutes", "noprogressbar"}
# Read only with protocol: emobox (care.probing.run.protocol_splits).
EMOBOX_KEYS = {"emobox_folds", "emobox_dataset", "emobox_exclude", "emobox_valid_fraction"}
# Keys the probe.yaml beside it must give the same value (preparation and folds are shared).
SHARED_WITH_PROBE = ("dataset", "prepare_folder", "prepare_options", "protocol", "check_speakers",
                     "num_valid_folds", "test_folds", *sorted(EMOBOX_KEYS))


def top_level_keys(path):
    return set(re.findall(r"^([A-Za-z_]\w*):", path.read_text(), re.M))


def load_yaml(path, **overrides):
    values = {"data_folder": "corpus", "encoder_source": "random:care_small", **overrides}
    with open(path, encoding="utf-8") as handle:
        return load_hyperpyyaml(handle, values)


def test_finetune_yamls_beside_every_probe_yaml_use_every_key():
    """Twelve recipes and the template have a finetune.yaml; each defines
    every key the runner reads (``FINETUNE_KEYS``), the twelve the same keys;
    every key it defines is read (by the runner, the Brain's run options, the
    emobox protocol) or referenced by another key; the code reads no key
    outside them and takes no default for one."""
    from care.probing import finetune, finetune_loop

    assert len(FINETUNE_YAMLS) == 13
    assert {p.parents[1] for p in FINETUNE_YAMLS} == {
        p.parents[1] for p in (REPO / "recipes").glob("*/emotion/hparams/probe.yaml")} | {
        REPO / "templates" / "emotion_probe"}
    known = set(finetune_loop.FINETUNE_KEYS)
    for path in FINETUNE_YAMLS:
        keys = top_level_keys(path)
        assert not known - keys, f"{path.relative_to(REPO)} lacks {sorted(known - keys)}"
        text = path.read_text()
        unused = {k for k in keys - known - RUN_OPTIONS - EMOBOX_KEYS
                  if not k.startswith("__") and f"<{k}>" not in text and f"<{k}[" not in text}
        assert not unused, f"{path.relative_to(REPO)}: unused {sorted(unused)}"
    recipes = [top_level_keys(path) for path in FINETUNE_YAMLS[:-1]]
    assert all(keys == recipes[0] for keys in recipes), "the twelve recipes define different keys"
    for module in (finetune, finetune_loop):
        source = Path(module.__file__).read_text()
        read = set(re.findall(r"hparams\[\"(\w+)\"\]", source))
        read |= set(re.findall(r"self\.hparams\.(\w+)", source))
        fold_objects = {"num_classes", "epoch_counter", "encoder_scheduler", "head_scheduler"}
        assert read <= known | RUN_OPTIONS | fold_objects, sorted(read - known - RUN_OPTIONS)
        defaults = set(re.findall(r"hparams\.get\(\"(\w+)\"", source))
        assert defaults <= RUN_OPTIONS, sorted(defaults)


@pytest.mark.parametrize("path", FINETUNE_YAMLS, ids=lambda p: p.parts[-4])
def test_finetune_yaml_shares_the_recipes_preparation_and_folds(path):
    """A finetune.yaml loads, prepares and splits as its probe.yaml (same
    prepare folder and options, protocol keys), and says what trains."""
    finetune = load_yaml(path)
    probe_path = path.with_name("probe.yaml")
    with open(probe_path, encoding="utf-8") as handle:
        probe = load_hyperpyyaml(handle, {"data_folder": "corpus", "encoder_source": "egemaps"})
    for key in SHARED_WITH_PROBE:
        if key in probe:
            assert finetune[key] == probe[key], key
    assert finetune["train_parts"] == ["shared", "acoustic"] and set(finetune["train_parts"]) <= set(ENCODER_PARTS)
    assert finetune["augment"] is False and finetune["task"] == "categorical"
    assert finetune["precision"] in ("fp32", "bf16") and finetune["eval_precision"] == finetune["precision"]
    assert finetune["output_folder"].endswith("finetune/random-care_small")
    # The measured defaults (docs/experiments/2026-12-07_finetune, addendum 6): the frozen probe's
    # reader and objective, started from its fit, the head moved ten times less than SpeechBrain's
    from care.probing.training import check_linear

    assert finetune["pooling"] == "mean_std" and finetune["head_init"] == "probe"
    assert finetune["balance_classes"] is True and finetune["head_opt_class"].keywords["lr"] == 0.0001
    head = finetune["head_class"](num_layers=4, input_dim=8, num_classes=3)
    check_linear(head)
    assert head.layer_weighting.layer_norm is False


def tiny_encoder(tiny_kwargs):
    torch.manual_seed(0)
    return CAREEncoder(**tiny_kwargs)


def test_train_parts_choose_what_trains(tiny_kwargs):
    """The default parts train the shared and acoustic layers only (the text
    model's layers and the front end stay frozen), an unknown part is refused,
    and eGeMAPS (no weights) cannot be fine-tuned."""
    encoder = tiny_encoder(tiny_kwargs)
    counts = set_trainable(encoder, ["shared", "acoustic"])
    trainable = {n.split(".")[0] for n, p in encoder.named_parameters() if p.requires_grad}
    assert trainable == {"relative_position", "shared_layers", "acoustic_layers"}
    assert sum(counts.values()) == sum(p.numel() for p in encoder.parameters() if p.requires_grad)
    set_trainable(encoder, [])
    assert not any(p.requires_grad for p in encoder.parameters())
    set_trainable(encoder, list(ENCODER_PARTS))
    frozen = {n for n, p in encoder.named_parameters() if not p.requires_grad}
    assert all(n.startswith(("semantic_proj", "acoustic_head")) for n in frozen)  # outputs the head never reads
    with pytest.raises(InputError, match="unknown \\['acustic'\\]"):
        set_trainable(encoder, ["acustic"])
    from care.probing.extractors import build_extractor

    with pytest.raises(InputError, match="needs a speech encoder"):
        trainable_encoder(build_extractor("egemaps"))


def run_finetune(tmp_path, root, config, output, *extra, folds='["03"]'):
    """The recipe's command on the fixture: one fold (``folds``), tiny
    batches, the encoder unfrozen after one step."""
    train = load_recipe_module("EmoDB", "train")
    return train.main([
        "hparams/finetune.yaml",  # relative to the recipe folder
        "--data_folder", str(root),
        "--encoder_source", f"random:{config}",
        "--output_folder", str(output),
        "--prepare_folder", str(tmp_path / "prepared"),
        "--prepare_options", "{strict: False}",
        "--test_folds", folds,
        *([] if "--batch_size" in extra else ["--batch_size", "4"]),
        "--warmup_steps", "1",
        "--freeze_encoder_steps", "1",
        "--train_dataloader_opts", "{num_workers: 0}",
        "--valid_dataloader_opts", "{batch_size: 4, num_workers: 0}",
        "--noprogressbar",
        *extra,
    ])


def test_finetune_end_to_end_exports_a_classifier_care_classify_uses(tmp_path, tiny_kwargs, monkeypatch):
    """The issue's bar on a 3-speaker EmoDB-like tree: two folds (the second
    once failed: SpeechBrain had written into the first fold's loader
    options), one epoch, a tiny random CARE; results.md written; the exported
    classifier holds the fine-tuned encoder (changed where it trained,
    unchanged where frozen), loads untrusted through
    EmotionRecognizer.from_hparams and labels files with care-classify
    (table, timeline, report)."""
    from care.inference import EmotionRecognizer
    from care.probing.extractors import build_extractor

    monkeypatch.chdir(tmp_path)
    config = tiny_care_yaml(tmp_path, tiny_kwargs)
    root = make_emodb(tmp_path / "emodb", speakers=("03", "08", "09"))
    out = tmp_path / "out"
    results = run_finetune(tmp_path, root, config, out, "--number_of_epochs", "1", folds='["03", "08"]')
    assert results["folds"] == ["03", "08"]
    assert all(run["sizes"] == {"train": 7, "valid": 7, "test": 7} for run in results["runs"])
    assert results["runs"][0]["best_epoch"] == 1 and results["runs"][0]["optimizer_steps"] == 2
    assert results["fine_tuning"]["train_parts"] == ["shared", "acoustic"]
    for metric in ("weighted_f1", "ua", "wa", "macro_f1"):
        assert 0.0 <= results["metrics"]["mean"][metric] <= 1.0
    markdown = (out / "results.md").read_text()
    assert "| weighted F1 |" in markdown and "fine-tuned with its head" in markdown
    assert json.loads((out / "results.json").read_text())["classifier"]["epochs"] == 1
    assert (out / "confusion.png").stat().st_size > 1000
    fold = next((out / "save").glob("finetune-*/fold_03"))
    assert not list(fold.glob("CKPT*")), "a finished fold keeps its result, not its checkpoints"

    folder = out / "classifier"
    exported = torch.load(folder / "extractor.ckpt", weights_only=True)
    sb.utils.seed_everything(1986)  # the recipe's seed, under which each fold draws its encoder
    initial = build_extractor(f"random:{config}").state_dict()
    assert torch.equal(exported["encoder.feature_extractor.convs.0.weight"],
                       initial["encoder.feature_extractor.convs.0.weight"])  # frozen: the front end
    assert not torch.equal(exported["encoder.shared_layers.0.feed_forward.in_proj.weight"],
                           initial["encoder.shared_layers.0.feed_forward.in_proj.weight"])  # trained
    recognizer = EmotionRecognizer.from_hparams(source=str(folder), savedir=str(tmp_path / "collected"))
    assert recognizer.labels == results["labels"]
    wav = str(root / "wav" / "08a02La.wav")
    out_prob, _, _, labels = recognizer.classify_file(wav)
    assert out_prob.shape == (1, 7) and labels[0] in results["labels"]

    run = subprocess.run([sys.executable, "-m", "care.cli", "--source", str(folder), wav, "--jsonl",
                          "--timeline", "--report", str(tmp_path / "report.html")],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    line = json.loads(run.stdout.splitlines()[0])
    assert line["label"] in results["labels"] and line["windows"]
    assert (tmp_path / "report.html").stat().st_size > 1000


def test_killed_finetuning_resumes_to_the_same_result(tmp_path, tiny_kwargs, monkeypatch):
    """A run killed after its first epoch's checkpoint, started again with the
    same command, continues from it (the epoch is not trained again) and ends
    with the test predictions, scores and exported classifier of the run that
    was never interrupted (checkpointed model, optimisers, schedules, random
    states and loader position)."""
    monkeypatch.chdir(tmp_path)
    config = tiny_care_yaml(tmp_path, tiny_kwargs)
    root = make_emodb(tmp_path / "emodb", speakers=("03", "08", "09"))
    extra = ("--number_of_epochs", "2", "--export_classifier", "False")
    whole = run_finetune(tmp_path, root, config, tmp_path / "whole", *extra)

    stage_end = EmotionFineTuner.on_stage_end
    trained, kill = [], [True]

    def counted(self, stage, stage_loss, epoch=None):
        stage_end(self, stage, stage_loss, epoch)
        if stage.name == "TRAIN":
            trained.append(epoch)
        if stage.name == "VALID" and kill[0]:
            raise KeyboardInterrupt("killed after the first epoch's checkpoint")

    monkeypatch.setattr(EmotionFineTuner, "on_stage_end", counted)
    with pytest.raises(KeyboardInterrupt):
        run_finetune(tmp_path, root, config, tmp_path / "resumed", *extra)
    kill[0] = False
    resumed = run_finetune(tmp_path, root, config, tmp_path / "resumed", *extra)
    assert trained == [1, 2]  # the resumed run went on with epoch 2
    keys = ("best_epoch", "valid_weighted_f1", "test", "layer_weights", "optimizer_steps")
    assert [{k: r[k] for k in keys} for r in resumed["runs"]] == [{k: r[k] for k in keys} for r in whole["runs"]]
    outputs = []
    for name in ("whole", "resumed"):
        (path,) = (tmp_path / name / "save").glob("finetune-*/fold_03/result.json")
        outputs.append(json.loads(path.read_text())["outputs"])
    assert outputs[0] == outputs[1]


def test_finetune_a_hugging_face_model(tmp_path, tiny_wavlm, monkeypatch):
    """A Hugging Face speech model (a tiny random WavLM, SpeechBrain's
    ``Wav2Vec2`` lobe) fine-tunes through the same recipe: its transformer
    layers train (``shared``), its CNN stays frozen, and the exported
    classifier (``HFSpeechFeatures`` with the trained weights) loads untrusted."""
    from care.inference import EmotionRecognizer

    monkeypatch.chdir(tmp_path)
    root = make_emodb(tmp_path / "emodb", speakers=("03", "08", "09"))
    train = load_recipe_module("EmoDB", "train")
    out = tmp_path / "out"
    results = train.main([
        "hparams/finetune.yaml", "--data_folder", str(root), "--encoder_source", str(tiny_wavlm),
        "--output_folder", str(out), "--prepare_folder", str(tmp_path / "prepared"),
        "--prepare_options", "{strict: False}", "--test_folds", '["03"]', "--number_of_epochs", "1",
        "--batch_size", "4", "--warmup_steps", "1", "--freeze_encoder_steps", "0",
        "--train_dataloader_opts", "{num_workers: 0}", "--valid_dataloader_opts", "{batch_size: 4, num_workers: 0}",
        "--noprogressbar",
    ])
    trained = results["fine_tuning"]["trainable_parameters"]
    assert trained["shared"] > 0 and trained["acoustic"] == 0
    exported = torch.load(out / "classifier" / "extractor.ckpt", weights_only=True)
    from transformers import WavLMModel

    initial = WavLMModel.from_pretrained(tiny_wavlm).state_dict()
    assert torch.equal(exported["ssl.model.feature_extractor.conv_layers.0.conv.weight"],
                       initial["feature_extractor.conv_layers.0.conv.weight"])
    assert not torch.equal(exported["ssl.model.encoder.layers.0.attention.q_proj.weight"],
                           initial["encoder.layers.0.attention.q_proj.weight"])
    recognizer = EmotionRecognizer.from_hparams(source=str(out / "classifier"), savedir=str(tmp_path / "collected"))
    assert recognizer.classify_batch(torch.randn(1, 16000) * 0.1)[0].shape == (1, 7)


def test_augmentation_and_dynamic_batches(tmp_path, tiny_kwargs, monkeypatch):
    """``--augment True`` (SpeechBrain's speed perturbation or chunk dropping,
    the originals kept: twice the utterances per step, labels replicated) with
    the default dynamic batches (here of 2 s of audio), and with the
    SpeechBrain-style head the YAMLs name as the override of their default
    (mean pooling, softmax layer weights, an MLP from a random start)."""
    from care.lobes.probe import LayerWeighting

    calls, heads = [], []
    forward = EmotionFineTuner.compute_forward

    def counted(self, batch, stage):
        heads.append(self.modules.head)
        out = forward(self, batch, stage)
        if stage.name == "TRAIN":
            calls.append((len(batch.id), out.shape[0]))
        return out

    monkeypatch.setattr(EmotionFineTuner, "compute_forward", counted)
    monkeypatch.chdir(tmp_path)
    config = tiny_care_yaml(tmp_path, tiny_kwargs)
    root = make_emodb(tmp_path / "emodb", speakers=("03", "08", "09"))
    results = run_finetune(tmp_path, root, config, tmp_path / "out", "--number_of_epochs", "1", "--augment", "True",
                           "--export_classifier", "False", "--batch_size", "null", "--dynamic_batch_options",
                           "{max_batch_length: 2, num_buckets: 2, shuffle: True, batch_ordering: random, seed: 1}",
                           "--pooling", "mean", "--head_class", "{num_hidden_layers: 1, dropout: 0.2, layer_norm: True, "
                           "layer_combination: weighted_sum}", "--head_init", "null", "--balance_classes", "False",
                           "--head_lr", "0.001")
    assert results["fine_tuning"]["augment"] and results["fine_tuning"]["batches"] == "dynamic, 2 s"
    assert results["fine_tuning"]["head_init"] == "random" and results["fine_tuning"]["head_lr"] == 0.001
    head = heads[0]  # the override's head: softmax layer weights, then one hidden layer
    assert isinstance(head.layer_weighting, LayerWeighting)
    assert sum(isinstance(m, torch.nn.Linear) for m in head.mlp) == 2
    assert sum(n for n, _ in calls) == 7 and all(rows == 2 * n for n, rows in calls)


def test_head_init_probe_starts_from_the_frozen_probe(tmp_path, tiny_kwargs, monkeypatch):
    """head_init: probe (linear probing, then fine-tuning): with no training step at all
    (the encoder frozen, head lr 0), the fine-tuned model's test predictions are those of
    the logistic regression fitted to its optimum on the fold's training utterances'
    frozen features, class-balanced, C = head_init_C (computed here independently with
    scikit-learn); a head that is not one linear layer over the layers side by side is
    refused before any training, and results.md says how the head started."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    from care.probing.cache import cached_features
    from care.probing.extractors import build_extractor

    monkeypatch.chdir(tmp_path)
    config = tiny_care_yaml(tmp_path, tiny_kwargs)
    root = make_emodb(tmp_path / "emodb", speakers=("03", "08", "09"))
    reader = ["--pooling", "mean_std", "--head_class", "{num_hidden_layers: 0, layer_combination: concatenate, "
              "dropout: 0.0, layer_norm: False}", "--head_init", "probe", "--head_init_C", "0.1"]
    with pytest.raises(InputError, match="head_init: probe .* one linear layer"):
        run_finetune(tmp_path, root, config, tmp_path / "refused", "--head_init", "probe", "--head_class",
                     "{num_hidden_layers: 1, layer_combination: weighted_sum}")
    out = tmp_path / "out"
    results = run_finetune(tmp_path, root, config, out, *reader, "--number_of_epochs", "1", "--train_parts", "[]",
                           "--head_lr", "0.0", "--export_classifier", "False")
    assert results["fine_tuning"]["head_init"] == "probe"
    assert "started from the frozen probe" in (out / "results.md").read_text()
    run = json.loads(next((out / "save").glob("finetune-*/fold_03/result.json")).read_text())
    data = json.loads((tmp_path / "prepared" / "data.json").read_text())
    ids, values = cached_features(build_extractor(f"random:{config}", None, "mean_std"), data, str(root),
                                  str(tmp_path / "features.pt"), batch_size=4, device="cpu")
    features = dict(zip(ids, values.flatten(1).double().numpy()))
    labels = sorted({e["label"] for e in data.values()})
    predicted = [labels[i] for i in run["outputs"]["predictions"]]
    agreement = []
    for speaker in ("08", "09"):  # one trains, the other validates (the fold's own choice)
        train = sorted(u for u, e in data.items() if e["speaker"] == speaker)
        x = np.stack([features[u] for u in train])
        mean, std = x.mean(0), x.std(0, ddof=1)
        std[std < 1e-12] = 1.0
        reference = LogisticRegression(C=0.1, class_weight="balanced", max_iter=10000).fit(
            (x - mean) / std, [data[u]["label"] for u in train])
        expected = reference.predict((np.stack([features[u] for u in run["outputs"]["ids"]]) - mean) / std)
        agreement.append(float(np.mean(np.array(predicted) == expected)))
    assert max(agreement) >= 6 / 7, agreement


def test_balance_classes_weights_the_fine_tuning_loss():
    """balance_classes: True: the training loss weights each class by its inverse frequency in
    the fold's training utterances (class_weights, as the probes' balance_classes); False: the
    plain cross-entropy."""
    from types import SimpleNamespace

    import torch.nn.functional as F

    from care.probing.categorical import CategoricalTask
    from care.probing.finetune_loop import class_weights

    data = {f"u{i}": {"label": label, "speaker": "s"} for i, label in enumerate("aaab")}
    task = CategoricalTask({"task": "categorical"}, data)
    weights = class_weights({"balance_classes": True}, task, sorted(data))
    torch.testing.assert_close(weights, torch.tensor([4 / 6, 4 / 2]))
    assert class_weights({"balance_classes": False}, task, sorted(data)) is None
    predictions = torch.randn(4, 2)
    batch = SimpleNamespace(label_index=SimpleNamespace(data=torch.tensor([[0], [0], [0], [1]])), id=list(data))
    for weight in (weights, None):
        brain = SimpleNamespace(hparams=SimpleNamespace(augment=False, compute_cost=F.cross_entropy,
                                                        class_weights=weight))
        loss = EmotionFineTuner.compute_objectives(brain, predictions, batch, sb.Stage.TRAIN)
        torch.testing.assert_close(loss, F.cross_entropy(predictions, torch.tensor([0, 0, 0, 1]), weight=weight))
