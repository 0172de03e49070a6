"""The figures of a probing run besides the confusion matrix:
``layer_weights.png``, what each fold's and seed's probe weights in the
encoder's layers, with CARE's layer groups (input, shared, semantic,
acoustic) marked (drawn by :func:`care.plots.plot_layer_weights`).

Authors
 * CARE for SpeechBrain contributors, 2026
"""

import os

from speechbrain.utils.logger import get_logger

from care.plots import plot_layer_weights

logger = get_logger(__name__)

LAYER_WEIGHTS_FILE = "layer_weights.png"


def layer_axis(extractor, dims):
    """Names and groups of the positions a probe weights.

    Arguments
    ---------
    extractor : torch.nn.Module
        Has ``num_layers`` and, for a CARE encoder, ``layer_groups``.
    dims : dict
        The probe's sizes: ``layers`` (the chosen layer indices, None for
        all) or, for ``care.lobes.AuthorsProbe``, ``depth_layers`` (the
        layers concatenated at each weighted depth).

    Returns
    -------
    names : list of str
        A layer's index, or a depth's layers joined by ``+``.
    groups : list of str or None
        Each position's group (a depth whose layers are in two groups:
        both names joined by ``+``); None without ``layer_groups``.

    Example
    -------
    >>> class E: num_layers = 5; layer_groups = {"input": [0], "shared": [1],
    ...     "semantic": [2, 3], "acoustic": [4]}
    >>> layer_axis(E(), {"layers": [1, 2, 4]})
    (['1', '2', '4'], ['shared', 'semantic', 'acoustic'])
    >>> layer_axis(E(), {"layers": None, "depth_layers": [[0, 0], [2, 4], [3, 4]]})
    (['0', '2+4', '3+4'], ['input', 'semantic+acoustic', 'semantic+acoustic'])
    """
    owner = {}
    for group, indices in (getattr(extractor, "layer_groups", None) or {}).items():
        owner.update({index: group for index in indices})
    if dims.get("depth_layers"):
        positions = [list(dict.fromkeys(depth)) for depth in dims["depth_layers"]]
    else:
        layers = dims.get("layers")
        positions = [[i] for i in (range(extractor.num_layers) if layers is None else layers)]
    names = ["+".join(str(i) for i in position) for position in positions]
    if not owner:
        return names, None
    groups = ["+".join(dict.fromkeys(owner.get(i, "?") for i in position)) for position in positions]
    return names, groups


def write_layer_weights(folder, runs, extractor, dims, title=""):
    """Writes ``<folder>/layer_weights.png`` from the ``layer_weights`` of
    ``runs`` (one per test fold and seed), unless the probe weights a single
    layer (e.g. eGeMAPS functionals: nothing to compare).

    Returns
    -------
    str or None
        The figure's path, or None when not drawn.
    """
    names, groups = layer_axis(extractor, dims)
    runs = [run for run in runs if run.get("layer_weights") is not None]
    if len(names) < 2 or not runs:
        logger.info(f"{LAYER_WEIGHTS_FILE} not drawn: the probe weights {len(names)} layer(s)")
        return None
    weights = {}
    for run in runs:
        fold = str(run["fold"])
        weights[f"{fold if fold.startswith('fold') else 'fold ' + fold} seed {run['seed']}"] = (
            run["layer_weights"])
    path = os.path.join(folder, LAYER_WEIGHTS_FILE)
    return plot_layer_weights(weights, names, path, groups, title)
