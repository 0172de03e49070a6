"""Prepares CMU-MOSI for binary sentiment probing.

Layout (``CMU_MOSI.zip`` of the CMU Multimodal SDK's raw data, unpacked, plus
a label table)::

    data_folder/Raw/Audio/WAV_16000/Segmented/03bSnISJMiM_1.wav ...
    data_folder/Raw/Transcript/Segmented/03bSnISJMiM.annotprocessed ...  (optional)
    data_folder/label.csv

``label.csv`` has one row per opinion segment with columns ``video_id``,
``clip_id`` (the segment number of the audio file name) and ``label`` (the
sentiment score in [-3, 3]); optional ``text`` (the transcript) and ``mode``
(train / valid / test, as in MMSA's ``label.csv``). The README shows how to
write it from the SDK's ``CMU_MOSI_Opinion_Labels.csd``.

Protocol: the SDK's standard folds (``standard_folds.json``: 52 train, 10
valid, 31 test videos; 1284 / 229 / 686 segments, 2199 in all); a ``mode``
column, when present, must agree with them. Label: ``negative`` when the
score is < 0, ``positive`` otherwise (the common "negative / non-negative"
binary protocol); ``zero: drop`` removes the segments scored exactly 0 (the
"negative / positive" variant). The score is kept as ``sentiment``.
Speaker = video id (one speaker per video), so the folds are
speaker-independent.

Authors
 * CARE for SpeechBrain contributors, 2026
"""

import json
import os
from collections import Counter

from care.processing.corpus import (
    check_release,
    read_durations,
    read_table,
    read_text,
    require_audio,
    require_dir,
    require_file,
)
from care.processing.manifest import ManifestError, relative_wav
from care.processing.preparation import skip_preparation, write_manifest

FOLDS_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "standard_folds.json")
RELEASE = {"segments per standard fold": {"train": 1284, "valid": 229, "test": 686}, "videos": 93}
COLUMNS = ("video_id", "clip_id", "label")
AUDIO = os.path.join("Raw", "Audio", "WAV_16000", "Segmented")
TRANSCRIPTS = os.path.join("Raw", "Transcript", "Segmented")


def standard_folds():
    """``{video_id: "train" | "valid" | "test"}`` from the SDK's standard folds."""
    with open(FOLDS_FILE, encoding="utf-8") as handle:
        lists = json.load(handle)
    return {video: split for split in ("train", "valid", "test") for video in lists[split]}


def prepare_cmu_mosi(
    data_folder, save_folder, label_file="label.csv", audio_folder=AUDIO, zero="positive", strict=True
):
    """Writes ``<save_folder>/data.json`` and ``prepare.json`` for CMU-MOSI.

    Arguments
    ---------
    data_folder : str
        The folder holding ``Raw`` and the label table.
    save_folder : str
        Where the manifest goes.
    label_file : str
        The label table, relative to ``data_folder``.
    audio_folder : str
        Folder of ``<video_id>_<clip_id>.wav``, relative to ``data_folder``.
    zero : str
        ``positive``: a score of 0 is positive (non-negative); ``drop``:
        segments scored 0 are left out.
    strict : bool
        Check the official release (2199 segments of 93 videos; per split);
        False accepts a subset.
    """
    if zero not in ("positive", "drop"):
        raise ManifestError(f"zero must be 'positive' or 'drop', not {zero!r}")
    options = {"label_file": label_file, "audio_folder": audio_folder, "zero": zero, "strict": strict}
    table_path = require_file(os.path.join(data_folder, label_file), "segment sentiment labels")
    audio_dir = require_dir(os.path.join(data_folder, audio_folder), "segmented audio", "Unpack CMU_MOSI.zip here")
    rows = read_table(table_path, COLUMNS)
    folds = standard_folds()
    segments, paths = {}, {}
    for row in rows:
        video, clip = row["video_id"].strip(), str(row["clip_id"]).strip()
        utt = f"{video}_{clip}"
        if video not in folds:
            raise ManifestError(f"{table_path}: video {video} is in none of the standard folds")
        mode = (row.get("mode") or "").strip()
        if mode and mode != folds[video]:
            raise ManifestError(
                f"{table_path}: {utt} is in {mode!r} there but in {folds[video]!r} in the standard folds"
            )
        try:
            score = float(row["label"])
        except ValueError:
            raise ManifestError(f"{table_path}: {utt} has no numeric label ({row['label']!r})") from None
        if not -3 <= score <= 3:
            raise ManifestError(f"{table_path}: {utt} has label {score} outside [-3, 3]")
        if utt in segments:
            raise ManifestError(f"{table_path}: {utt} listed twice")
        segments[utt] = (video, score, folds[video], (row.get("text") or "").strip())
        paths[utt] = os.path.join(audio_dir, utt + ".wav")
    require_audio(paths, "labelled segments")
    found = {
        "segments per standard fold": dict(Counter(s[2] for s in segments.values())),
        "videos": len({s[0] for s in segments.values()}),
    }
    check_release(found, RELEASE if strict else None, table_path)
    if zero == "drop":
        dropped = [utt for utt, s in segments.items() if s[1] == 0]
        for utt in dropped:
            del segments[utt], paths[utt]
    else:
        dropped = []
    if skip_preparation(save_folder, options, list(paths.values()) + [table_path], data_folder):
        return

    durations, _ = read_durations(paths)
    texts = _transcripts(os.path.join(data_folder, TRANSCRIPTS), {s[0] for s in segments.values()})
    data = {}
    for utt, (video, score, split, text) in sorted(segments.items()):
        entry = {
            "wav": relative_wav(paths[utt], data_folder),
            "duration": durations[utt],
            "label": "negative" if score < 0 else "positive",
            "speaker": video,
            "fold": split,
            "sentiment": score,
        }
        text = text or texts.get(utt, "")
        if text:
            entry["text"] = text
        data[utt] = entry
    write_manifest(
        save_folder,
        data,
        options,
        list(paths.values()) + [table_path],
        data_folder,
        protocol="standard folds of the CMU Multimodal SDK; negative < 0 <= positive"
        + ("; segments scored 0 dropped" if zero == "drop" else ""),
        facts={"dropped_zero_score": len(dropped)},
    )


def _transcripts(folder, videos):
    """``{utt_id: text}`` from ``<video>.annotprocessed`` files
    (``<clip>_DELIM_<text>`` lines), when the folder exists."""
    texts = {}
    for video in sorted(videos):
        path = os.path.join(folder, video + ".annotprocessed")
        if not os.path.isfile(path):
            continue
        for line in read_text(path).splitlines():
            clip, sep, text = line.partition("_DELIM_")
            if sep and clip.strip().isdigit():
                texts[f"{video}_{clip.strip()}"] = text.strip()
    return texts
