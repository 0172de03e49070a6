"""Emotion probes over a frozen encoder's pooled layers.

- :class:`EmotionProbe` (this collection's probe; ``probe_head: mlp``,
  ``linear`` and ``linear_concat`` of the recipes): train-fold feature
  standardisation, the chosen layers combined (a learned softmax weighting,
  or side by side as one vector), then an MLP or a linear layer.
- :class:`ProbeEnsemble`: several :class:`EmotionProbe` trained
  independently (their own seeds, epoch selection and refit), whose class
  probabilities are averaged (the recipes' ``mlp`` head, ``members: 5``).
- :class:`AuthorsProbe` (``probe_head: authors``): the downstream probe of
  the authors' code (iiscleap/CARE, ``downstream/``): the two branches'
  pooled outputs concatenated at each depth, softmax-weighted over depths,
  the pooled last semantic layer appended, three linear layers with dropout
  and no nonlinearity.

Mean pooling is linear, so weighting layers then pooling equals pooling each
layer then weighting. The probe therefore takes per-layer pooled vectors
``[batch, layers, dim]``, which can be extracted once and cached; use
:func:`care.lobes.frontend.masked_mean` to pool hidden states
``[layers, batch, frames, dim]``.

Example
-------
>>> import torch
>>> from care.lobes.frontend import masked_mean
>>> hidden = torch.randn(5, 2, 50, 32)  # [layers, batch, frames, dim]
>>> pooled = masked_mean(hidden, torch.tensor([1.0, 0.6]))
>>> pooled.shape
torch.Size([2, 5, 32])
>>> probe = EmotionProbe(num_layers=5, input_dim=32, num_classes=4, layers=[1, 2, 3])
>>> probe(pooled).shape
torch.Size([2, 4])
>>> probe.layer_weights().shape
torch.Size([3])
>>> side_by_side = EmotionProbe(5, 32, 4, num_hidden_layers=0, layer_combination="concatenate")
>>> side_by_side(pooled).shape, side_by_side.layer_weights().shape
(torch.Size([2, 4]), torch.Size([5]))
>>> authors = AuthorsProbe(5, 32, 4, depth_layers=[[0, 0], [1, 3], [2, 4]], appended_layer=2)
>>> authors(pooled).shape
torch.Size([2, 4])

Authors
 * CARE for SpeechBrain contributors, 2026
"""

import math

import torch
import torch.nn.functional as F
from torch import nn


def standard_scale(values):
    """Mean and scale that standardise ``values`` ``[n, ...]`` along the
    first dimension: the standard deviation, or 1 where it is zero (a value
    constant in the training set), as scikit-learn's ``StandardScaler`` does;
    a floor such as 1e-5 would turn a test value that differs into standard
    scores near 1e4. Computed in float64 (a constant float32 column gives an
    exact zero), returned in the dtype of ``values``.

    Example
    -------
    >>> mean, scale = standard_scale(torch.tensor([[1.0, 2.0, 3e-9], [1.0, 4.0, 1e-9]]))
    >>> mean[:2].tolist(), scale[:2].tolist(), f"{scale[2]:.3g}"
    ([1.0, 3.0], [1.0, 1.4142135381698608], '1.41e-09')
    """
    x = values.double()
    mean = x.mean(dim=0)
    std = x.std(dim=0) if len(x) > 1 else torch.zeros_like(mean)
    constant = (std <= 1e-12 * mean.abs()) | (std == 0) | ~torch.isfinite(std)
    return mean.to(values.dtype), torch.where(constant, torch.ones_like(std), std).to(values.dtype)


class LayerSelection(nn.Module):
    """The chosen layers of ``[batch, layers, dim]``, each normalised (no
    affine) when ``layer_norm``; the common part of :class:`LayerWeighting`
    and :class:`LayerConcatenation`.

    Arguments
    ---------
    num_layers : int
        Layers in the input.
    layers : list of int, optional
        Indices to keep (e.g. the semantic branch only); None: all.
    layer_norm : bool
        Normalise each layer's vector, so that a layer with a large scale
        cannot dominate (as SUPERB's weighted sum).
    """

    def __init__(self, num_layers, layers=None, layer_norm=True):
        super().__init__()
        layers = list(range(num_layers)) if layers is None else [int(i) for i in layers]
        if not layers or any(not 0 <= i < num_layers for i in layers):
            raise ValueError(f"layers {layers} must be non-empty indices below {num_layers}")
        self.num_layers = num_layers
        self.layer_norm = layer_norm
        self.register_buffer("layers", torch.tensor(layers), persistent=False)

    def select(self, x):
        """``[batch, layers, dim]`` -> ``[batch, len(layers), dim]``."""
        if x.shape[1] != self.num_layers:
            raise ValueError(f"expected {self.num_layers} layers, got shape {tuple(x.shape)}")
        x = x.index_select(1, self.layers)
        return F.layer_norm(x, x.shape[-1:]) if self.layer_norm else x


class LayerWeighting(LayerSelection):
    """Softmax-weighted sum over chosen layers of ``[batch, layers, dim]``.
    Arguments as :class:`LayerSelection`.

    Example
    -------
    >>> weighting = LayerWeighting(4, layers=[0, 3])
    >>> weighting(torch.randn(2, 4, 8)).shape
    torch.Size([2, 8])
    """

    def __init__(self, num_layers, layers=None, layer_norm=True):
        super().__init__(num_layers, layers, layer_norm)
        self.logits = nn.Parameter(torch.zeros(len(self.layers)))

    def weights(self):
        """Softmax weights of the chosen layers, ``[len(layers)]``."""
        return self.logits.softmax(dim=0)

    def forward(self, x):
        """``[batch, layers, dim]`` -> ``[batch, dim]``."""
        return (self.select(x) * self.weights().to(x.dtype)[None, :, None]).sum(dim=1)


class LayerConcatenation(LayerSelection):
    """The chosen layers of ``[batch, layers, dim]`` side by side, as one
    ``[batch, len(layers) * dim]`` vector (the input of a classifier that
    gives every layer its own weights, as the logistic-regression reference
    of the recipes does). Arguments as :class:`LayerSelection`.

    Example
    -------
    >>> LayerConcatenation(4, layers=[0, 3])(torch.randn(2, 4, 8)).shape
    torch.Size([2, 16])
    """

    def forward(self, x):
        """``[batch, layers, dim]`` -> ``[batch, len(layers) * dim]``."""
        return self.select(x).flatten(1)


LAYER_COMBINATIONS = ("weighted_sum", "concatenate")
LAYER_WEIGHTS_CAPTION = (  # what results files call EmotionProbe.layer_weights
    "Mean layer weights (softmax weights, or for the layers side by side each layer's share "
    "of the first linear layer)")


class EmotionProbe(nn.Module):
    """Layers combined, then an MLP with dropout, to class logits.

    Arguments
    ---------
    num_layers : int
        Layers in the pooled input (1 for a single feature vector, e.g.
        eGeMAPS functionals).
    input_dim : int
        Size of each layer's vector.
    num_classes : int
        Output classes.
    hidden_dim : int
        Width of the hidden layers.
    num_hidden_layers : int
        Hidden layers of the MLP (0: a linear classifier).
    dropout : float
        Dropout before every linear layer.
    layers : list of int, optional
        Which layers the weighting sees; None: all.
    layer_norm : bool
        See :class:`LayerWeighting`.
    layer_combination : str
        ``weighted_sum``: a learned softmax weighting of the layers
        (:class:`LayerWeighting`, SUPERB's readout); ``concatenate``: the
        layers side by side (:class:`LayerConcatenation`), so that the
        classifier weights every layer's dimensions separately. A CARE
        encoder's semantic and acoustic branches do not share coordinates,
        which a weighted sum of their layers assumes.
    """

    def __init__(
        self,
        num_layers,
        input_dim,
        num_classes,
        hidden_dim=256,
        num_hidden_layers=1,
        dropout=0.2,
        layers=None,
        layer_norm=True,
        layer_combination="weighted_sum",
    ):
        super().__init__()
        self.config = {k: v for k, v in locals().items() if k not in ("self", "__class__")}
        if layer_combination not in LAYER_COMBINATIONS:
            raise ValueError(
                f"layer_combination must be one of {LAYER_COMBINATIONS}, got {layer_combination!r}")
        # Feature standardisation (train-fold statistics; identity by default),
        # saved with the probe so that inference needs nothing else.
        self.register_buffer("feature_mean", torch.zeros(num_layers, input_dim))
        self.register_buffer("feature_std", torch.ones(num_layers, input_dim))
        if layer_combination == "weighted_sum":
            self.layer_weighting = LayerWeighting(num_layers, layers, layer_norm)
            size = input_dim
        else:
            self.layer_weighting = LayerConcatenation(num_layers, layers, layer_norm)
            size = len(self.layer_weighting.layers) * input_dim
        blocks = []
        for _ in range(num_hidden_layers):
            blocks += [nn.Dropout(dropout), nn.Linear(size, hidden_dim), nn.ReLU()]
            size = hidden_dim
        blocks += [nn.Dropout(dropout), nn.Linear(size, num_classes)]
        self.mlp = nn.Sequential(*blocks)

    def set_normalisation(self, features):
        """Standardise inputs with the mean and std of ``features``
        ``[utterances, layers, dim]`` (the training fold's); a dimension
        constant there keeps scale 1 (:func:`standard_scale`)."""
        mean, scale = standard_scale(features.to(self.feature_mean))
        self.feature_mean.copy_(mean)
        self.feature_std.copy_(scale)

    def layer_weights(self):
        """How much each chosen layer counts, ``[len(layers)]``, summing to 1:
        the softmax weights of a weighted sum; for ``concatenate``, each
        layer's share of the squared weights of the first linear layer (the
        inputs are standardised, so a share compares like with like)."""
        if isinstance(self.layer_weighting, LayerWeighting):
            return self.layer_weighting.weights()
        first = next(m for m in self.mlp if isinstance(m, nn.Linear)).weight
        per_layer = first.detach().pow(2).reshape(first.shape[0], len(self.layer_weighting.layers), -1)
        per_layer = per_layer.sum(dim=(0, 2))
        return per_layer / per_layer.sum().clamp(min=1e-12)

    def forward(self, pooled):
        """``[batch, layers, dim]`` pooled features -> ``[batch, classes]`` logits."""
        pooled = (pooled - self.feature_mean) / self.feature_std
        return self.mlp(self.layer_weighting(pooled))


class ProbeEnsemble(nn.Module):
    """An ensemble of :class:`EmotionProbe`: the log of the members' mean
    class probabilities.

    The members are trained separately (``care.probing.loop`` gives each its
    own seed, epoch selection and refit) and gathered with
    :meth:`from_members`; averaging several small probes trained on a few
    hundred utterances reduces the variance that one probe's initialisation,
    shuffling and selected epoch add to a test score.

    Arguments
    ---------
    num_layers, input_dim, num_classes :
        As :class:`EmotionProbe`.
    members : int
        Number of member probes.
    **probe_options :
        The members' other :class:`EmotionProbe` arguments.

    Example
    -------
    >>> members = [EmotionProbe(2, 8, 3, hidden_dim=4) for _ in range(3)]
    >>> ensemble = ProbeEnsemble.from_members(members).eval()
    >>> x = torch.randn(5, 2, 8)
    >>> mean = torch.stack([m.eval()(x).softmax(-1) for m in members]).mean(0)
    >>> torch.allclose(ensemble(x).exp(), mean)
    True
    >>> ensemble.layer_weights().shape
    torch.Size([2])
    """

    def __init__(self, num_layers, input_dim, num_classes, members=5, **probe_options):
        super().__init__()
        if members < 1:
            raise ValueError(f"members must be at least 1, got {members}")
        self.config = {"num_layers": num_layers, "input_dim": input_dim,
                       "num_classes": num_classes, "members": members, **probe_options}
        self.members = nn.ModuleList(
            EmotionProbe(num_layers, input_dim, num_classes, **probe_options) for _ in range(members)
        )

    @classmethod
    def from_members(cls, probes):
        """An ensemble holding copies of the trained ``probes`` (all built
        with the same :class:`EmotionProbe` arguments)."""
        configs = [dict(p.config) for p in probes]
        if not probes or any(c != configs[0] for c in configs):
            raise ValueError("an ensemble needs one or more probes of the same configuration")
        ensemble = cls(members=len(probes), **configs[0])
        for member, probe in zip(ensemble.members, probes):
            member.load_state_dict(probe.state_dict())
        return ensemble

    def layer_weights(self):
        """The members' mean layer weights (:meth:`EmotionProbe.layer_weights`)."""
        return torch.stack([m.layer_weights() for m in self.members]).mean(dim=0)

    def forward(self, pooled):
        """``[batch, layers, dim]`` -> ``[batch, classes]`` log mean probabilities."""
        logits = torch.stack([m(pooled) for m in self.members])
        return logits.log_softmax(dim=-1).logsumexp(dim=0) - math.log(len(self.members))


class AuthorsProbe(nn.Module):
    """The downstream probe of the authors' code (iiscleap/CARE,
    ``downstream/train_wavlm_downstream_own.py`` with the features of
    ``downstream/get_wavlm_feats.py``).

    At each depth the pooled vectors of ``depth_layers[d]`` are concatenated
    (for CARE: the semantic and the acoustic branch at that depth, so
    ``2 * dim``); the depths are weighted by a softmax over learned logits
    initialised uniformly at random in [0, 1) (``torch.rand``); the pooled
    ``appended_layer`` (for CARE: the last semantic layer, mean-pooled
    without projection) is appended; then Linear -> Dropout -> Linear ->
    Dropout -> Linear, with no nonlinearity in between (as in their code).
    Inputs are not standardised unless ``standardize`` is set.

    Arguments
    ---------
    num_layers : int
        Layers in the pooled input ``[batch, layers, dim]``.
    input_dim : int
        Size of each layer's vector.
    num_classes : int
        Output classes.
    depth_layers : list of list of int
        Per depth, the layers concatenated (all depths the same count);
        see :func:`care.probing.extractors.authors_layout`.
    appended_layer : int
        The layer appended after the weighting.
    hidden_dims : list of int
        Widths of the two hidden linear layers (the authors': 768, 256).
    dropout : float
        Dropout after each hidden linear layer (the authors': 0.2).
    standardize : bool
        Standardise inputs with training statistics (the authors do not).
    layers : None
        Accepted for the runner's interface; the layout is ``depth_layers``.

    Example
    -------
    >>> probe = AuthorsProbe(3, 8, 2, depth_layers=[[0, 0], [1, 2]], appended_layer=1)
    >>> probe(torch.randn(4, 3, 8)).shape, probe.layer_weighting.weights().shape
    (torch.Size([4, 2]), torch.Size([2]))
    """

    def __init__(
        self,
        num_layers,
        input_dim,
        num_classes,
        depth_layers,
        appended_layer,
        hidden_dims=(768, 256),
        dropout=0.2,
        standardize=False,
        layers=None,
    ):
        super().__init__()
        self.config = {k: v for k, v in locals().items() if k not in ("self", "__class__")}
        depth_layers = [[int(i) for i in depth] for depth in depth_layers]
        widths = {len(depth) for depth in depth_layers}
        used = [i for depth in depth_layers for i in depth] + [int(appended_layer)]
        if not depth_layers or len(widths) != 1 or any(not 0 <= i < num_layers for i in used):
            raise ValueError(
                f"depth_layers {depth_layers} and appended_layer {appended_layer} must be "
                f"equal-length lists of indices below {num_layers}"
            )
        if layers is not None:
            raise ValueError("AuthorsProbe weights its own depth_layers; set layers: all")
        self.standardize = standardize
        self.register_buffer("feature_mean", torch.zeros(num_layers, input_dim))
        self.register_buffer("feature_std", torch.ones(num_layers, input_dim))
        self.register_buffer("depth_index", torch.tensor(depth_layers), persistent=False)
        self.appended_layer = int(appended_layer)
        self.layer_weighting = LayerWeighting(len(depth_layers), layer_norm=False)
        with torch.no_grad():  # the authors' torch.rand(13, 1) logits
            self.layer_weighting.logits.copy_(torch.rand(len(depth_layers)))
        width = widths.pop() * input_dim + input_dim
        first, second = hidden_dims
        self.mlp = nn.Sequential(
            nn.Linear(width, first),
            nn.Dropout(dropout),
            nn.Linear(first, second),
            nn.Dropout(dropout),
            nn.Linear(second, num_classes),
        )

    def set_normalisation(self, features):
        """As :meth:`EmotionProbe.set_normalisation` when ``standardize``;
        otherwise the inputs stay as they are (the authors' probe)."""
        if self.standardize:
            EmotionProbe.set_normalisation(self, features)

    def layer_weights(self):
        """The softmax weights of the depths, ``[depths]``."""
        return self.layer_weighting.weights()

    def forward(self, pooled):
        """``[batch, layers, dim]`` pooled features -> ``[batch, classes]`` logits."""
        pooled = (pooled - self.feature_mean) / self.feature_std
        depths = pooled[:, self.depth_index]  # [batch, depths, per-depth layers, dim]
        depths = depths.flatten(2)  # the per-depth concatenation
        weighted = self.layer_weighting(depths)
        return self.mlp(torch.cat([weighted, pooled[:, self.appended_layer]], dim=-1))
