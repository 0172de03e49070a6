"""Probe training on in-memory tensors, the two ways a head can ask for.

- :func:`train_members` (``mlp``, ``linear``, ``authors``): a head's
  ``members`` probes of one test fold and seed trained *together*, as one
  model whose parameters are stacked along a first dimension
  (:class:`StackedProbes`, ``torch.func``). Each member keeps its own
  initialisation (built under its own seed), its own shuffle (a generator
  seeded with it), its own dropout masks and its own best validation epoch,
  held in memory; the optimiser is element-wise (Adam, AdamW), so the stacked
  run is the members' independent runs computed side by side. Batches are
  index slices of one feature tensor: no per-item pipeline, no padding.
- :func:`fit_linear` (``linear_concat``, ``solver: lbfgs``): the linear
  probe trained to its optimum. A multinomial logistic regression (or, for
  the dimensional task, a linear regression under the task's loss) on the
  standardised features of all non-test utterances, full-batch L-BFGS, its L2
  strength given as scikit-learn's ``C`` (``1 / (C * n)`` on the mean loss).
  With several values of ``C`` the one kept is chosen by cross-validation
  over the training speaker groups (each group held out once, the held-out
  predictions pooled and scored with the task's selection metric), every
  (group, ``C``) fit solved at once along the path from strong to weak
  regularisation. The fit is convex and deterministic: seeds and members do
  not change it. When utterances are fewer than dimensions the problem is
  solved exactly in the span of the training utterances (an eigendecomposition
  of their Gram matrix), so the cost follows the number of utterances, not
  the encoder's width.

What a task supplies is an *objective* (:class:`care.probing.categorical.Objective`
and its dimensional counterpart): ``loss(outputs [M, B, C], targets
[M, B, ...], weights=None)`` summed over members of each member's mean,
``scores(outputs [M, N, C], targets [N, ...])`` one selection score per
member, and ``target_tensor(ids)``.

SpeechBrain's ``Brain`` is not used here: it is built for long sequences
read through a data loader, and for a probe over a few hundred pooled vectors
its per-batch and per-epoch machinery (dataset pipeline, padding, stage hooks,
a checkpoint per improvement) was the cost: BENCHMARKS.md ("Probe training")
gives the measurement.

Example
-------
>>> from care.lobes import EmotionProbe
>>> probes = []
>>> for seed in (1, 2):
...     _ = torch.manual_seed(seed)
...     probes.append(EmotionProbe(2, 4, 3, hidden_dim=8))
>>> stack = StackedProbes(probes)
>>> x = torch.randn(5, 2, 4)
>>> outputs = stack(x, training=False)
>>> outputs.shape, torch.allclose(outputs[1], probes[1].eval()(x), atol=1e-6)
(torch.Size([2, 5, 3]), True)
>>> torch.equal(stack.probes()[1].mlp[1].weight, probes[1].mlp[1].weight)
True

Authors
 * CARE for SpeechBrain contributors, 2026
"""

import copy
import hashlib

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from care.lobes.probe import EmotionProbe, LayerConcatenation, LayerWeighting

SOLVERS = ("adam", "lbfgs")  # a head's ``solver``: minibatch epochs, or full-batch L-BFGS


class StackedProbes:
    """``M`` probes of one configuration as one model: floating-point
    parameters and buffers stacked ``[M, ...]``, the forward of the first
    probe applied to each member's slice (``torch.func.vmap`` over
    ``functional_call``).

    Arguments
    ---------
    probes : list of torch.nn.Module
        Probes built with the same arguments (their weights may differ).
    """

    def __init__(self, probes):
        self.template = copy.deepcopy(probes[0])
        params, buffers = stack_module_state(probes)
        self.params = {name: value.detach().clone().requires_grad_(True) for name, value in params.items()}
        self.buffers = {name: value for name, value in buffers.items() if value.is_floating_point()}
        self.count = len(probes)

    def _forward(self, params, buffers, x):
        return functional_call(self.template, {**params, **buffers}, (x,))

    def __call__(self, x, training):
        """``[M, B, layers, dim]`` (one batch per member) or ``[B, layers,
        dim]`` (the same for all) -> ``[M, B, outputs]``."""
        self.template.train(training)
        if type(self.template) is EmotionProbe:
            return self._emotion_probe(x, training)
        batched = 0 if x.dim() == 4 else None
        return vmap(self._forward, in_dims=(0, 0, batched), randomness="different")(self.params, self.buffers, x)

    def _emotion_probe(self, x, training):
        """:meth:`EmotionProbe.forward` written for stacked weights (batched
        matrix products; about a third faster than ``vmap`` on CPU)."""
        params, buffers, weighting = self.params, self.buffers, self.template.layer_weighting
        x = (x - buffers["feature_mean"][:, None]) / buffers["feature_std"][:, None]
        x = x.index_select(2, weighting.layers)
        if weighting.layer_norm:
            x = F.layer_norm(x, x.shape[-1:])
        if isinstance(weighting, LayerWeighting):
            x = torch.einsum("mbld,ml->mbd", x, params["layer_weighting.logits"].softmax(dim=-1).to(x.dtype))
        else:
            x = x.flatten(2)
        for index, module in enumerate(self.template.mlp):
            if isinstance(module, nn.Linear):
                weight, bias = params[f"mlp.{index}.weight"], params[f"mlp.{index}.bias"]
                x = torch.baddbmm(bias[:, None], x, weight.transpose(1, 2))
            elif isinstance(module, nn.Dropout):
                x = F.dropout(x, module.p, training)
            else:
                x = module(x)
        return x

    def state(self, member):
        """Member ``member``'s parameters and buffers (copies)."""
        return {name: value[member].detach().clone() for name, value in {**self.params, **self.buffers}.items()}

    def probes(self, states=None):
        """The members as separate modules (``states``: one state per member,
        e.g. its best epoch's; default: the current weights)."""
        states = states or [self.state(k) for k in range(self.count)]
        out = []
        for state in states:
            probe = copy.deepcopy(self.template).eval()
            probe.load_state_dict(state, strict=False)
            out.append(probe)
        return out


def train_members(probes, seeds, opt_class, objective, train, valid=None, epochs=40,
                  stop_epochs=None, batch_size=32, log=None):
    """Trains ``probes`` together (:class:`StackedProbes`).

    Arguments
    ---------
    probes : list of torch.nn.Module
        Freshly initialised members (their input standardisation already set).
    seeds : list of int
        One per member: its shuffling order. Dropout draws from the global
        generator, which the caller seeds.
    opt_class : callable
        ``opt_class(params)`` -> an element-wise optimiser (Adam, AdamW).
    objective : object
        The task's objective (``loss``, ``scores``).
    train : tuple
        ``(features [N, layers, dim], targets [N, ...])``.
    valid : tuple, optional
        The same for validation: each member keeps the state of its first
        epoch of best score among ``epochs``.
    epochs : int
        Epochs with ``valid``.
    stop_epochs : list of int, optional
        Without ``valid``: member ``k`` is kept as it is after
        ``stop_epochs[k]`` epochs (a refit to the selected epochs).
    batch_size : int
        Utterances per step and member.
    log : callable, optional
        ``log(epoch, train_losses, valid_scores)`` after each epoch with ``valid``.

    Returns
    -------
    list of tuple
        Per member ``(probe, epoch, score)``: the kept probe (a module in
        eval mode), its epoch and its validation score (None without ``valid``).
    """
    stacked = StackedProbes(probes)
    optimizer = opt_class(list(stacked.params.values()))
    generators = [torch.Generator().manual_seed(int(seed)) for seed in seeds]
    features, targets = train
    count = len(features)
    last = epochs if valid is not None else max(stop_epochs)
    best = [(None, 0, float("-inf"))] * stacked.count  # (state, epoch, score)
    for epoch in range(1, last + 1):
        orders = torch.stack([torch.randperm(count, generator=g) for g in generators])
        losses = torch.zeros(stacked.count)
        for start in range(0, count, batch_size):
            index = orders[:, start:start + batch_size]
            member_losses = objective.loss(stacked(features[index], training=True), targets[index])
            optimizer.zero_grad(set_to_none=True)
            member_losses.sum().backward()
            optimizer.step()
            losses += member_losses.detach() * index.shape[1]
        if valid is None:
            best = [(stacked.state(k), epoch, None) if stop_epochs[k] == epoch else best[k]
                    for k in range(stacked.count)]
            continue
        with torch.no_grad():
            scores = objective.scores(stacked(valid[0], training=False), valid[1])
        if log is not None:
            log(epoch, (losses / count).tolist(), scores)
        best = [(stacked.state(k), epoch, score) if score > best[k][2] else best[k]
                for k, score in enumerate(scores)]
    kept = stacked.probes([state for state, _, _ in best])
    return [(probe, epoch, score) for probe, (_, epoch, score) in zip(kept, best)]


def stack(features, ids):
    """The features of ``ids`` (``{utt: [layers, dim]}``) as one tensor ``[N, layers, dim]``."""
    return torch.stack([features[u] for u in ids])


def feature_digests(features):
    """A short digest of each utterance's feature tensor (what identifies the
    features a fold used)."""
    return {utt: hashlib.blake2b(value.contiguous().numpy().tobytes(), digest_size=8).hexdigest()
            for utt, value in features.items()}


def check_linear(probe):
    """Raises ``ValueError`` unless ``probe`` is an :class:`EmotionProbe` that
    is one linear layer over the layers side by side (what :func:`fit_linear`
    solves)."""
    linear = [m for m in probe.mlp if isinstance(m, torch.nn.Linear)]
    if not (isinstance(probe, EmotionProbe) and isinstance(probe.layer_weighting, LayerConcatenation)
            and len(linear) == 1):
        raise ValueError(
            "solver: lbfgs fits a linear probe to its optimum: an EmotionProbe with "
            "num_hidden_layers: 0 and layer_combination: concatenate")
    return linear[0]


def fit_linear(probe, objective, features, targets, groups, C, max_iterations=100):
    """Fits ``probe`` (see :func:`check_linear`; its standardisation already
    set on ``features``) to the optimum of the task's loss plus
    ``||W||^2 / (2 C n)``, choosing ``C`` by cross-validation over ``groups``
    when several are given (see the module docstring).

    Arguments
    ---------
    probe : EmotionProbe
        Written in place: its linear layer's weight and bias.
    objective : object
        The task's objective (``loss`` with ``weights``, ``scores``).
    features : torch.Tensor
        ``[N, layers, dim]``: every non-test utterance.
    targets : torch.Tensor
        ``[N, ...]``.
    groups : list
        ``[N]`` speaker groups for the cross-validation (needs two or more
        distinct values when ``C`` has several).
    C : list of float
        Inverse L2 strengths (scikit-learn's ``C``).
    max_iterations : int
        L-BFGS iterations at most per value of ``C``.

    Returns
    -------
    dict
        ``{"C": the value kept, "cv_scores": {C: score}}`` (no scores for a
        single ``C``).
    """
    linear = check_linear(probe)
    with torch.no_grad():
        inputs = probe.layer_weighting((features - probe.feature_mean) / probe.feature_std).float()
    values = sorted(float(c) for c in C)  # strongest regularisation first
    reduced, lift = _span(inputs)
    cv_scores = {}
    if len(values) > 1:
        names = sorted(set(groups), key=str)
        if len(names) < 2:
            raise ValueError(f"choosing C among {values} needs two or more speaker groups; got {names}")
        held_out = torch.tensor([names.index(g) for g in groups])
        masks = torch.stack([(held_out != g).float() for g in range(len(names))])  # [groups, N]
        path = _lbfgs_path(objective, reduced, targets, masks, values, max_iterations)
        for c, (weight, bias) in zip(values, path):
            outputs = torch.einsum("nd,gdc->gnc", reduced.double(), weight) + bias
            pooled = outputs.gather(0, held_out[None, :, None].expand(1, -1, outputs.shape[-1]))
            cv_scores[c] = objective.scores(pooled.float(), targets)[0]
        chosen = max(values, key=lambda c: cv_scores[c])  # the first (most regularised) of equals
    else:
        chosen = values[0]
    path = _lbfgs_path(objective, reduced, targets, torch.ones(1, len(inputs)),
                       [c for c in values if c <= chosen], max_iterations)
    weight, bias = path[-1]
    with torch.no_grad():
        linear.weight.copy_(lift(weight[0]).T.to(linear.weight))
        linear.bias.copy_(bias[0, 0].to(linear.bias))
    return {"C": chosen, "cv_scores": cv_scores}


def _span(inputs):
    """``(reduced, lift)``: with fewer rows than columns, the rows' coordinates
    ``[N, r]`` in an orthonormal basis of their span (the L2 optimum and
    every L-BFGS iterate lie in it), from an eigendecomposition of the Gram
    matrix, and ``lift(weight)`` mapping a weight ``[r, outputs]`` back to
    ``[dim, outputs]``; otherwise the inputs and the identity. Directions with
    variance under 1e-6 of the largest are left out (float32 arithmetic
    cannot resolve them). Even at 4,000 rows of 9,216 columns (nEMO) this was
    faster than iterating over the inputs themselves (267 s against 327 s
    for a run): each L-BFGS evaluation then reads a matrix of N x N, not
    N x dim."""
    count, dim = inputs.shape
    if dim <= count:
        return inputs, lambda weight: weight
    values, vectors = torch.linalg.eigh(inputs @ inputs.T)
    keep = values > values.max() * 1e-6
    values, vectors = values[keep], vectors[:, keep]
    coefficients = vectors / values.sqrt()  # basis = inputs.T @ coefficients
    return vectors * values.sqrt(), lambda weight: inputs.T @ (coefficients @ weight.to(inputs))


def _lbfgs_path(objective, inputs, targets, masks, values, max_iterations):
    """One fit per mask (``[fits, N]``, 1 = trains) and value of ``C``,
    warm-started along ``values``: ``[(weight [fits, dim, outputs], bias
    [fits, 1, outputs])]`` per value."""
    fits, dim = masks.shape[0], inputs.shape[1]
    outputs = objective.num_outputs
    weight = torch.zeros(fits, dim, outputs, requires_grad=True)
    bias = torch.zeros(fits, 1, outputs, requires_grad=True)
    counts = masks.sum(dim=1)
    path = []
    for c in values:
        optimizer = torch.optim.LBFGS([weight, bias], lr=1, max_iter=max_iterations, tolerance_grad=1e-6,
                                      tolerance_change=1e-9, history_size=10, line_search_fn="strong_wolfe")

        def closure():
            optimizer.zero_grad()
            logits = torch.einsum("nd,gdc->gnc", inputs, weight) + bias
            loss = objective.loss(logits, targets.expand(fits, *targets.shape), weights=masks).sum()
            loss = loss + (weight.pow(2).sum(dim=(1, 2)) / (2 * c * counts)).sum()
            loss.backward()
            return loss

        optimizer.step(closure)
        path.append((weight.detach().clone().double(), bias.detach().clone().double()))
    return path
