"""Speaker and corpus normalisation of pooled features, as the speech-emotion
literature does it (Schuller et al. 2010, "Cross-corpus acoustic emotion
recognition: variances and strategies"; Kaya and Karpov 2018, "Efficient and
effective strategies for cross-corpus acoustic emotion recognition"): every
utterance's features are z-scored, per dimension, with the mean and standard
deviation of its *group* (its speaker, or its corpus) over all of that group's
utterances. Labels are never read. The probe's own standardisation (the
training folds' statistics) follows, as without it.

``feature_normalization`` (every probing recipe's YAML, the template,
``recipes/cross_corpus.py``):

- ``none``: the training folds' standardisation only;
- ``speaker``: each speaker by their own statistics, test speakers included
  (transductive per speaker: their unlabelled features are used, as in the
  literature; results say so);
- ``corpus``: each corpus by its own statistics (in a cross-corpus run, the
  training and the test corpus each by their own).

A group with fewer than ``min_utterances`` utterances (a speaker with one
utterance would become all zeros; with two, each dimension of each would be
+-0.71) takes its corpus's statistics instead, and so does an utterance of an
unknown speaker (:data:`UNKNOWN_SPEAKERS`); both are counted in the report.
The default minimum, 5, is where the standard deviation estimated from ``n``
values is within about 35 % of the truth (relative standard error
``1 / sqrt(2 (n - 1))``: 71 % at 2, 35 % at 5, 24 % at 10) while keeping the
speakers of small corpora (URDU's have 5 to 20 clips each).

A speaker who speaks a single emotion carries it in their statistics: after
z-scoring, the label is gone from their features. Where most of the
utterances normalised by their own speaker's statistics belong to such
speakers (URDU: 252 of 358), the corpus cannot be read this way;
:func:`single_label_speakers` counts them, and the probing recipes refuse
``speaker`` there unless told. (Counted by speakers instead, BAVED would be
refused too, though only 126 of its 1,820 such utterances are of one-label
speakers: 16 of its 43 one-label speakers have fewer than 5 clips and take the
corpus's statistics.)

The same functions normalise at inference (``care.inference``): a long
recording's windows by that recording's own statistics, a set of files by the
grouping the user gives.

Authors
 * CARE for SpeechBrain contributors, 2026
"""

from collections import Counter, defaultdict

import torch

NORMALIZATIONS = ("none", "speaker", "corpus")
MIN_UTTERANCES = 5
UNKNOWN_SPEAKERS = frozenset({"", "unknown", "Unknown", "UNKNOWN"})


class NormalizationError(ValueError):
    """A normalisation that cannot be applied as asked (an unknown mode, a
    group too small to estimate its statistics, a corpus whose speakers carry
    its labels); the message says why and what to do."""


def check_normalization(mode):
    """Raises :class:`NormalizationError` unless ``mode`` is one of
    :data:`NORMALIZATIONS`."""
    if mode not in NORMALIZATIONS:
        raise NormalizationError(
            f"feature_normalization: {mode!r}; expected one of {', '.join(NORMALIZATIONS)}")
    return mode


def statistics(values):
    """Mean and standard deviation of ``values`` ``[n, ...]`` over the first
    dimension (float64 inside), with 1 where the deviation is zero or
    negligible (a dimension constant in the group: centred, not scaled).

    Example
    -------
    >>> mean, std = statistics(torch.tensor([[1.0, 5.0], [3.0, 5.0]]))
    >>> mean.tolist(), [round(s, 4) for s in std.tolist()]
    ([2.0, 5.0], [1.4142, 1.0])
    """
    x = values.double()
    mean = x.mean(dim=0)
    std = x.std(dim=0) if len(x) > 1 else torch.zeros_like(mean)
    constant = (std <= 1e-12 * mean.abs()) | (std == 0) | ~torch.isfinite(std)
    return mean.to(values.dtype), torch.where(constant, torch.ones_like(std), std).to(values.dtype)


def normalize_groups(values, groups, fallback_groups=None, min_utterances=MIN_UTTERANCES, fallback=None):
    """Z-scores each row of ``values`` ``[n, ...]`` with its group's
    statistics.

    Arguments
    ---------
    values : torch.Tensor
        ``[n, ...]`` pooled features (``[n, layers, dim]``); statistics are
        per dimension (each layer's own).
    groups : list
        ``n`` group names (speakers, or one name for a whole recording);
        ``None`` or a name in :data:`UNKNOWN_SPEAKERS` means unknown.
    fallback_groups : list, optional
        ``n`` names of the larger group whose statistics replace those of a
        group with fewer than ``min_utterances`` rows (or an unknown one):
        each utterance's corpus. Without it, ``fallback`` is used.
    min_utterances : int
        The fewest rows a group needs for its own statistics.
    fallback : tuple of torch.Tensor, optional
        ``(mean, std)`` for small or unknown groups when ``fallback_groups``
        is not given (a classifier's stored corpus statistics). Without
        either, a small group raises :class:`NormalizationError`.

    Returns
    -------
    normalised : torch.Tensor
        Same shape and dtype as ``values``.
    report : dict
        ``groups`` (how many had their own statistics), ``fallback_groups``
        and ``fallback_utterances`` (how many took the larger group's or the
        stored statistics, with ``fallback_names``, at most 20),
        ``unknown_utterances``, ``min_utterances``.

    Example
    -------
    >>> x = torch.tensor([[1.0], [3.0], [10.0], [30.0], [7.0]])
    >>> out, report = normalize_groups(x, ["a", "a", "b", "b", "c"], ["k"] * 5, min_utterances=2)
    >>> [round(v, 3) for v in out.flatten().tolist()]
    [-0.707, 0.707, -0.707, 0.707, -0.276]
    >>> report["groups"], report["fallback_groups"], report["fallback_names"]
    (2, 1, ['c'])
    """
    if len(groups) != len(values):
        raise ValueError(f"{len(groups)} group names for {len(values)} rows")
    if min_utterances < 2:
        raise NormalizationError(f"min_utterances must be at least 2 (a spread needs two values), got {min_utterances}")
    rows = defaultdict(list)
    for i, group in enumerate(groups):
        rows[None if group is None or str(group) in UNKNOWN_SPEAKERS else group].append(i)
    unknown = rows.pop(None, [])
    small = {g: r for g, r in rows.items() if len(r) < min_utterances}
    dtype, values = values.dtype, values.double()  # float64 inside: a large offset over a small spread
    out = torch.empty_like(values)
    for group, index in rows.items():
        if group not in small:
            mean, std = statistics(values[index])
            out[index] = (values[index] - mean) / std
    leftover = sorted(unknown + [i for r in small.values() for i in r])
    if leftover:
        if fallback_groups is not None:
            wider, waiting = defaultdict(list), set(leftover)
            for i in range(len(values)):
                wider[fallback_groups[i]].append(i)
            for index in wider.values():
                chosen = [i for i in index if i in waiting]
                if chosen:
                    mean, std = statistics(values[index])
                    out[chosen] = (values[chosen] - mean) / std
        elif fallback is not None:
            mean, std = (t.to(values) for t in fallback)
            out[leftover] = (values[leftover] - mean) / std
        else:
            names = sorted(map(str, small))[:5]
            raise NormalizationError(
                f"{len(leftover)} item(s) in group(s) with fewer than {min_utterances} items "
                f"({', '.join(names) or 'unknown'}): their own statistics cannot be estimated")
    out = out.to(dtype)
    report = {
        "groups": len(rows) - len(small),
        "fallback_groups": len(small),
        "fallback_utterances": len(leftover),
        "fallback_names": sorted(map(str, small))[:20],
        "unknown_utterances": len(unknown),
        "min_utterances": min_utterances,
    }
    return out, report


def normalize_features(features, data, mode, min_utterances=MIN_UTTERANCES, corpus_name="corpus"):
    """A probing run's feature normalisation.

    Arguments
    ---------
    features : dict
        ``{utterance id: [layers, dim] tensor}``; the statistics are computed
        over all of them (pass a corpus's every utterance, not only those a
        run tests on).
    data : dict
        The manifest (``speaker``, and ``corpus`` in a combined cross-corpus
        manifest) of at least those ids.
    mode : str
        One of :data:`NORMALIZATIONS`.
    min_utterances : int
        See :func:`normalize_groups`.
    corpus_name : str
        The corpus of utterances whose entry names none.

    Returns
    -------
    normalised : dict
        ``{utterance id: tensor}``, the same ids (``features`` itself for
        ``none``).
    report : dict
        ``mode`` and, for ``speaker`` and ``corpus``, what
        :func:`normalize_groups` reports (per corpus for ``corpus``).
    """
    check_normalization(mode)
    if mode == "none":
        return features, {"mode": "none"}
    ids = sorted(features)
    values = torch.stack([features[u] for u in ids])
    corpora = [data[u].get("corpus", corpus_name) for u in ids]
    if mode == "speaker":
        speakers = [None if str(data[u].get("speaker", "")) in UNKNOWN_SPEAKERS
                    else f"{c}\x00{data[u]['speaker']}" for u, c in zip(ids, corpora)]
        out, report = normalize_groups(values, speakers, corpora, min_utterances)
        report["fallback_names"] = [n.split("\x00", 1)[-1] for n in report["fallback_names"]]
    else:
        out, report = normalize_groups(values, corpora, None, min_utterances)
        report["corpora"] = dict(sorted(Counter(corpora).items()))
    return dict(zip(ids, out)), {"mode": mode, **report}


def single_label_speakers(data, ids=None, min_utterances=MIN_UTTERANCES):
    """How much of a categorical manifest speaker normalisation would strip of
    its labels: among the known speakers of ``ids`` (default: all) with at
    least ``min_utterances`` utterances (those z-scored by their own
    statistics; the others take their corpus's), the utterances of those who
    speak a single label. Returns ``{"utterances": n, "of": N, "speakers": k,
    "of_speakers": K}``.

    Example
    -------
    >>> data = {f"{s}{i}": {"speaker": s, "label": "xy"[i % 2] if s == "a" else "x"}
    ...         for s, n in (("a", 6), ("b", 5), ("c", 2)) for i in range(n)}
    >>> single_label_speakers(data)
    {'utterances': 5, 'of': 11, 'speakers': 1, 'of_speakers': 2}
    """
    labels, counts = defaultdict(set), Counter()
    for u in data if ids is None else ids:
        speaker = str(data[u].get("speaker", ""))
        if speaker not in UNKNOWN_SPEAKERS:
            key = (data[u].get("corpus"), speaker)
            labels[key].add(data[u]["label"])
            counts[key] += 1
    own = [k for k in labels if counts[k] >= min_utterances]
    single = [k for k in own if len(labels[k]) == 1]
    return {"utterances": sum(counts[k] for k in single), "of": sum(counts[k] for k in own),
            "speakers": len(single), "of_speakers": len(own)}


def describe_normalization(report):
    """One line for ``results.md`` and logs: which normalisation produced a
    result, what fell back, and that speaker statistics include the test
    speakers' unlabelled features.

    Example
    -------
    >>> print(describe_normalization({"mode": "none"}))
    none (the training folds' standardisation only)
    >>> print(describe_normalization({"mode": "speaker", "groups": 9, "fallback_groups": 1,
    ...     "fallback_utterances": 3, "fallback_names": ["x"], "unknown_utterances": 0, "min_utterances": 5}))
    speaker (each speaker z-scored by their own statistics over all their utterances, test speakers included: transductive per speaker, labels never read; 9 speakers; 1 speaker(s) with fewer than 5 utterances (3 utterances: x) took their corpus's statistics), then the training folds' standardisation
    """
    mode = (report or {}).get("mode", "none")
    if mode == "none":
        return "none (the training folds' standardisation only)"
    fallback = ""
    if report.get("fallback_utterances"):
        names = ", ".join(report.get("fallback_names", [])[:5])
        fallback = (f"; {report['fallback_groups']} {mode}(s) with fewer than {report['min_utterances']} "
                    f"utterances ({report['fallback_utterances'] - report.get('unknown_utterances', 0)} "
                    f"utterances{': ' + names if names else ''})"
                    + (f" and {report['unknown_utterances']} utterances of unknown speakers"
                       if report.get("unknown_utterances") else "")
                    + " took their corpus's statistics")
    if mode == "speaker":
        text = ("speaker (each speaker z-scored by their own statistics over all their utterances, "
                "test speakers included: transductive per speaker, labels never read; "
                f"{report['groups']} speakers{fallback})")
        if report.get("single_label_speakers_allowed"):
            share = report.get("single_label", {})
            text += (f"; ALLOWED although {share.get('utterances', '?')} of the {share.get('of', '?')} utterances "
                     "normalised by their own speaker's statistics are of speakers who speak a single label: "
                     "those statistics carry it")
    else:
        corpora = ", ".join(f"{name} {count}" for name, count in report.get("corpora", {}).items())
        text = (f"corpus (each corpus z-scored by its own statistics over all its utterances, "
                f"the test corpus's included, labels never read; {corpora}{fallback})")
    return text + ", then the training folds' standardisation"


def normalization_text(results):
    """The normalisation line of a ``results.json`` (``none`` for a run made
    before the option existed: those had none)."""
    recorded = results.get("feature_normalization")
    if not recorded:
        return describe_normalization({"mode": "none"})
    return recorded.get("description") or describe_normalization(recorded)
