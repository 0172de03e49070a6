"""Checks of a corpus's labels and attribute values made before any training,
so that data that would give a silently wrong result is refused (or warned
about) with the column, label and counts named:

- :func:`check_attribute_names`: a dimensional attribute given twice, or
  named as a manifest field (``duration``, ``wav`` ...) it would overwrite or
  as a key of the data pipeline (``id``, ``sig``);
- :func:`check_attribute_values`: an attribute with one value everywhere
  (nothing to predict; its CCC of 0 would lower the mean over attributes);
- :func:`read_number`: a plain decimal number, not what else Python's
  ``float`` accepts (``1_000``, ``infinity``, other scripts' digits);
- :func:`warn_label_spread`: a label with one utterance, or spoken by one
  speaker only, which speaker-independent folds cannot both train and test.

Example
-------
>>> check_attribute_names(["arousal", "valence"], "data.csv")
['arousal', 'valence']
>>> check_attribute_names(["arousal", "arousal"], "data.csv")
Traceback (most recent call last):
    ...
care.processing.manifest.ManifestError: data.csv: attribute 'arousal' is given 2 times (['arousal', 'arousal']); name each once
>>> read_number("4.5"), read_number("-1e3")
(4.5, -1000.0)

Authors
 * CARE for SpeechBrain contributors, 2026
"""

import collections
import math
import re

from speechbrain.utils.logger import get_logger

from care.processing.manifest import FIELDS, ManifestError

logger = get_logger(__name__)

_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$", re.ASCII)


def read_number(text):
    """``text`` as a float if it is a plain, finite decimal number
    (``3``, ``-0.5``, ``1e3``), else None."""
    text = str(text).strip()
    if not _NUMBER.match(text):
        return None
    value = float(text)
    return value if math.isfinite(value) else None


# Keys a DynamicItemDataset entry gets besides the manifest's fields (its id, the
# audio the extraction pipeline reads): an attribute of that name would clash.
PIPELINE_KEYS = ("id", "sig")


def check_attribute_names(attributes, source):
    """The attribute names as strings; raises :class:`ManifestError` naming
    ``source`` when one is repeated, is a manifest field (:data:`FIELDS`) or a
    key of the data pipeline (:data:`PIPELINE_KEYS`)."""
    names = [str(a) for a in attributes]
    for name in names:
        if names.count(name) > 1:
            raise ManifestError(f"{source}: attribute {name!r} is given {names.count(name)} times "
                                f"({names}); name each once")
        if name in FIELDS:
            raise ManifestError(
                f"{source}: attribute {name!r} is a manifest field ({', '.join(FIELDS)}), which "
                "its values would overwrite; rename the column"
            )
        if name in PIPELINE_KEYS:
            raise ManifestError(
                f"{source}: attribute {name!r} is a name SpeechBrain's data pipeline gives its own "
                f"items ({', '.join(PIPELINE_KEYS)}); rename the column"
            )
    return names


def check_attribute_values(data, attributes, source):
    """Raises :class:`ManifestError` for an attribute with one value in every
    utterance of ``data`` (``{utt: entry}``): nothing to predict, and its
    CCC of 0 would lower the headline mean over attributes."""
    for name in attributes:
        values = {float(entry[name]) for entry in data.values()}
        if len(values) == 1:
            raise ManifestError(
                f"{source}: attribute {name!r} has the one value {values.pop():g} in all "
                f"{len(data)} utterances: nothing to predict; leave it out of attributes"
            )


def warn_label_spread(data, source):
    """Logs a warning, with counts, for labels of ``data`` with one utterance
    or one speaker: speaker-independent folds then lack the label in the
    training or the test data of some folds, and UA is averaged over
    different classes per fold. Returns the warning (None when all is well).

    Example
    -------
    >>> data = {"a": {"label": "x", "speaker": "s1"}, "b": {"label": "y", "speaker": "s2"},
    ...         "c": {"label": "y", "speaker": "s2"}, "d": {"label": "x", "speaker": "s2"}}
    >>> warn_label_spread(data, "data.csv")
    "data.csv: label 'y' has 2 utterances, all of one speaker (s2); speaker-independent folds cannot both train and test such a label, so some folds score fewer classes (UA averages over different classes per fold)"
    """
    utterances = collections.Counter(entry["label"] for entry in data.values())
    speakers = collections.defaultdict(set)
    for entry in data.values():
        speakers[entry["label"]].add(entry["speaker"])
    problems = []
    for label in sorted(utterances):
        if utterances[label] == 1:
            problems.append(f"label {label!r} has 1 utterance")
        elif len(speakers[label]) == 1:
            problems.append(f"label {label!r} has {utterances[label]} utterances, all of one "
                            f"speaker ({next(iter(speakers[label]))})")
    if not problems:
        return None
    message = (f"{source}: " + "; ".join(problems) + "; speaker-independent folds cannot both "
               "train and test such a label, so some folds score fewer classes (UA averages over "
               "different classes per fold)")
    logger.warning(message)
    return message
