"""Prepares MELD (audio of the Friends utterances) for emotion probing.

MELD ships video (``MELD.Raw.tar.gz``: ``train_splits/``,
``dev_splits_complete/``, ``output_repeated_splits_test/`` of
``dia{D}_utt{U}.mp4``) and three label files. Extract the audio once (the
README has the ffmpeg loop) so that the layout is::

    data_folder/train_sent_emo.csv      (or data_folder/train/train_sent_emo.csv)
    data_folder/dev_sent_emo.csv
    data_folder/test_sent_emo.csv
    data_folder/audio/train/dia0_utt0.wav ...   (.wav or .flac)
    data_folder/audio/dev/...
    data_folder/audio/test/...

A label row has ``Sr No., Utterance, Speaker, Emotion, Sentiment,
Dialogue_ID, Utterance_ID, Season, Episode, StartTime, EndTime``. Emotions:
neutral, joy, surprise, anger, sadness, disgust, fear. Rows: train 9989, dev
1109, test 2610.

Protocol: the official splits (train, dev -> valid, test), 7 emotions, as in
the literature. The splits share speakers (the six main characters are in
all three): this is the one corpus where preparation does NOT refuse speaker
overlap; it logs it and records it in ``prepare.json`` under
``speaker_overlap``. Probe results on MELD are therefore not
speaker-independent (``care.processing.folds.fold_splits`` must be called
with ``check_speakers=False`` for it).

Known problems of the release: ``dev`` dia110_utt7 has no video and
``train`` dia125_utt3 is broken; rows whose audio is missing or unreadable
are skipped (at most ``max_bad_files``), logged and listed in ``prepare.json``.

Authors
 * CARE for SpeechBrain contributors, 2026
"""

import os
from collections import Counter

from speechbrain.utils.logger import get_logger

from care.processing.corpus import read_durations, read_table, require_dir
from care.processing.folds import fold_speaker_overlap
from care.processing.manifest import ManifestError, check_counts, check_labels, relative_wav
from care.processing.preparation import skip_preparation, write_manifest

logger = get_logger(__name__)

EMOTIONS = {"neutral", "joy", "surprise", "anger", "sadness", "disgust", "fear"}
SPLITS = {"train": "train", "dev": "valid", "test": "test"}
EXPECTED_ROWS = {"train": 9989, "dev": 1109, "test": 2610}
COLUMNS = ("Utterance", "Speaker", "Emotion", "Sentiment", "Dialogue_ID", "Utterance_ID")
AUDIO_EXTENSIONS = (".wav", ".flac")


def prepare_meld(data_folder, save_folder, audio_folder="audio", strict=True, max_bad_files=5):
    """Writes ``<save_folder>/data.json`` and ``prepare.json`` for MELD.

    Arguments
    ---------
    data_folder : str
        The folder with the three label files.
    save_folder : str
        Where the manifest goes.
    audio_folder : str
        Folder (relative to ``data_folder``) with ``train``, ``dev`` and
        ``test`` subfolders of ``dia{D}_utt{U}.wav`` (or ``.flac``).
    strict : bool
        Check the official release (the row counts of the label files);
        False accepts a subset.
    max_bad_files : int or None
        Utterances whose audio file is missing or unreadable that are
        skipped (logged, listed in ``prepare.json``); one more stops the
        preparation. None: any number.
    """
    options = {"audio_folder": audio_folder, "strict": strict, "max_bad_files": max_bad_files}
    rows, label_files, paths, missing = {}, [], {}, []
    for split in SPLITS:
        label_file = _label_file(data_folder, split)
        label_files.append(label_file)
        table = read_table(label_file, COLUMNS)
        check_labels({r["Emotion"] for r in table}, EMOTIONS, label_file)
        check_counts(len(table), EXPECTED_ROWS[split] if strict else None, "label rows", label_file)
        audio_dir = require_dir(
            os.path.join(data_folder, audio_folder, split),
            f"audio of the {split} split",
            "Extract it from the MELD videos with ffmpeg (see the README)",
        )
        for row in table:
            try:
                name = f"dia{int(row['Dialogue_ID'])}_utt{int(row['Utterance_ID'])}"
            except ValueError:
                raise ManifestError(f"{label_file}: row {row.get('Sr No.')} has no numeric ids") from None
            utt = f"{split}_{name}"
            if utt in rows:
                raise ManifestError(f"{label_file}: {name} listed twice")
            rows[utt] = (split, row)
            found = [os.path.join(audio_dir, name + ext) for ext in AUDIO_EXTENSIONS]
            found = [path for path in found if os.path.isfile(path)]
            if found:
                paths[utt] = found[0]
            else:
                missing.append(utt)
    if max_bad_files is not None and len(missing) > max_bad_files:
        raise ManifestError(
            f"{len(missing)} MELD rows have no audio file (max_bad_files: {max_bad_files}), "
            f"e.g. {missing[:5]}; expected {data_folder}/{audio_folder}/<split>/dia<D>_utt<U>.wav"
        )
    if skip_preparation(save_folder, options, list(paths.values()) + label_files, data_folder):
        return

    left = None if max_bad_files is None else max_bad_files - len(missing)
    durations, unreadable = read_durations(paths, left)
    data = {}
    for utt, (split, row) in rows.items():
        if utt not in durations:
            continue
        data[utt] = {
            "wav": relative_wav(paths[utt], data_folder),
            "duration": durations[utt],
            "label": row["Emotion"],
            "speaker": row["Speaker"].strip(),
            "fold": SPLITS[split],
            "text": row["Utterance"].strip(),
            "sentiment": row["Sentiment"],
            "dialogue": int(row["Dialogue_ID"]),
        }
    for utt in missing:
        logger.warning(f"Skipped {utt}: no audio file")
    overlap = fold_speaker_overlap(data)
    if overlap:
        logger.warning(
            "MELD's official splits share speakers (kept, as in the literature): "
            + "; ".join(f"{pair}: {len(names)}" for pair, names in overlap.items())
        )
    write_manifest(
        save_folder,
        data,
        options,
        list(paths.values()) + label_files,
        data_folder,
        protocol="official splits (train / dev as valid / test), 7 emotions; "
        "speakers shared between splits, not speaker-independent",
        facts={
            "speaker_overlap": {pair: {"count": len(names), "speakers": names} for pair, names in overlap.items()},
            "skipped_missing_audio": missing,
            "skipped_unreadable": unreadable,
            "label_rows": dict(Counter(split for split, _ in rows.values())),
        },
        check_speakers=False,  # the official splits share speakers (recorded above)
    )


def _label_file(data_folder, split):
    """``<split>_sent_emo.csv`` in ``data_folder`` or ``data_folder/<split>``."""
    name = f"{split}_sent_emo.csv"
    for path in (os.path.join(data_folder, name), os.path.join(data_folder, split, name)):
        if os.path.isfile(path):
            return path
    raise ManifestError(f"{os.path.join(data_folder, name)}: missing file (MELD {split} labels)")
