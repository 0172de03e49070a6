"""The probe heads every probing YAML offers, defined once in
``care/probing/probe_heads.yaml``, and the head and pooling an encoder is read
with by default.

Defaults: a multi-layer speech encoder (a CARE export, the random control
``random:<architecture>``, a Hugging Face model) is read with the
``linear_concat`` head over statistics pooling (``mean_std``), the
configuration measured best for CARE encoders; eGeMAPS, one "layer" of
utterance functionals, with the ``mlp`` head over its values (``mean``). The
authors' probe (``probe_head: authors``) keeps their mean pooling.
A recipe's ``--probe_head`` or ``--pooling`` replaces the default.

Example
-------
>>> default_probe_head("egemaps"), default_pooling("egemaps")
('mlp', 'mean')
>>> default_probe_head("random:care_small"), default_pooling("microsoft/wavlm-base")
('linear_concat', 'mean_std')
>>> default_pooling("random:care_small", probe_head="authors")
'mean'
>>> heads = probe_heads(lr=0.01)
>>> sorted(heads), heads["mlp"]["members"], heads["mlp"]["opt_class"].keywords["lr"]
(['authors', 'linear', 'linear_concat', 'mlp'], 5, 0.01)
>>> heads["linear_concat"]["solver"], heads["linear_concat"]["C"]
('lbfgs', [0.1])

Authors
 * CARE for SpeechBrain contributors, 2026
"""

from pathlib import Path

from hyperpyyaml import load_hyperpyyaml

from care.recipe import InputError

HEADS_FILE = Path(__file__).with_name("probe_heads.yaml")
FUNCTIONAL_ENCODERS = ("egemaps",)  # one vector of utterance functionals, no frames to pool


def default_probe_head(encoder_source):
    """``mlp`` for eGeMAPS, ``linear_concat`` for a multi-layer encoder."""
    return "mlp" if _is_functional(encoder_source) else "linear_concat"


def default_pooling(encoder_source, probe_head=None):
    """``mean`` for eGeMAPS (its values are functionals already) and for the
    authors' probe (mean pooling, as in the authors' code); ``mean_std``
    (statistics pooling) for a multi-layer encoder read by any other head."""
    return "mean" if _is_functional(encoder_source) or probe_head == "authors" else "mean_std"


def probe_heads(**settings):
    """``{name: head}`` from ``probe_heads.yaml``: each head's ``probe``,
    how it trains (``solver``; ``opt_class`` and ``epochs``, or ``C`` and
    ``max_iterations``), ``refit``, ``balance_classes`` and ``members`` (see
    :func:`care.probing.loop.probe_settings`).

    Arguments
    ---------
    **settings
        Values of the file's top-level training keys (``lr``,
        ``weight_decay``, ``number_of_epochs``, ``linear_C``, ``authors_lr``,
        ``authors_epochs``); any other name is an error.

    Returns
    -------
    dict
    """
    with open(HEADS_FILE, encoding="utf-8") as handle:
        loaded = load_hyperpyyaml(handle, settings or None, overrides_must_match=True)
    return {name: value for name, value in loaded.items() if isinstance(value, dict)}


def pick_head(heads, name):
    """``heads[name]`` (the YAML's ``head:``), or an :class:`InputError`
    naming the heads there are.

    >>> pick_head({"mlp": {"refit": True}}, "mlp")
    {'refit': True}
    """
    if name not in heads:
        raise InputError(f"probe_head: {name!r}; expected one of {', '.join(heads)}")
    return heads[name]


def _is_functional(encoder_source):
    return str(encoder_source).strip().lower() in FUNCTIONAL_ENCODERS
