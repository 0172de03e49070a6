"""Data preparation for nEMO (emotional speech in Polish, acted by 9 actors).

Reads ``<data_folder>/data.tsv`` (tab-separated, one row per clip: ``file_id``,
``emotion``, ``raw_text``, ``normalized_text``, ``speaker_id``, ``gender``,
``age``) and ``<data_folder>/samples/<file_id>``. A ``file_id`` such as
``SM0_anger_12.wav`` is speaker ``SM0``, emotion ``anger``, sentence 12; the
name must agree with the row's ``speaker_id`` and ``emotion`` columns (the
release pads ``speaker_id`` with spaces; values are stripped). Labels are the
table's six: anger, fear, happiness, neutral, sadness, surprised. Writes
``<save_folder>/data.json`` (see ``care.processing.manifest``) with
``fold`` = speaker (leave-one-speaker-out), ``text`` (the orthographic
transcription) and ``gender``.

Oddities handled: audio files that ``data.tsv`` does not list are skipped
(logged, listed in ``prepare.json``); rows whose audio is missing stop a
``strict`` preparation and are skipped otherwise (a subset); byte-identical
copies of another clip are left out
(:func:`care.processing.corpus.drop_identical_audio`; the release has none).

Authors
 * CARE for SpeechBrain contributors, 2026
"""

import glob
import os
import re

from speechbrain.utils.logger import get_logger

from care.processing.corpus import (
    drop_identical_audio,
    read_durations,
    read_table,
    require_dir,
    require_file,
)
from care.processing.manifest import (
    STRICT_HINT,
    ManifestError,
    check_labels,
    relative_wav,
    validate_manifest,
)
from care.processing.preparation import skip_preparation, write_manifest

logger = get_logger(__name__)

EMOTIONS = ("anger", "fear", "happiness", "neutral", "sadness", "surprised")
SPEAKERS = ["EB0", "IC0", "KD0", "KS0", "MK0", "MP0", "SM0", "TP0", "WR0"]
UTTERANCES = 4481  # the release: rows of data.tsv and files in samples/
COLUMNS = ("file_id", "emotion", "raw_text", "speaker_id", "gender")
FILE_ID = re.compile(r"^([A-Za-z0-9]+)_([a-z]+)_(\d+)\.wav$")
HINT = "Clone https://github.com/amu-cai/nEMO (data.tsv and samples/)"
PROTOCOL = (
    "leave-one-speaker-out: 9 test folds, one speaker each; for each, the next speaker "
    "(cyclic order EB0..WR0) is the validation set for epoch selection, the other 7 train"
)


def prepare_nemo(data_folder, save_folder, strict=True):
    """Writes ``data.json`` and ``prepare.json`` for nEMO into ``save_folder``.

    Arguments
    ---------
    data_folder : str
        The corpus root, holding ``data.tsv`` and ``samples/``.
    save_folder : str
        Where the manifest goes.
    strict : bool
        Check the official release (4481 clips, 6 emotions, the 9 speakers);
        False accepts a subset (rows of ``data.tsv`` without audio are
        skipped).
    """
    table = require_file(os.path.join(data_folder, "data.tsv"), "nEMO's labels", HINT)
    samples = require_dir(os.path.join(data_folder, "samples"), "nEMO's audio", HINT)
    audio = sorted(glob.glob(os.path.join(samples, "*.wav")))
    options = {"strict": strict}
    if skip_preparation(save_folder, options, audio + [table], data_folder):
        return

    paths, data = {}, {}
    for line, row in enumerate(read_table(table, COLUMNS, delimiter="\t"), start=2):
        row = {key: (value or "").strip() for key, value in row.items() if key}
        where = f"{table} line {line} ({row['file_id']})"
        match = FILE_ID.match(row["file_id"])
        if match is None:
            raise ManifestError(f"{where}: file_id is not <speaker>_<emotion>_<sentence>.wav")
        check_labels([row["emotion"]], EMOTIONS, where)
        if (match.group(1), match.group(2)) != (row["speaker_id"], row["emotion"]):
            raise ManifestError(
                f"{where}: the name says speaker {match.group(1)}, emotion {match.group(2)}; "
                f"the columns say {row['speaker_id']}, {row['emotion']}"
            )
        utt = row["file_id"][: -len(".wav")]
        if utt in data:
            raise ManifestError(f"{where}: {row['file_id']} is listed twice")
        paths[utt] = os.path.join(samples, row["file_id"])
        data[utt] = {
            "label": row["emotion"],
            "speaker": row["speaker_id"],
            "fold": row["speaker_id"],
            "gender": row["gender"],
            "text": row["raw_text"],
        }

    missing = sorted(utt for utt in data if not os.path.isfile(paths[utt]))
    if missing and strict:
        raise ManifestError(
            f"{samples}: {len(missing)} clips listed in {table} have no audio file "
            f"(e.g. {missing[:3]}); {STRICT_HINT}"
        )
    for utt in missing:
        del data[utt]
    listed = {os.path.basename(paths[utt]) for utt in paths}
    unlisted = sorted(os.path.basename(p) for p in audio if os.path.basename(p) not in listed)
    if missing or unlisted:
        logger.warning(
            f"nEMO at {data_folder}: skipped {len(missing)} rows of data.tsv without audio and "
            f"{len(unlisted)} audio files data.tsv does not list (e.g. {unlisted[:3]})"
        )
    corpus = f"nEMO at {data_folder}"
    copies = drop_identical_audio(data, paths, corpus)
    durations, _ = read_durations({utt: paths[utt] for utt in data}, option=None)
    for utt, entry in data.items():
        entry["wav"] = relative_wav(paths[utt], data_folder)
        entry["duration"] = round(durations[utt], 4)

    validate_manifest(
        data,
        corpus,
        expected_count=UTTERANCES if strict else None,
        expected_labels=EMOTIONS if strict else None,
        expected_speakers=len(SPEAKERS) if strict else None,
    )
    unknown = {entry["speaker"] for entry in data.values()} - set(SPEAKERS)
    if unknown and strict:
        raise ManifestError(f"{corpus}: unknown speakers {sorted(unknown)} (nEMO has {SPEAKERS})")
    write_manifest(
        save_folder, data, options, audio + [table], data_folder, protocol=PROTOCOL,
        facts={
            "skipped_rows_without_audio": missing,
            "skipped_unlisted_files": unlisted,
            "identical_copies_dropped": copies,
        },
    )
