"""EmoBox's fold files (``emo-box/EmoBox``, Interspeech 2024) as a probing
protocol, and the EmoBox-style folds rebuilt from its rules.

EmoBox ships, per dataset, ``data/<dataset>/label_map.json`` and
``data/<dataset>/fold_<k>/<dataset>_<split>_fold_<k>.jsonl`` (``.json`` too)
with ``split`` in ``train``, ``test`` and, for corpora with an official
development set (MSP-Podcast), ``valid``. A ``.jsonl`` line is::

    {"key": "emodb-03a01Fa", "dataset": "emodb",
     "wav": "downloads/emodb/wav/03a01Fa.wav", "length": 1.9, "emo": "happy",
     "channel": 1, ...}

and a ``.json`` file maps the key to the same record. ``label_map.json`` maps
``emo`` to EmoBox's class name (``"A": "Angry"``); it has known slips that
are tolerated here: keys whose case differs from the records (``"Neutral"``
for records saying ``"neutral"``) and misspelt classes (``"boredem"``).

We never ship or download these files: the user passes the folder
(``--emobox_folds DIR``: EmoBox's ``data`` folder, or ``data/<dataset>``).
Every record is mapped onto our manifest (by relative audio path, then by
utterance id, then by file stem); the first record that matches nothing
stops the run with an error naming it. Our manifest's labels are used for
training, after checking that EmoBox's label agrees with ours.

Model selection stays on validation data only: EmoBox's own ``valid`` file
where it has one, else a part of the training fold, chosen as whole speakers
absent from the test fold when the training fold has such speakers, else
(EmoBox folds that put every speaker in every test fold, as EmoDB's) a
label-stratified random part. The test fold is scored once.

Example
-------
>>> label_map = normalise_label_map({"anger": "Angry", "Neutral": "Neutral"})
>>> emobox_label("neutral", label_map, "x.jsonl")
'Neutral'
>>> same_label("Angry", "anger"), same_label("Happy", "sadness")
(True, False)

Authors
 * CARE for SpeechBrain contributors, 2026
"""

import csv
import hashlib
import json
import os
import random
import re
from collections import Counter, defaultdict

from speechbrain.utils.logger import get_logger

from care.io import write_json, write_text
from care.processing.folds import shared_test_speakers
from care.processing.manifest import DATA_ROOT, ManifestError
from care.recipe import InputError

logger = get_logger(__name__)

SPLITS = ("train", "valid", "test")
FOLD_FILE = re.compile(r"^(?P<dataset>.+?)_(?P<split>train|valid|test)_fold_?(?P<fold>\d+)\.(?P<ext>jsonl|json)$")
# MSP-Podcast's "no agreement" (X) and "other" (O) classes
DEFAULT_EXCLUDE = ("no-agreement", "other")
# Spellings of one emotion across EmoBox's label maps and our manifests
SYNONYMS = {
    "angry": "anger", "ang": "anger", "happy": "happiness", "hap": "happiness",
    "joy": "happiness", "sad": "sadness", "sadness": "sadness", "neu": "neutral",
    "boredem": "boredom", "bored": "boredom", "fearful": "fear", "surprised": "surprise",
    "sur": "surprise", "disgusted": "disgust", "dis": "disgust", "fea": "fear",
    "noagreement": "no-agreement", "no_agreement": "no-agreement",
}


class EmoBoxError(ManifestError):
    """EmoBox fold files that cannot be read or mapped onto our manifest."""


# ---------------------------------------------------------------------------
# Reading EmoBox's files


def canonical(label):
    """Lower-case label with EmoBox's and our spellings of an emotion merged."""
    text = str(label).strip().lower().replace(" ", "")
    return SYNONYMS.get(text, text)


def same_label(emobox, ours):
    """True when an EmoBox class name and our label name the same emotion."""
    return canonical(emobox) == canonical(ours)


def normalise_label_map(raw, source="label_map.json"):
    """``{stripped lower-case emo: EmoBox class}``; raises when two keys that
    differ only in case map to different classes."""
    out = {}
    for key, value in raw.items():
        norm = str(key).strip().lower()
        if norm in out and out[norm] != value:
            raise EmoBoxError(f"{source}: {key!r} maps to {value!r} and {out[norm]!r}")
        out[norm] = value
    return out


def emobox_label(emo, label_map, source):
    """EmoBox's class of a record's ``emo`` (case-insensitive; an ``emo``
    absent from the map is an error naming ``source``)."""
    norm = str(emo).strip().lower()
    if label_map is None:
        return str(emo)
    if norm not in label_map:
        raise EmoBoxError(f"{source}: label {emo!r} is not in label_map.json ({sorted(label_map)})")
    return label_map[norm]


def read_records(path):
    """The records of one fold file (``.jsonl``: one per line; ``.json``: a
    dict keyed by ``key``, or a list); each has ``key``, ``wav`` and ``emo``."""
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    if path.endswith(".jsonl"):
        records = []
        for number, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError as error:
                    raise EmoBoxError(f"{path}, line {number}: not JSON ({error})") from None
    else:
        loaded = json.loads(text)
        records = (
            [dict(value, key=value.get("key", key)) for key, value in loaded.items()]
            if isinstance(loaded, dict) else loaded
        )
    for record in records:
        missing = [f for f in ("key", "wav", "emo") if f not in record]
        if missing:
            raise EmoBoxError(f"{path}: record {record.get('key', record)} lacks {missing}")
    return records


def dataset_folder(folds_dir, dataset):
    """``folds_dir/<dataset>`` when it exists (EmoBox's ``data`` folder was
    given), else ``folds_dir`` itself (``data/<dataset>`` was given)."""
    if not folds_dir or not os.path.isdir(folds_dir):
        raise EmoBoxError(f"EmoBox fold folder {folds_dir!r} not found (pass --emobox_folds DIR)")
    nested = os.path.join(folds_dir, dataset)
    return nested if os.path.isdir(nested) else folds_dir


def find_fold_files(folder, dataset):
    """``{fold number: {split: path}}`` of ``folder/fold_<k>/`` (``.jsonl``
    preferred over ``.json``); raises naming the folder when a fold lacks
    its train or test file or when there is none."""
    folds = defaultdict(dict)
    for sub in sorted(os.listdir(folder)):
        path = os.path.join(folder, sub)
        if not (os.path.isdir(path) and re.fullmatch(r"fold_?\d+", sub)):
            continue
        for name in sorted(os.listdir(path)):
            match = FOLD_FILE.match(name)
            if match is None or match["dataset"] != dataset:
                continue
            fold, split = int(match["fold"]), match["split"]
            if split not in folds[fold] or name.endswith(".jsonl"):
                folds[fold][split] = os.path.join(path, name)
    if not folds:
        raise EmoBoxError(
            f"{folder}: no EmoBox fold files for {dataset!r} "
            f"(expected fold_<k>/{dataset}_<train|valid|test>_fold_<k>.jsonl)"
        )
    for fold, files in folds.items():
        for split in ("train", "test"):
            if split not in files:
                raise EmoBoxError(f"{folder}/fold_{fold}: no {dataset}_{split}_fold_{fold} file")
    return dict(sorted(folds.items()))


def read_label_map(folder):
    """``label_map.json`` of ``folder`` (normalised), or None when absent."""
    path = os.path.join(folder, "label_map.json")
    if not os.path.isfile(path):
        logger.warning(f"{folder}: no label_map.json; EmoBox labels taken as they are")
        return None
    with open(path, encoding="utf-8") as handle:
        return normalise_label_map(json.load(handle), path)


# ---------------------------------------------------------------------------
# Mapping onto our manifest


class _Matcher:
    """Finds our utterance id for an EmoBox record: relative audio path,
    utterance id (the key without ``<dataset>-``), then unique file stem."""

    def __init__(self, data, dataset):
        self.data, self.dataset = data, dataset
        self.by_path, stems = {}, defaultdict(list)
        for utt, entry in data.items():
            rel = entry["wav"].replace(DATA_ROOT + "/", "", 1)
            self.by_path[rel] = utt
            stems[os.path.splitext(os.path.basename(rel))[0]].append(utt)
            stems[utt].append(utt)
        self.by_stem = {s: set(u) for s, u in stems.items()}

    def __call__(self, record):
        wav = record["wav"].replace("\\", "/")
        prefix = f"downloads/{self.dataset}/"
        rel = wav[len(prefix):] if wav.startswith(prefix) else wav
        if rel in self.by_path:
            return self.by_path[rel]
        for suffix_len in range(1, rel.count("/") + 1):  # a corpus root one level apart
            tail = rel.split("/", suffix_len)[-1]
            if tail in self.by_path:
                return self.by_path[tail]
        key = str(record["key"])
        key = key[len(self.dataset) + 1:] if key.startswith(self.dataset + "-") else key
        if key in self.data:
            return key
        stem = os.path.splitext(os.path.basename(wav))[0]
        for name in (stem, key):
            found = self.by_stem.get(name, set())
            if len(found) == 1:
                return next(iter(found))
            if len(found) > 1:
                raise EmoBoxError(
                    f"EmoBox id {record['key']} ({record['wav']}) matches several utterances "
                    f"of our manifest: {sorted(found)[:5]}"
                )
        return None


def read_emobox_folds(data, folds_dir, dataset, exclude=DEFAULT_EXCLUDE):
    """Reads EmoBox's folds of ``dataset`` and maps them onto ``data``.

    Arguments
    ---------
    data : dict
        Our manifest (``care.processing.manifest``).
    folds_dir : str
        EmoBox's ``data`` folder, or its ``data/<dataset>`` folder.
    dataset : str
        EmoBox's name of the corpus (``emodb``, ``urdu``, ``msppodcast``, ...).
    exclude : iterable of str
        EmoBox classes left out (case-insensitive; default MSP-Podcast's
        ``No-agreement`` and ``Other``); ``[]`` keeps everything.

    Returns
    -------
    folds : dict
        ``{"fold_<k>": {"train": [ids], "test": [ids], "valid": [ids] or None}}``.
    info : dict
        ``folder``, ``label_set`` (EmoBox classes used), ``excluded``
        (counts per class left out), ``files`` (fingerprint of the files read).
    """
    if not dataset:
        raise EmoBoxError("this corpus has no EmoBox folds (emobox_dataset is null)")
    folder = dataset_folder(folds_dir, dataset)
    label_map = read_label_map(folder)
    skip = {canonical(e) for e in exclude or ()}
    matcher = _Matcher(data, dataset)
    folds, used, excluded = {}, set(), Counter()
    digest = hashlib.sha256()
    for number, files in find_fold_files(folder, dataset).items():
        fold = {"valid": None}
        for split in [s for s in SPLITS if s in files]:
            path, ids = files[split], []
            for record in read_records(path):
                label = emobox_label(record["emo"], label_map, path)
                if canonical(label) in skip:
                    excluded[label] += 1
                    continue
                utt = matcher(record)
                if utt is None:
                    raise EmoBoxError(
                        f"{path}: EmoBox id {record['key']} ({record['wav']}) matches no "
                        f"utterance of our manifest ({len(data)} utterances); is the corpus "
                        "complete and prepared with all classes?"
                    )
                if not same_label(label, data[utt]["label"]):
                    raise EmoBoxError(
                        f"{path}: EmoBox id {record['key']} is {label!r} there and "
                        f"{data[utt]['label']!r} in our manifest ({utt})"
                    )
                ids.append(utt)
                used.add(label)
                digest.update(f"{number}\0{split}\0{utt}\n".encode())
            fold[split] = ids
        _check_disjoint(fold, folder, number)
        folds[f"fold_{number}"] = fold
    info = {
        "folder": os.path.abspath(folder),
        "dataset": dataset,
        "label_set": sorted(used),
        "excluded": dict(sorted(excluded.items())),
        "files": digest.hexdigest()[:16],
    }
    logger.info(
        f"EmoBox folds of {dataset} from {folder}: {len(folds)} folds, classes {info['label_set']}"
        + (f", excluded {info['excluded']}" if excluded else "")
    )
    return folds, info


def _check_disjoint(fold, folder, number):
    for first, second in (("train", "test"), ("train", "valid"), ("valid", "test")):
        shared = set(fold[first] or ()) & set(fold[second] or ())
        if shared:
            raise EmoBoxError(
                f"{folder}/fold_{number}: {len(shared)} utterances in both {first} and "
                f"{second}, e.g. {sorted(shared)[:3]}"
            )


def validation_part(data, train, test, fraction, seed):
    """Splits the training ids into (train, valid) for model selection.

    Whole speakers absent from the test fold are held out (largest
    speaker-disjoint validation set first, in a seeded order) until they hold
    ``fraction`` of the training utterances; when every training speaker is
    also a test speaker, a label-stratified random ``fraction`` is held out.

    Returns
    -------
    (list, list, str)
        Training ids, validation ids, how the validation part was chosen.
    """
    test_speakers = {data[u]["speaker"] for u in test}
    by_speaker = defaultdict(list)
    for utt in sorted(train):
        by_speaker[data[utt]["speaker"]].append(utt)
    free = sorted(s for s in by_speaker if s not in test_speakers and s not in ("Unknown", ""))
    rng = random.Random(seed)
    target = max(1, round(fraction * len(train)))
    if free:
        rng.shuffle(free)
        valid = []
        for speaker in free:
            if len(valid) >= target:
                break
            valid += by_speaker[speaker]
        if len(valid) < len(train):
            chosen = {data[u]["speaker"] for u in valid}
            return ([u for u in sorted(train) if data[u]["speaker"] not in chosen], sorted(valid),
                    f"{len(chosen)} training speakers absent from the test fold")
    by_label = defaultdict(list)
    for utt in sorted(train):
        by_label[data[utt]["label"]].append(utt)
    valid = []
    for label in sorted(by_label):
        items = by_label[label]
        rng.shuffle(items)
        valid += items[: max(1, round(fraction * len(items)))] if len(items) > 1 else []
    held = set(valid)
    return ([u for u in sorted(train) if u not in held], sorted(valid),
            f"label-stratified random {fraction:.0%} of the training fold (every training "
            "speaker is also a test speaker: not speaker-disjoint)")


def emobox_splits(data, folds_dir, dataset, exclude=DEFAULT_EXCLUDE, valid_fraction=0.2,
                  seed=0, folds=None):
    """``(splits, info)``: ``splits`` is a list of ``(fold, train, valid,
    test)`` manifest subsets like :func:`care.processing.folds.fold_splits`
    yields; ``info`` (see :func:`read_emobox_folds`) adds per fold the
    speaker overlap and how validation was chosen. The number of test
    speakers also in training is logged per fold."""
    emobox, info = read_emobox_folds(data, folds_dir, dataset, exclude)
    names = list(emobox)
    splits, info["folds"] = [], {}
    for name in [str(f) for f in folds] if folds else names:
        if name not in emobox:
            raise EmoBoxError(f"unknown EmoBox fold {name!r}; folds are {names}")
        fold = emobox[name]
        if fold["valid"]:
            train, valid, how = fold["train"], fold["valid"], "EmoBox's valid file"
        else:
            train, valid, how = validation_part(data, fold["train"], fold["test"], valid_fraction, seed)
        overlap = shared_test_speakers(data, list(train) + list(valid), fold["test"])
        logger.info(
            f"EmoBox {dataset} {name}: {overlap['also_in_training']} of "
            f"{overlap['test_speakers']} test speakers also appear in training; "
            f"validation: {how}"
        )
        info["folds"][name] = {
            "sizes": {"train": len(train), "valid": len(valid), "test": len(fold["test"])},
            "test_speakers": overlap["test_speakers"],
            "test_speakers_in_training": overlap["also_in_training"],
            "validation": how,
        }
        subset = lambda ids: {u: data[u] for u in ids}  # noqa: E731
        splits.append((name, subset(train), subset(valid), subset(fold["test"])))
    shared = sum(f["test_speakers_in_training"] for f in info["folds"].values())
    info["speaker_independent"] = shared == 0
    return splits, info


# ---------------------------------------------------------------------------
# EmoBox-style folds rebuilt from EmoBox's rules


def write_emobox_style_folds(data, out_dir, dataset, num_folds=5, test_fraction=None, seed=12):
    """Writes fold files laid out exactly like EmoBox's from our manifest,
    following EmoBox's rules for corpora whose EmoBox split ignores speakers:
    label-stratified folds with the same class balance in every fold,
    speakers ignored (EmoDB: ``num_folds=5``), or one label-stratified random
    split (URDU: ``test_fraction=0.25``).

    Arguments
    ---------
    data : dict
        Our manifest.
    out_dir : str
        Receives ``<dataset>/label_map.json`` and ``<dataset>/fold_<k>/...``.
    dataset : str
        EmoBox's name of the corpus.
    num_folds : int
        Stratified folds (ignored when ``test_fraction`` is given).
    test_fraction : float, optional
        One stratified split with this share of test utterances.
    seed : int
        Shuffling seed.

    Returns
    -------
    str
        ``out_dir/<dataset>``.
    """
    import numpy as np
    from sklearn.model_selection import StratifiedKFold, train_test_split

    ids = sorted(data)
    labels = [data[u]["label"] for u in ids]
    if test_fraction is not None:
        train, test = train_test_split(ids, test_size=test_fraction, stratify=labels, random_state=seed)
        parts = [(sorted(train), sorted(test))]
    else:
        splitter = StratifiedKFold(n_splits=num_folds, shuffle=True, random_state=seed)
        parts = [([ids[i] for i in a], [ids[i] for i in b])
                 for a, b in splitter.split(np.zeros(len(ids)), labels)]
    folder = os.path.join(out_dir, dataset)

    def record(utt):
        rel = data[utt]["wav"].replace(DATA_ROOT + "/", "", 1)
        return {"key": f"{dataset}-{utt}", "dataset": dataset, "wav": f"downloads/{dataset}/{rel}",
                "type": "raw", "task": "category", "length": data[utt]["duration"],
                "emo": data[utt]["label"], "channel": 1}

    for number, (train, test) in enumerate(parts, 1):
        for split, utts in (("train", train), ("test", test)):
            path = os.path.join(folder, f"fold_{number}", f"{dataset}_{split}_fold_{number}.jsonl")
            os.makedirs(os.path.dirname(path), exist_ok=True)
            write_text(path, "".join(json.dumps(record(u)) + "\n" for u in utts))
    write_json(os.path.join(folder, "label_map.json"), {label: label for label in sorted(set(labels))})
    logger.info(f"Wrote {len(parts)} EmoBox-style fold(s) of {dataset} to {folder}")
    return folder


# ---------------------------------------------------------------------------
# Reference rows


def read_reference_csv(path):
    """Published figures given by the user: a CSV with columns ``encoder``,
    ``dataset``, ``protocol``, ``weighted_f1`` or ``ua`` (percent, either may
    be empty) and ``source`` (where the figure comes from)."""
    try:
        with open(path, encoding="utf-8", newline="") as handle:
            rows = list(csv.DictReader(handle))
    except OSError as error:
        raise InputError(f"--reference_csv {path}: cannot read it ({error.strerror or error})") from None
    except UnicodeDecodeError as error:
        raise InputError(f"--reference_csv {path}: not UTF-8 text ({error})") from None
    need = {"encoder", "dataset", "protocol", "source"}
    if not rows or need - set(rows[0]):
        raise InputError(f"{path}: expected columns {sorted(need)} and weighted_f1 / ua")
    out = []
    for number, row in enumerate(rows, 2):
        values = {}
        for metric in ("weighted_f1", "ua"):
            text = (row.get(metric) or "").strip()
            try:
                values[metric] = float(text) if text else None
            except ValueError:
                raise InputError(f"{path}, line {number}: {metric} {text!r} is not a number") from None
        out.append({"encoder": row["encoder"].strip(), "dataset": row["dataset"].strip().lower(),
                    "protocol": row["protocol"].strip(), "source": row["source"].strip(), **values})
    return out
