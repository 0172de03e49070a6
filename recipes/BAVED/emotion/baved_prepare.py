"""Data preparation for BAVED (Basic Arabic Vocal Emotions Dataset; acted words).

Reads ``<data_folder>/<word>/*.wav`` for the word folders ``0`` ... ``6`` and
``<data_folder>/speakers_info.json``. A file ``0-m-21-0-1-105.wav`` is
speaker ``0``, gender ``m``, age ``21``, word ``0``, emotion level ``1``,
record ``105`` (the release's ``naming.txt``); gender and age must agree with
``speakers_info.json``. The labels are the three levels of expressed emotion,
not emotion categories (the release's README):

- ``low`` (level 0): a low emotion, "similar to feeling tired or feeling down";
- ``neutral`` (level 1): the speaker's everyday way of speaking;
- ``high`` (level 2): a strong positive or negative emotion (happiness, joy,
  sadness, anger, ...).

So BAVED takes no part in the cross-corpus runs over shared emotions
(``recipes/cross_corpus.py`` refuses it). Writes ``<save_folder>/data.json``
(see ``care.processing.manifest``) with the spoken word as ``text``,
``gender`` and ``age``.

Protocol: speaker-grouped cross-validation. The speakers are split into
``num_folds`` groups of about equal utterance counts and label mix
(:func:`care.processing.folds.assign_speaker_folds`: greedy, largest speaker
first, deterministic); ``fold`` is the group (``g1`` ... ``g5``).

Oddities of the release, handled:

- 27 files are byte-identical copies of another file; 21 of them are every
  file of speaker 53, each a copy of speaker 46's file for the same word and
  level (one recording session filed under two ids), the other 6 repeat a
  file of the same speaker. Copies are always left out
  (:func:`care.processing.corpus.drop_identical_audio`; logged, listed in
  ``prepare.json``): kept, speaker 46's clips would be tested on a probe
  trained on the same clips as speaker 53's. Speaker 53 has no clip left;
- one file's name gives word 6 inside folder ``0`` (``49-m-23-6-1-201.wav``;
  its record number continues folder 0's sequence): the folder gives the
  word, and the file is listed in ``prepare.json``;
- ``speakers_info.json`` lists 61 speakers; speaker 52 has no file.

Authors
 * CARE for SpeechBrain contributors, 2026
"""

import json
import os
import re

from speechbrain.utils.logger import get_logger

from care.processing.corpus import (
    check_num_folds,
    check_release,
    drop_identical_audio,
    read_durations,
    read_text,
    require_file,
    wav_files,
)
from care.processing.folds import assign_speaker_folds, speaker_groups_protocol
from care.processing.manifest import ManifestError, natural_key, relative_wav, validate_manifest
from care.processing.preparation import skip_preparation, write_manifest

logger = get_logger(__name__)

LEVELS = {"0": "low", "1": "neutral", "2": "high"}
WORDS = {  # folder: the spoken word (the release's README)
    "0": "اعجبني",
    "1": "لم يعجبني",
    "2": "هذا",
    "3": "الفيلم",
    "4": "رائع",
    "5": "مقول",
    "6": "سيئ",
}
FILE_NAME = re.compile(r"^(\d+)-([mf])-(\d+)-(\d)-(\d)-(\d+)\.wav$")
GENDERS = {"m": "male", "f": "female"}
RELEASE = {"files": 1935, "speakers": 60}  # speakers named in the file names
COPIES, SPEAKERS_LEFT = 27, 59  # byte-identical copies; speakers with a clip once they are out
HINT = "Clone https://github.com/40uf411/Basic-Arabic-Vocal-Emotions-Dataset"


def prepare_baved(data_folder, save_folder, num_folds=5, strict=True):
    """Writes ``data.json`` and ``prepare.json`` for BAVED into ``save_folder``.

    Arguments
    ---------
    data_folder : str
        The corpus root holding ``0/`` ... ``6/`` and ``speakers_info.json``.
    save_folder : str
        Where the manifest goes.
    num_folds : int
        Speaker groups (test folds).
    strict : bool
        Check the official release (1935 files from 60 speakers; 1908 clips
        from 59 speakers once the copies are out; 3 levels); False accepts a
        subset.
    """
    check_num_folds(num_folds)
    info_file = require_file(os.path.join(data_folder, "speakers_info.json"), "BAVED's speakers", HINT)
    folders = [word for word in WORDS if os.path.isdir(os.path.join(data_folder, word))]
    if not folders:
        raise ManifestError(f"BAVED at {data_folder}: no word folders {list(WORDS)}. {HINT}")
    files = sorted(path for word in folders for path in wav_files(os.path.join(data_folder, word)))
    options = {"num_folds": num_folds, "strict": strict}
    if skip_preparation(save_folder, options, files + [info_file], data_folder):
        return

    corpus = f"BAVED at {data_folder}"
    try:
        speakers_info = json.loads(read_text(info_file))
    except json.JSONDecodeError as error:
        raise ManifestError(f"{info_file}: not valid JSON ({error})") from None
    if not isinstance(speakers_info, dict) or not all(
        isinstance(known, dict) for known in speakers_info.values()
    ):
        raise ManifestError(
            f"{info_file}: expected an object of speakers, {{\"<speaker>\": {{\"gender\": "
            f"\"m\", \"age\": 21}}, ...}}, found {_kind(speakers_info)}"
        )
    paths, data, other_word = {}, {}, []
    for path in files:
        folder, name = os.path.basename(os.path.dirname(path)), os.path.basename(path)
        match = FILE_NAME.match(name[: -len(".wav")] + ".wav")  # a.WAV too
        if match is None:
            raise ManifestError(
                f"{path}: not a BAVED name <speaker>-<m|f>-<age>-<word 0-6>-<level 0-2>-<record>.wav"
            )
        speaker, gender, age, word, level, _ = match.groups()
        if level not in LEVELS:
            raise ManifestError(f"{path}: emotion level {level}; BAVED's levels are 0, 1, 2")
        known = speakers_info.get(speaker)
        if known is None:
            raise ManifestError(f"{path}: speaker {speaker} is not in {info_file}")
        if (str(known.get("gender")), str(known.get("age"))) != (gender, age):
            raise ManifestError(
                f"{path}: the name says gender {gender}, age {age}; {info_file} says "
                f"{known.get('gender')}, {known.get('age')} for speaker {speaker}"
            )
        if word != folder:
            other_word.append(name)
        utt = name[: -len(".wav")]
        if utt in data:
            raise ManifestError(f"{path}: the name {name} is also in {os.path.dirname(paths[utt])}")
        paths[utt] = path
        data[utt] = {
            "label": LEVELS[level],
            "speaker": speaker,
            "fold": None,
            "text": WORDS[folder],
            "gender": GENDERS[gender],
            "age": int(age),
        }
    if not data:
        raise ManifestError(f"{corpus}: no .wav files in the word folders {folders}. {HINT}")
    found = {"files": len(data), "speakers": len({e["speaker"] for e in data.values()})}
    check_release(found, RELEASE if strict else None, corpus)
    if other_word:
        logger.warning(
            f"{corpus}: {len(other_word)} files name another word than their folder's (the "
            f"folder gives the word): {other_word[:5]}"
        )

    copies = drop_identical_audio(data, paths, corpus)
    durations, _ = read_durations({utt: paths[utt] for utt in data}, option=None)
    for utt, entry in data.items():
        entry["wav"] = relative_wav(paths[utt], data_folder)
        entry["duration"] = round(durations[utt], 4)
    sizes = assign_speaker_folds(data, num_folds, prefix="g")
    validate_manifest(
        data,
        corpus,
        expected_count=RELEASE["files"] - COPIES if strict else None,
        expected_labels=LEVELS.values() if strict else None,
        expected_speakers=SPEAKERS_LEFT if strict else None,
        expected_folds=num_folds,
    )
    protocol = speaker_groups_protocol(data, sizes)
    silent = sorted(set(speakers_info) - {e["speaker"] for e in data.values()}, key=natural_key)
    write_manifest(
        save_folder, data, options, files + [info_file], data_folder, protocol=protocol,
        facts={
            "word_differs_from_folder": other_word,
            "identical_copies_dropped": copies,
            "speakers_without_clips": silent,
        },
    )


def _kind(value):
    """What a JSON value is, for an error message: ``a list``, ``an object
    holding a str``."""
    if isinstance(value, dict):
        inner = next(v for v in value.values() if not isinstance(v, dict))
        return f"an object holding a {type(inner).__name__} ({inner!r:.40})"
    return f"a {type(value).__name__}"
