"""Probe runs resume exactly and never reuse a fold whose inputs changed: a
fold killed mid-training is trained again and ends as the run that was never
interrupted; a finished fold is reused only while its utterances, labels,
split, features, seed and options are the same. Members trained together are
the members trained alone."""

import functools
import json

import pytest
import torch
from speechbrain.utils.train_logger import FileTrainLogger

from care.lobes import EmotionProbe
from care.probing import loop
from care.probing.categorical import CategoricalTask

LABELS = ["angry", "happy", "sad"]


@pytest.fixture(scope="module")
def fold():
    """Noisy features of three classes, split into train / valid / test."""
    generator = torch.Generator().manual_seed(0)
    centres = torch.randn(len(LABELS), 2, 8, generator=generator)
    features, data = {}, {}
    for index in range(90):
        label = index % len(LABELS)
        features[f"u{index:02d}"] = centres[label] + 1.5 * torch.randn(2, 8, generator=generator)
        data[f"u{index:02d}"] = {"label": LABELS[label], "speaker": f"s{index % 5}", "fold": f"s{index % 5}"}
    ids = sorted(features)
    return features, data, (ids[:54], ids[54:72], ids[72:])


def experiment(features, data, members=1, dropout=0.5, head=None):
    hparams = {"train_logger": FileTrainLogger, "batch_size": 8, "noprogressbar": True}
    head = head or {
        "probe": functools.partial(EmotionProbe, hidden_dim=16, dropout=dropout),
        "epochs": 8,
        "opt_class": functools.partial(torch.optim.AdamW, lr=3e-3),
        "refit": True,
        "members": members,
    }
    dims = {"num_layers": 2, "input_dim": 8, "num_classes": len(LABELS), "layers": [0, 1]}
    task = CategoricalTask(hparams, data)
    return loop.Experiment(hparams, {"device": "cpu"}, features, data, task, dims, loop.probe_settings({"head": head}))


def train_fold(fold, folder, **options):
    features, data, sets = fold
    result = loop.train_fold(experiment(features, data, **options), sets, 3, "f1", str(folder))
    return {k: v for k, v in result.items() if k != "seconds"}


@pytest.fixture(scope="module")
def uninterrupted(fold, tmp_path_factory):
    return train_fold(fold, tmp_path_factory.mktemp("uninterrupted"), members=3)


def test_fold_killed_mid_training_ends_as_the_uninterrupted_one(fold, uninterrupted, tmp_path, monkeypatch):
    """A kill in the middle of a fold's training (its 30th optimiser step)
    leaves no result; the rerun trains the fold again, identically."""
    original, steps = torch.optim.AdamW.step, []

    def step(self, *args, **kwargs):
        steps.append(1)
        if len(steps) == 30:
            raise KeyboardInterrupt("killed mid-fold")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.AdamW, "step", step)
    with pytest.raises(KeyboardInterrupt):
        train_fold(fold, tmp_path, members=3)
    monkeypatch.undo()
    assert not (tmp_path / "result.json").exists()
    assert train_fold(fold, tmp_path, members=3) == uninterrupted


def test_finished_fold_is_reused_only_with_the_same_inputs(fold, uninterrupted, tmp_path, monkeypatch):
    """Reproduction (stale fold results): a fold's result.json was reused
    after its labels, its utterances or its features changed. Now a change
    trains it again; the same inputs reuse it without training."""
    features, data, (train, valid, test) = fold
    assert train_fold(fold, tmp_path, members=3) == uninterrupted
    monkeypatch.setattr(loop, "train_members", lambda *args, **kwargs: pytest.fail("trained again"))
    assert train_fold(fold, tmp_path, members=3) == uninterrupted  # reused: nothing trained
    monkeypatch.undo()

    relabelled = {u: dict(e, label="sad") if u == train[0] else e for u, e in data.items()}
    fewer = (train[:-4], valid, test)
    moved = dict(features, **{test[0]: features[test[0]] + 1.0})
    for changed in ((features, relabelled, fold[2]), (features, data, fewer), (moved, data, fold[2])):
        result = train_fold(changed, tmp_path, members=3)
        assert result["identity"] != uninterrupted["identity"]
        assert json.loads((tmp_path / "result.json").read_text())["identity"] == result["identity"]
    assert train_fold(fold, tmp_path, members=3) == uninterrupted  # back to the original inputs


def test_torn_result_file_is_trained_again(fold, uninterrupted, tmp_path):
    """A result.json that is not JSON (a disk full, an editor) is trained
    again with a logged line, not a traceback."""
    (tmp_path / "result.json").write_text('{"seed": 3, "fold"')
    assert train_fold(fold, tmp_path, members=3) == uninterrupted


def test_members_have_their_own_initialisation_shuffle_and_epoch(fold):
    """Trained together without dropout, each member ends exactly as it ends
    trained alone (its own seed's initialisation and shuffle, its own best
    epoch); the members differ from each other."""
    features, data, (train, valid, _) = fold
    exp = experiment(features, data, dropout=0.0)
    together = loop.fit_probes(exp, 3, [11, 12, 13], train, valid)
    for k, seed in enumerate([11, 12, 13]):
        (alone, epoch, score), = loop.fit_probes(exp, 3, [seed], train, valid)
        assert (together[k][1], together[k][2]) == (epoch, score)
        for a, b in zip(together[k][0].state_dict().values(), alone.state_dict().values()):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    weights = [p.mlp[1].weight for p, _, _ in together]
    assert not torch.allclose(weights[0], weights[1])


def test_linear_head_reaches_the_logistic_regression_optimum(fold):
    """The full-batch linear head with one C is scikit-learn's multinomial
    logistic regression with that C on the same standardised inputs (no
    class weights): coefficients within 0.1 %, the same predictions."""
    from sklearn.linear_model import LogisticRegression

    features, data, (train, valid, _) = fold
    head = {"probe": functools.partial(EmotionProbe, num_hidden_layers=0, dropout=0.0, layer_norm=False,
                                       layer_combination="concatenate"),
            "solver": "lbfgs", "C": 0.5, "max_iterations": 500}
    exp = experiment(features, data, head=head)
    ids = sorted(train + valid)
    probe, choice = loop.fit_linear_probe(exp, ids)
    raw = torch.stack([features[u] for u in ids])
    x = ((raw - probe.feature_mean) / probe.feature_std).flatten(1).double().numpy()
    y = [LABELS.index(data[u]["label"]) for u in ids]
    model = LogisticRegression(C=0.5, max_iter=5000, tol=1e-10).fit(x, y)
    ours = probe.mlp[-1].weight.detach().double().numpy()
    assert choice["C"] == 0.5
    assert abs(ours - model.coef_).max() < 1e-3 * abs(model.coef_).max()
    with torch.no_grad():
        assert (probe(raw).argmax(-1).numpy() == model.predict(x)).all()


def test_linear_head_chooses_C_by_cross_validation_over_speaker_groups(fold):
    """With several C, each speaker group is held out once per C; the chosen
    C has the best pooled held-out score, and more utterances than
    dimensions are not needed (the fit works in the utterances' span)."""
    features, data, (train, valid, _) = fold
    wide = {u: torch.cat([f, 0.01 * torch.randn(2, 200)], dim=1) for u, f in features.items()}
    head = {"probe": functools.partial(EmotionProbe, num_hidden_layers=0, dropout=0.0, layer_norm=False,
                                       layer_combination="concatenate"),
            "solver": "lbfgs", "C": [0.001, 0.1, 10.0], "max_iterations": 100}
    exp = experiment(wide, data, head=head)
    exp.dims["input_dim"] = 208
    probe, choice = loop.fit_linear_probe(exp, sorted(train + valid))
    assert set(choice["cv_scores"]) == {0.001, 0.1, 10.0}
    assert choice["C"] == max(choice["cv_scores"], key=choice["cv_scores"].get)
    assert choice["cv_scores"][choice["C"]] > 0.6


def test_run_folder_names_follow_the_options(tmp_path):
    """A run's folder (``run-<hash>`` or ``dim-<hash>``) changes with what
    shapes its probes, and only with that: these names were computed when
    training moved into memory (a fold's result also carries its identity,
    so a stale one is never reused)."""
    from care.lobes import AuthorsProbe
    from care.probing.dimensional import DimensionalTask

    (tmp_path / "prepare.json").write_text('{"options": {"task": "dimensional"}}')
    data = {"u1": {"label": "a", "arousal": 1.0, "valence": 2.0},
            "u2": {"label": "b", "arousal": 3.0, "valence": 1.0}}
    heads = [
        {"probe": functools.partial(EmotionProbe, hidden_dim=256),
         "opt_class": functools.partial(torch.optim.AdamW, lr=1e-3), "epochs": 30, "refit": True, "members": 1},
        {"probe": functools.partial(EmotionProbe, num_hidden_layers=0, layer_combination="concatenate"),
         "solver": "lbfgs", "C": [0.1, 1.0], "balance_classes": True},
        {"probe": AuthorsProbe, "opt_class": functools.partial(torch.optim.Adam, lr=1e-4), "epochs": 20},
    ]
    protocols = [{"name": "speaker_independent"}, {"name": "emobox", "files": "abc123"}]
    names = []
    for head in heads:
        for protocol in protocols:
            hparams = {"encoder_source": "random:care_small", "batch_size": 32, "num_valid_folds": 1,
                       "emobox_valid_fraction": 0.2, "seed": 7, "prepare_folder": str(tmp_path),
                       "head": head}
            settings = loop.probe_settings(hparams)
            for task in (CategoricalTask(hparams, data), DimensionalTask(hparams, data)):
                names.append(loop.signature(hparams, task, "feat/x.pt", [1, 2], settings, protocol))
    assert len(set(names)) == len(names)
    assert names == [
        "run-66ad89964e", "dim-b28e58a6f3", "run-864712aaaf", "dim-9828428323",
        "run-5226bf81a3", "dim-aaf1a6b60c", "run-7f0253659e", "dim-e74c05a627",
        "run-9a3b72c7ac", "dim-2d84328599", "run-3be1dc52da", "dim-a174c47458",
    ]


@pytest.mark.parametrize("options", [
    {"hidden_dim": 16}, {"num_hidden_layers": 0, "layer_combination": "concatenate", "layers": [1]},
    {"num_hidden_layers": 2, "hidden_dim": 8, "layer_norm": False}, "authors",
])  # fmt: skip
def test_stacked_probes_compute_each_probe(options):
    """The stacked forward (batched products for EmotionProbe, vmap for any
    other probe) gives each member's own outputs, in eval mode and, without
    dropout, in training mode; gradients reach every member."""
    from care.lobes import AuthorsProbe
    from care.probing.training import StackedProbes

    probes = []
    for seed in range(3):
        torch.manual_seed(seed)
        if options == "authors":
            probes.append(AuthorsProbe(3, 8, 4, depth_layers=[[0, 1], [1, 2]], appended_layer=2, dropout=0.0))
        else:
            probes.append(EmotionProbe(3, 8, 4, dropout=0.0, **options))
        probes[-1].set_normalisation(torch.randn(20, 3, 8) * (seed + 1))
    stack = StackedProbes(probes)
    x = torch.randn(5, 3, 8)
    for training in (False, True):
        outputs = stack(x, training=training)
        for k, probe in enumerate(probes):
            torch.testing.assert_close(outputs[k], probe.train(training)(x), atol=1e-5, rtol=1e-5)
    per_member = stack(torch.randn(3, 5, 3, 8), training=True)
    per_member.sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in stack.params.values()
               if p.dim() > 1)
