"""Builds the pretraining manifests from every corpus found under a folder.

Recognised layouts (any depth under ``data_folder``, any mix):

* LibriSpeech: ``<speaker>/<chapter>/<speaker>-<chapter>.trans.txt`` beside
  ``<id>.flac`` files; speaker from the file name.
* LJSpeech-style: ``metadata.csv`` (``id|text|normalised text``) beside
  ``wavs/``; one speaker per folder.
* MSP-Podcast: ``Audios/`` beside ``Transcripts/`` (``<id>.txt``) and
  optionally ``Labels/labels_consensus.csv`` (speaker ids).
* EmoDB (``03a01Fa.wav``: speaker 03, sentence a01; texts known), URDU
  (``SM1_F01_A12``: speaker M1; no transcripts), FSDD (``7_jackson_32.wav``:
  the digit word is the transcript).
* Indian EmoSpeech Command
  (``<keyword>-<environment>-<emotion>-<timestamp>-<speaker hash>.wav``): the
  keyword is the transcript (none for ``unknown``); ``background`` clips hold
  no speech and are skipped (counted); the hash ``d14a028c...`` marks an
  unknown speaker.
* Hindi speech corpus (``corpus/data/<speaker>/<id>.mp3`` with
  ``corpus/text.txt``, lines ``<id> <gender> <text>``, and
  ``corpus/speaker_to_gender.txt``).
* Anything else: every audio file, with a transcript from a sidecar ``.txt``
  of the same stem or from a ``transcripts.csv`` in its folder (columns
  ``file,text`` and optionally ``speaker``).

Folders may be symbolic links (a pool is a folder of links to the corpora
it uses); a folder reached by a second name (a link back to a folder already
walked, or a corpus linked both on its own and inside another linked folder)
is walked once, under its first name in sorted order, and ``exclude``
patterns match its files under every name it is reachable by.

Outputs in ``save_folder``: ``train.json`` and ``valid.json`` (SpeechBrain
JSON: ``{id: {wav: "{data_root}/...", duration, speaker, corpus, text}}``;
``text`` is null when the corpus has no transcript, ``speaker`` null when
unknown) and ``prepare.json`` (options, per-corpus counts, skipped files,
exclusions, and the SHA-256 of both manifests). ``prepare.json`` is removed
before and written after the manifests, so an interrupted preparation is
never taken as up to date, nor is a manifest edited since. Durations come
from audio headers. Files that are unreadable, empty or shorter than
``min_duration``, and folders that cannot be listed, are skipped and counted
in one log line; audio files whose name is not UTF-8 (manifests are UTF-8
JSON) are skipped and named in a warning. Transcripts must be UTF-8 (an
error names any other file); two audio files of one name but different
extensions in one folder (``a.wav``, ``a.flac``) are refused, naming both.
The validation split holds out whole speakers in every corpus with at
least three known speakers, random utterances elsewhere.

``exclude`` keeps evaluation speech out of pretraining: shell-style patterns
matched against utterance ids (the path relative to ``data_folder`` without
extension, e.g. ``emodb/wav/03a01Fa``), relative file paths, file names and
speaker ids (``<corpus>/<speaker>``: ``emodb/03``, ``urdu/M1``,
``fsdd/jackson``, ``librispeech/19``); an item ``@FILE`` reads one pattern
per line from FILE.

Example
-------
>>> import json, os, tempfile
>>> root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../tests/samples")
>>> out = tempfile.mkdtemp()
>>> info = prepare_pretraining(root, out, exclude=["fsdd/george"], valid_ratio=0.0)
>>> info["counts"]["train"], info["counts"]["excluded"]
(34, 7)
>>> entry = json.load(open(os.path.join(out, "train.json")))["ljspeech/wavs/LJ001-0002"]
>>> entry["wav"], entry["speaker"], entry["text"]
('{data_root}/ljspeech/wavs/LJ001-0002.flac', 'ljspeech/ljspeech', 'in being comparatively modern.')

Authors
 * CARE for SpeechBrain contributors, 2026
"""

import csv
import fnmatch
import io
import json
import os
import random
import re
from collections import Counter, defaultdict

from speechbrain.utils.logger import get_logger

from care.io import write_json
from care.processing.audio import AudioError, audio_info
from care.processing.manifest import PREPARE_FILE
from care.processing.preparation import files_fingerprint, skip_preparation, write_record
from care.recipe import InputError

logger = get_logger(__name__)

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3", ".opus", ".aiff", ".aif")
OPTIONS_VERSION = 1

EMODB_FILE = re.compile(r"^(\d\d)([ab]\d\d)([WLEAFTN])[a-z]\.wav$", re.IGNORECASE)
EMODB_SENTENCES = {
    "a01": "Der Lappen liegt auf dem Eisschrank.",
    "a02": "Das will sie am Mittwoch abgeben.",
    "a04": "Heute abend könnte ich es ihm sagen.",
    "a05": "Das schwarze Stück Papier befindet sich da oben neben dem Holzstück.",
    "a07": "In sieben Stunden wird es soweit sein.",
    "b01": "Was sind denn das für Tüten, die da unter dem Tisch stehen?",
    "b02": "Sie haben es gerade hochgetragen und jetzt gehen sie wieder runter.",
    "b03": "An den Wochenenden bin ich jetzt immer nach Hause gefahren und habe Agnes besucht.",
    "b09": "Ich will das eben wegbringen und dann mit Karl was trinken gehen.",
    "b10": "Die wird auf dem Platz sein, wo wir sie immer hinlegen.",
}
URDU_FILE = re.compile(r"^S([MF]\d+)_F\d+_[AHNS]\d+\.\w+$", re.IGNORECASE)
FSDD_FILE = re.compile(r"^(\d)_([a-z]+)_\d+\.wav$", re.IGNORECASE)
DIGITS = "zero one two three four five six seven eight nine".split()
EMOSPEECH_FILE = re.compile(
    r"^([a-z]+)-([a-z ]+)-([a-z]+)-([^-]+)-([0-9a-f]{32,})\.wav$", re.IGNORECASE
)
EMOSPEECH_UNKNOWN_SPEAKER = "d14a028c2a3a2bc9476102bb288234c415a2b01f828ea62ac5b3e42f"
EMOSPEECH_NO_TEXT = {"unknown"}  # a word outside the keyword list: no transcript
HINDI_GENDERS = {"M", "F", "F/M", "M/F"}  # the optional second field of the Hindi corpus's text.txt
NO_SPEECH = "no speech"  # skip reason of files that hold no speech (keyword corpus background)
NOT_UTF8 = "file name not UTF-8"  # skip reason: manifests are UTF-8 JSON


def prepare_pretraining(
    data_folder,
    save_folder,
    exclude=(),
    min_duration=0.1,
    valid_ratio=0.05,
    seed=1986,
):
    """Writes ``train.json``, ``valid.json`` and ``prepare.json`` in
    ``save_folder``; skips the work when they exist and neither the options
    nor the files under ``data_folder`` changed.

    Arguments
    ---------
    data_folder : str
        Root holding one or more corpora.
    save_folder : str
        Where the manifests go.
    exclude : list of str
        Patterns of utterances, files or speakers never to use (see module
        docstring), e.g. the test speakers of a probing recipe.
    min_duration : float
        Shorter files are skipped (seconds). The encoder needs 0.025 s.
    valid_ratio : float
        Fraction of speakers (or utterances where speakers are unknown) held
        out for validation, per corpus.
    seed : int
        Seed of the validation draw.

    Returns
    -------
    dict
        The content of ``prepare.json``.
    """
    data_folder = os.path.abspath(data_folder)
    if not os.path.isdir(data_folder):
        raise InputError(f"data_folder {data_folder} does not exist (or is not a folder)")
    patterns = _read_patterns(exclude)
    options = {
        "version": OPTIONS_VERSION,
        "data_folder": data_folder,
        "exclude": patterns,
        "min_duration": min_duration,
        "valid_ratio": valid_ratio,
        "seed": seed,
    }
    unreadable = []  # folders os.walk could not list
    fingerprint = _fingerprint(data_folder, unreadable)
    info_path = os.path.join(save_folder, PREPARE_FILE)
    names = ("train.json", "valid.json")
    outputs = [os.path.join(save_folder, name) for name in names]
    if skip_preparation(save_folder, options, files_key=fingerprint, outputs=names):
        with open(info_path, encoding="utf-8") as fin:
            return json.load(fin)
    if os.path.exists(info_path):  # from here on the manifests are not up to date
        os.remove(info_path)

    aliases, bad_names = [], []
    candidates = _find_utterances(data_folder, unreadable, aliases, bad_names)
    if not candidates and not bad_names:
        raise InputError(f"no audio files found under {data_folder}")
    entries, skipped, excluded = {}, defaultdict(list), []
    for error in unreadable:
        skipped["unreadable folder"].append(f"{error.filename} ({error.strerror})")
    if bad_names:
        skipped[NOT_UTF8] = bad_names
        logger.warning(
            "Skipped %d audio file(s) whose name is not UTF-8 (rename them to use them): %s",
            len(bad_names), ", ".join(bad_names),
        )
    keys = {utt_id: _names(utt_id, entry["path"], aliases) for utt_id, entry in candidates.items()}
    for utt_id, entry in sorted(candidates.items()):
        rel_path = entry.pop("path")
        if _excluded(patterns, keys[utt_id], entry["speaker"]):
            excluded.append(utt_id)
            continue
        reason = entry.pop("skip", None)
        if reason:
            skipped[reason].append(rel_path)
            continue
        try:
            frames, rate, _ = audio_info(os.path.join(data_folder, rel_path))
        except AudioError as error:
            skipped["unreadable"].append(f"{rel_path} ({error})")
            continue
        if frames == 0:
            skipped["empty"].append(rel_path)
            continue
        duration = frames / rate
        if duration < min_duration:
            skipped["too short"].append(rel_path)
            continue
        entries[utt_id] = {"wav": "{data_root}/" + rel_path, "duration": round(duration, 4), **entry}
    used = [p for p in patterns if any(_matches(p, keys[i], e["speaker"]) for i, e in candidates.items())]
    if not entries:
        if excluded and len(excluded) == len(candidates) and not bad_names:
            raise InputError(
                f"every one of the {len(excluded)} audio files under {data_folder} is excluded "
                f"by the exclude patterns {', '.join(used)}; nothing is left to pretrain on"
            )
        reasons = [f"{len(excluded)} excluded by the exclude patterns {', '.join(used)}"] * bool(excluded)
        raise InputError(
            f"no usable audio under {data_folder} "
            f"({'; '.join(reasons + [f'skipped: {_counts(skipped)}'] * bool(skipped))})"
        )
    unused = [p for p in patterns if p not in used]
    if unused:
        logger.warning("exclude patterns that matched nothing: %s", ", ".join(unused))

    train, valid, valid_by = _split(entries, valid_ratio, seed)
    write_json(outputs[0], train)
    write_json(outputs[1], valid)
    per_corpus = Counter(e["corpus"] for e in entries.values())
    info = {
        "options": options,
        "fingerprint": fingerprint,
        "counts": {
            "train": len(train),
            "valid": len(valid),
            "excluded": len(excluded),
            "skipped": sum(len(v) for v in skipped.values()),
            "with_text": sum(e["text"] is not None for e in entries.values()),
        },
        "hours": {
            "train": round(sum(e["duration"] for e in train.values()) / 3600, 3),
            "valid": round(sum(e["duration"] for e in valid.values()) / 3600, 3),
        },
        "corpora": dict(sorted(per_corpus.items())),
        "valid_split": valid_by,
        "excluded": excluded,
        "skipped": {reason: files for reason, files in sorted(skipped.items())},
    }
    info = write_record(save_folder, info, names)  # last: it marks the manifests complete
    if skipped.get("unreadable folder"):
        logger.warning("Folders that could not be read: %s", "; ".join(skipped["unreadable folder"]))
    logger.info(
        "Pretraining manifests: %d train / %d valid utterances (%.2f h / %.2f h), "
        "%d with transcripts, corpora %s; excluded %d; skipped %d (%s)",
        len(train), len(valid), info["hours"]["train"], info["hours"]["valid"],
        info["counts"]["with_text"], dict(per_corpus), len(excluded),
        info["counts"]["skipped"], _counts(skipped) or "none",
    )
    return info


def _find_utterances(data_folder, unreadable, aliases, bad_names):
    """``{id: {path, speaker, corpus, text}}`` for every audio file; folders
    that cannot be listed are appended to ``unreadable`` (``OSError``), the
    second names of folders to ``aliases`` (see :func:`_walk`), and audio
    files whose path is not UTF-8 (named by their bytes) to ``bad_names``."""
    found = {}
    for root, dirs, files in _walk(data_folder, unreadable, aliases):
        audio = sorted(f for f in files if f.lower().endswith(AUDIO_EXTENSIONS))
        rel_root = os.path.relpath(root, data_folder)
        rel_root = "" if rel_root == "." else rel_root + "/"
        for name in [f for f in audio if not _is_utf8(rel_root + f)]:
            bad_names.append(repr(os.fsencode(rel_root + name)))
            audio.remove(name)
        if not audio:
            continue
        for name, described in _describe(root, audio).items():
            rel_path = rel_root + name
            utt_id = os.path.splitext(rel_path)[0]
            if utt_id in found:
                raise InputError(
                    f"{os.path.join(data_folder, found[utt_id]['path'])} and "
                    f"{os.path.join(data_folder, rel_path)}: two files of one utterance id "
                    f"{utt_id}; remove or rename one of them"
                )
            speaker, corpus, text, *skip = described  # skip: the reason a file is not used
            found[utt_id] = {"path": rel_path, "speaker": speaker, "corpus": corpus, "text": text}
            if skip:
                found[utt_id]["skip"] = skip[0]
    return found


def _is_utf8(name):
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:  # os.walk's surrogate escapes of undecodable bytes
        return False
    return True


def _walk(data_folder, unreadable, aliases=None):
    """``os.walk`` in sorted order that follows links to folders, each real
    folder once (a link cycle ends there); folders that cannot be listed are
    appended to ``unreadable``, and a folder met again under another name
    ``(first name, other name)`` (relative to ``data_folder``) to
    ``aliases``."""
    first_name = {}
    for root, dirs, files in os.walk(data_folder, onerror=_record(unreadable), followlinks=True):
        real = os.path.realpath(root)
        if real in first_name:
            if aliases is not None:
                aliases.append((first_name[real], os.path.relpath(root, data_folder)))
            dirs[:] = []
            continue
        first_name[real] = os.path.relpath(root, data_folder)
        dirs.sort()
        yield root, dirs, files


def _record(errors):
    """An ``os.walk`` ``onerror`` that keeps the errors, without duplicates."""

    def onerror(error):
        if error.filename not in {e.filename for e in errors}:
            errors.append(error)

    return onerror


def _describe(root, audio):
    """``{file name: (speaker, corpus, text[, skip reason])}`` for the audio
    files of one folder."""
    parent = os.path.dirname(root)
    trans = [f for f in os.listdir(root) if f.endswith(".trans.txt")]
    if trans:  # LibriSpeech chapter folder
        texts = {}
        for name in trans:
            texts.update(_read_pairs(os.path.join(root, name), sep=" "))
        return {
            f: (f"librispeech/{f.split('-')[0]}", "librispeech", texts.get(_stem(f)))
            for f in audio
        }
    if os.path.basename(root) == "wavs" and os.path.isfile(os.path.join(parent, "metadata.csv")):
        texts = _read_ljspeech(os.path.join(parent, "metadata.csv"))
        speaker = f"ljspeech/{os.path.basename(parent)}"  # one speaker per corpus folder
        return {f: (speaker, "ljspeech", texts.get(_stem(f))) for f in audio}
    if os.path.basename(root) == "Audios" and (
        os.path.isdir(os.path.join(parent, "Transcripts"))
        or os.path.isdir(os.path.join(parent, "Labels"))
    ):
        return _describe_msp_podcast(parent, audio)
    if _is_hindi_corpus(parent):
        return _describe_hindi(root, audio)
    described = {}
    for f in audio:
        if match := EMODB_FILE.match(f):
            described[f] = (f"emodb/{match[1]}", "emodb", EMODB_SENTENCES.get(match[2].lower()))
        elif match := URDU_FILE.match(f):
            described[f] = (f"urdu/{match[1].upper()}", "urdu", None)
        elif match := FSDD_FILE.match(f):
            described[f] = (f"fsdd/{match[2].lower()}", "fsdd", DIGITS[int(match[1])])
        elif match := EMOSPEECH_FILE.match(f):
            described[f] = _describe_emospeech(match)
    generic = [f for f in audio if f not in described]
    if generic:
        described.update(_describe_generic(root, generic))
    return described


def _describe_emospeech(match):
    """``(speaker, corpus, text[, NO_SPEECH])`` of an Indian EmoSpeech Command
    file name; the keyword is the transcript."""
    keyword, speaker_hash = match[1].lower(), match[5].lower()
    speaker = None if speaker_hash == EMOSPEECH_UNKNOWN_SPEAKER else f"emospeech/{speaker_hash[:12]}"
    if keyword == "background":
        return speaker, "emospeech", None, NO_SPEECH
    return speaker, "emospeech", None if keyword in EMOSPEECH_NO_TEXT else keyword


def _is_hindi_corpus(data_root):
    """A Hindi speech corpus folder: ``data/`` beside ``text.txt`` and
    ``speaker_to_gender.txt``."""
    corpus_root = os.path.dirname(data_root)
    return os.path.basename(data_root) == "data" and all(
        os.path.isfile(os.path.join(corpus_root, name)) for name in ("text.txt", "speaker_to_gender.txt")
    )


def _describe_hindi(root, audio):
    """Files of one speaker folder of the Hindi speech corpus. Transcripts from
    the corpus's ``text.txt`` (``<id> <gender> <text>``), then, for the ids it
    lacks, from the speaker folder's own ``text.txt`` (gender optional); the
    corpus transcribes about half of its files."""
    texts = {}
    for path in (os.path.join(root, "text.txt"), os.path.join(os.path.dirname(os.path.dirname(root)), "text.txt")):
        if os.path.isfile(path):
            texts.update(_read_hindi_text(path))  # the corpus file last: it wins
    speaker = f"hindi/{os.path.basename(root)}"
    return {f: (speaker, "hindi", texts.get(_stem(f))) for f in audio}


def _read_hindi_text(path):
    texts = {}
    for line_number, line in enumerate(_read_utf8(path).splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        if fields[1:2] and fields[1].upper() in HINDI_GENDERS:
            fields = fields[:1] + fields[2:]
        if len(fields) < 2:
            raise InputError(f"{path}:{line_number}: expected '<id> [gender] <text>'")
        texts[fields[0]] = " ".join(fields[1:])
    return texts


def _describe_msp_podcast(msp_root, audio):
    speakers = {}
    labels = os.path.join(msp_root, "Labels", "labels_consensus.csv")
    if os.path.isfile(labels):
        for row in csv.DictReader(io.StringIO(_read_utf8(labels), newline="")):
            speaker = (row.get("SpkrID") or "").strip()
            if speaker and speaker.lower() != "unknown":
                speakers[_stem(row["FileName"])] = f"msp-podcast/{speaker}"
    described = {}
    for f in audio:
        text = _read_text(os.path.join(msp_root, "Transcripts", _stem(f) + ".txt"))
        described[f] = (speakers.get(_stem(f)), "msp-podcast", text)
    return described


def _describe_generic(root, audio):
    table = {}
    csv_path = os.path.join(root, "transcripts.csv")
    if os.path.isfile(csv_path):
        reader = csv.DictReader(io.StringIO(_read_utf8(csv_path), newline=""))
        if not {"file", "text"} <= set(reader.fieldnames or ()):
            raise InputError(f"{csv_path}: needs columns 'file' and 'text' (optionally 'speaker')")
        for row in reader:
            table[row["file"]] = row
    described = {}
    for f in audio:
        row = table.get(f) or table.get(_stem(f)) or {}
        text = row.get("text") or _read_text(os.path.join(root, _stem(f) + ".txt"))
        speaker = row.get("speaker") or None
        described[f] = (f"audio/{speaker}" if speaker else None, "audio", text)
    return described


def _read_utf8(path):
    """The text of a transcript file; an error names a file that is not UTF-8."""
    with open(path, "rb") as fin:
        raw = fin.read()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise InputError(
            f"{path}, line {line}: not UTF-8 ({error.reason} at byte {error.start}); "
            f"convert it, e.g. iconv -f latin1 -t utf-8"
        ) from None


def _read_ljspeech(path):
    texts = {}
    for line_number, line in enumerate(_read_utf8(path).splitlines(), 1):
        fields = line.split("|")
        if len(fields) < 2:
            raise InputError(f"{path}:{line_number}: expected 'id|text|normalised text'")
        texts[fields[0]] = (fields[2] if len(fields) > 2 and fields[2] else fields[1]).strip()
    return texts


def _read_pairs(path, sep):
    pairs = {}
    for line in _read_utf8(path).splitlines():
        if line.strip():
            key, _, value = line.strip().partition(sep)
            pairs[key] = value.strip().lower() or None
    return pairs


def _read_text(path):
    if not os.path.isfile(path):
        return None
    return " ".join(_read_utf8(path).split()) or None


def _stem(name):
    return os.path.splitext(name)[0]


def _read_patterns(exclude):
    patterns = []
    for item in exclude or ():
        if item.startswith("@"):
            try:
                with open(item[1:], encoding="utf-8") as fin:
                    lines = fin.read().splitlines()
            except (OSError, UnicodeDecodeError) as error:
                reason = getattr(error, "strerror", None) or str(error)
                raise InputError(f"exclude: cannot read the pattern file {item[1:]} ({reason})") from None
            patterns += [line.strip() for line in lines if line.strip() and not line.startswith("#")]
        else:
            patterns.append(item)
    return patterns


def _names(utt_id, rel_path, aliases):
    """The names exclusion patterns match for one file: its id, its path and
    file name, and the same under every other name of a folder above it."""
    paths = {rel_path}
    for _ in range(len(aliases)):  # each round may substitute one more folder
        more = {
            other + path[len(first) :]
            for path in paths
            for first, other in aliases
            if first != "." and path.startswith(first + "/") and not other.startswith(first + "/")
        }
        if more <= paths:
            break
        paths |= more
    names = {os.path.basename(rel_path), utt_id}
    for path in paths:
        names.update((path, os.path.splitext(path)[0]))
    return sorted(names)


def _matches(pattern, names, speaker):
    return any(fnmatch.fnmatchcase(name, pattern) for name in names + ([speaker] if speaker else []))


def _excluded(patterns, names, speaker):
    return any(_matches(p, names, speaker) for p in patterns)


def _split(entries, valid_ratio, seed):
    """Per corpus: whole speakers to valid when >= 3 are known, else utterances."""
    rng = random.Random(seed)
    by_corpus = defaultdict(list)
    for utt_id in sorted(entries):
        by_corpus[entries[utt_id]["corpus"]].append(utt_id)
    valid_ids, how = set(), {}
    for corpus, ids in sorted(by_corpus.items()):
        speakers = sorted({entries[i]["speaker"] for i in ids if entries[i]["speaker"]})
        if valid_ratio <= 0:
            how[corpus] = "none"
        elif len(speakers) >= 3:
            held = rng.sample(speakers, max(1, round(valid_ratio * len(speakers))))
            valid_ids.update(i for i in ids if entries[i]["speaker"] in held)
            how[corpus] = {"by": "speaker", "speakers": sorted(held)}
        else:
            count = max(1, round(valid_ratio * len(ids))) if len(ids) > 1 else 0
            valid_ids.update(rng.sample(ids, count))
            how[corpus] = {"by": "utterance", "utterances": count}
    train = {i: e for i, e in entries.items() if i not in valid_ids}
    valid = {i: e for i, e in entries.items() if i in valid_ids}
    return train, valid, how


def _fingerprint(data_folder, unreadable):
    """:func:`care.processing.preparation.files_fingerprint` of every file under
    ``data_folder`` (of a broken link: the link's own) and of the folders
    that could not be read (appended to ``unreadable``)."""
    paths = []
    for root, dirs, files in _walk(data_folder, unreadable):
        paths += [os.path.join(root, name) for name in files]
    return files_fingerprint(paths, data_folder, extra=[e.filename for e in unreadable] or None)


def _counts(skipped):
    return ", ".join(f"{len(files)} {reason}" for reason, files in sorted(skipped.items()))


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data_folder")
    parser.add_argument("save_folder")
    parser.add_argument("--exclude", nargs="*", default=[])
    parser.add_argument("--min_duration", type=float, default=0.1)
    parser.add_argument("--valid_ratio", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=1986)
    args = parser.parse_args()
    prepare_pretraining(**vars(args))
