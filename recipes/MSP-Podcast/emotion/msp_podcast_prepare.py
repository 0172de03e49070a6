"""Prepares MSP-Podcast for categorical or dimensional emotion probing.

Layout (a release from UT Dallas, e.g. ``MSP-PODCAST-Publish-1.11``)::

    data_folder/Audios/MSP-PODCAST_0001_0008.wav ...
    data_folder/Labels/labels_consensus.csv
    data_folder/Transcripts/MSP-PODCAST_0001_0008.txt ...   (optional)

``labels_consensus.csv`` has one row per segment with at least ``FileName``,
``EmoClass``, ``SpkrID`` and ``Split_Set`` (also ``EmoAct``, ``EmoVal``,
``EmoDom``, ``Gender``). EmoClass codes: A angry, S sad, H happy, U surprise,
F fear, D disgust, C contempt, N neutral, O other, X no agreement.

Protocol: the official partitions, ``Train`` -> train, ``Development`` ->
valid, ``Test1`` (default) or ``Test2`` -> test.

- ``num_classes: 8`` (default): the eight primary emotions; O and X dropped.
- ``num_classes: 4``: angry, happy, neutral, sad.
- ``task: dimensional``: every labelled segment of the chosen partitions
  (O and X included, ``num_classes`` ignored), with its consensus
  attributes ``EmoAct`` -> ``arousal``, ``EmoVal`` -> ``valence``,
  ``EmoDom`` -> ``dominance`` (1 to 7), each required to be a number; the
  probe regresses them (``care.probing.dimensional``). The manifest's
  ``label`` is still the segment's class.

Speakers are ``SpkrID``. Segments whose speaker is ``Unknown`` (train only,
in the releases we know) cannot be checked for overlap; the check between
train, valid and test skips them and ``prepare.json`` counts them.

Counts are checked against the release's published partition sizes (rows of
the label file per partition, before class filtering); only release 1.11 is
known here (Train 84030, Development 19815, Test1 30647, Test2 14815). For
another release pass ``release: null`` (or ``strict: False``).

Authors
 * CARE for SpeechBrain contributors, 2026
"""

import os
from collections import Counter

from speechbrain.utils.logger import get_logger

from care.processing.corpus import (
    read_durations,
    read_table,
    read_text,
    require_audio,
    require_dir,
    require_file,
)
from care.processing.manifest import ManifestError, check_counts, check_labels, relative_wav
from care.processing.preparation import skip_preparation, write_manifest

logger = get_logger(__name__)

CODES = {
    "A": "angry",
    "S": "sad",
    "H": "happy",
    "U": "surprise",
    "F": "fear",
    "D": "disgust",
    "C": "contempt",
    "N": "neutral",
    "O": "other",
    "X": "no_agreement",
}
CLASSES = {8: ["A", "S", "H", "U", "F", "D", "C", "N"], 4: ["A", "H", "N", "S"]}
PARTITIONS = {"Train", "Development", "Test1", "Test2", "Test3"}
LABELLED = ("Train", "Development", "Test1", "Test2")
RELEASE_COUNTS = {"1.11": {"Train": 84030, "Development": 19815, "Test1": 30647, "Test2": 14815}}
COLUMNS = ("FileName", "EmoClass", "SpkrID", "Split_Set")
UNKNOWN = "Unknown"
TASKS = ("categorical", "dimensional")
ATTRIBUTES = {"EmoAct": "arousal", "EmoVal": "valence", "EmoDom": "dominance"}
LABELS = os.path.join("Labels", "labels_consensus.csv")


def prepare_msp_podcast(
    data_folder, save_folder, num_classes=8, test_set="Test1", release="1.11", strict=True,
    task="categorical",
):
    """Writes ``<save_folder>/data.json`` and ``prepare.json`` for MSP-Podcast.

    Arguments
    ---------
    data_folder : str
        The release root, holding ``Audios`` and ``Labels``.
    save_folder : str
        Where the manifest goes.
    num_classes : int
        8 (the primary emotions) or 4 (angry, happy, neutral, sad).
    test_set : str
        ``Test1`` or ``Test2``: the partition used as test.
    release : str or None
        The release whose partition sizes are checked (``"1.11"``); None skips.
    strict : bool
        Check the official release (the partition sizes of ``release``);
        False accepts a subset.
    task : str
        ``categorical`` (the ``num_classes`` classes) or ``dimensional``
        (every labelled segment, with its three attributes).
    """
    if num_classes not in CLASSES:
        raise ManifestError(f"num_classes must be 8 or 4, not {num_classes}")
    if test_set not in ("Test1", "Test2"):
        raise ManifestError(f"test_set must be Test1 or Test2, not {test_set}")
    if strict and release is not None and release not in RELEASE_COUNTS:
        raise ManifestError(
            f"partition sizes of release {release} are not known; known: "
            f"{sorted(RELEASE_COUNTS)}. Pass release=None to skip the check"
        )
    if task not in TASKS:
        raise ManifestError(f"task must be one of {TASKS}, not {task!r}")
    options = {"num_classes": num_classes, "test_set": test_set, "release": release, "strict": strict}
    if task != "categorical":  # (the default's options, and so its skip, unchanged)
        options["task"] = task
    audio_dir = require_dir(os.path.join(data_folder, "Audios"), "MSP-Podcast audio")
    label_file = require_file(os.path.join(data_folder, LABELS), "consensus labels")
    rows = read_table(label_file, COLUMNS)
    check_labels({r["Split_Set"] for r in rows}, PARTITIONS, f"{label_file} (Split_Set)")
    labelled = [r for r in rows if r["Split_Set"] in LABELLED]  # Test3 labels are hidden
    check_labels({r["EmoClass"] for r in labelled}, CODES, f"{label_file} (EmoClass)")
    expected = RELEASE_COUNTS.get(release) if strict else None
    sizes = Counter(r["Split_Set"] for r in labelled)
    check_counts(dict(sizes), expected, f"rows of {LABELS} per partition", data_folder)

    splits = {"Train": "train", "Development": "valid", test_set: "test"}
    keep = set(CLASSES[num_classes]) if task == "categorical" else set(CODES)
    chosen = [r for r in labelled if r["Split_Set"] in splits and r["EmoClass"] in keep]
    paths = {}
    for row in chosen:
        utt = os.path.splitext(row["FileName"])[0]
        if utt in paths:
            raise ManifestError(f"{label_file}: {row['FileName']} listed twice")
        paths[utt] = os.path.join(audio_dir, row["FileName"])
    require_audio(paths, "labelled segments")
    if skip_preparation(save_folder, options, list(paths.values()) + [label_file], data_folder):
        return

    durations, _ = read_durations(paths)
    transcripts = os.path.join(data_folder, "Transcripts")
    data = {}
    for row in chosen:
        utt = os.path.splitext(row["FileName"])[0]
        entry = {
            "wav": relative_wav(paths[utt], data_folder),
            "duration": durations[utt],
            "label": CODES[row["EmoClass"]],
            "speaker": row["SpkrID"].strip() or UNKNOWN,
            "fold": splits[row["Split_Set"]],
            "partition": row["Split_Set"],
        }
        for column, key in ATTRIBUTES.items():
            if row.get(column) or task == "dimensional":
                entry[key] = _attribute(row.get(column), column, row["FileName"], label_file)
        if row.get("Gender"):
            entry["gender"] = row["Gender"]
        text_file = os.path.join(transcripts, utt + ".txt")
        if os.path.isfile(text_file):
            entry["text"] = read_text(text_file).strip()
        data[utt] = entry
    unknown = Counter(e["fold"] for e in data.values() if e["speaker"] == UNKNOWN)
    if unknown:
        logger.warning(f"Speaker overlap not checked for segments of unknown speakers: {dict(unknown)}")
    what = f"{num_classes} classes" if task == "categorical" else "attributes arousal, valence, dominance"
    write_manifest(
        save_folder,
        data,
        options,
        list(paths.values()) + [label_file],
        data_folder,
        protocol=f"official partitions (test = {test_set}), {what}",
        facts={"unknown_speaker_segments": dict(unknown)},
        ignore_speakers=(UNKNOWN,),
    )


def _attribute(text, column, file_name, label_file):
    """A consensus attribute as a number; an error names the file and row."""
    try:
        return float(text)
    except (TypeError, ValueError):
        raise ManifestError(f"{label_file}: {file_name}: {column} is not a number ({text!r})") from None
