"""Loading and writing model folders and results safely: a YAML alias bomb
refused before it is expanded, results and reports never written over an
input or a file care-classify did not write, exports that never move a file
or a link away and survive a kill or a concurrent export, a savedir that
never serves another model's files, and clear messages for a missing source
folder, binary-mode checksums and a report under a file."""

import os
import subprocess
import sys
import textwrap

import pytest
import torch
from speechbrain.dataio import audio_io

from care.cli import main
from care.inference import EmotionRecognizer, save_classifier
from care.io import CHECKSUMS_FILE, verify_checksums
from care.lobes import CAREEncoder, EGeMAPSFeatures, EmotionProbe, load_encoder, save_encoder
from care.lobes.sources import SavedirError
from conftest import REPO, TINY_ENCODER

ENV = dict(os.environ, PYTHONPATH=str(REPO), HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1")


def classifier(folder, labels=("angry", "happy", "neutral"), seed=0):
    torch.manual_seed(seed)
    extractor = EGeMAPSFeatures()
    probe = EmotionProbe(1, extractor.dim, len(labels), hidden_dim=8).eval()
    return save_classifier(str(folder), extractor, probe, list(labels))


@pytest.fixture
def wav(clips, tmp_path):
    path = str(tmp_path / "rec1.wav")
    audio_io.save(path, clips[0][None, :32000], 16000)
    return path


def python(code, *args, timeout=60):
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code), *map(str, args)],
                          capture_output=True, text=True, env=ENV, cwd=REPO, timeout=timeout)


# --- X1: a YAML alias bomb ---------------------------------------------------------


def test_alias_bomb_refused_before_it_is_expanded(tmp_path):
    """Reproduction: nine lines of ten aliases (about 1 kB) appended to a
    folder's hyperparams.yaml hung the safety check itself (HyperPyYAML's
    reference pass walks 10**9 nodes). Refused now, with the line and the
    reason, by care-classify, EmotionRecognizer and load_encoder (in a
    subprocess: the old code would hang the test run)."""
    bomb = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]\n" for i in range(1, 9))
    folders = [classifier(tmp_path / "classifier"), save_encoder(CAREEncoder(**TINY_ENCODER),
                                                                 str(tmp_path / "encoder"))]
    for folder in folders:
        os.remove(os.path.join(folder, CHECKSUMS_FILE))
        with open(os.path.join(folder, "hyperparams.yaml"), "a", encoding="utf-8") as handle:
            handle.write(bomb)
    run = subprocess.run([sys.executable, "-m", "care.cli", "--source", folders[0], "x.wav"],
                         capture_output=True, text=True, env=ENV, cwd=REPO, timeout=60)
    assert run.returncode == 3 and "alias bomb" in run.stderr and "--trust" in run.stderr, run.stderr
    run = python("""
        import sys
        from care.inference import EmotionRecognizer
        from care.lobes import load_encoder
        for load in (lambda: EmotionRecognizer.from_hparams(source=sys.argv[1]),
                     lambda: load_encoder(sys.argv[2])):
            try:
                load()
            except ValueError as error:
                print(type(error).__name__, error)
    """, *folders)
    refusals = run.stdout.splitlines()
    assert len(refusals) == 2, run.stdout + run.stderr
    assert all(line.startswith("UntrustedFolderError") and "alias bomb" in line for line in refusals)


def test_deep_nesting_and_endless_aliases_refused(tmp_path):
    from care.inference import CLASSIFIER_CLASSES
    from care.lobes.export import UntrustedFolderError, check_hparams

    path = tmp_path / "hyperparams.yaml"
    for text, reason in (("x: " + "[" * 200 + "]" * 200 + "\n", "nesting deeper"),
                         ("a: &a [1, *a]\n", "contains it"),
                         ("x: 1\n" + "#" * (1 << 20) + "\n", "bytes")):
        path.write_text(text)
        with pytest.raises(UntrustedFolderError, match=reason):
            check_hparams(str(path), CLASSIFIER_CLASSES)


# --- X3, X4, X23: where results and reports are written ----------------------------


@pytest.mark.parametrize("argv, reason", [
    (["--report", "rec1.wav", "rec2.wav"], "not a table, JSON lines or report"),
    (["--output", "rec1.wav", "rec2.wav"], "not a table, JSON lines or report"),
    (["rec2.wav", "rec1.wav", "--report", "rec1.wav"], "one of the inputs"),
    (["rec2.wav", "--output", "notes.txt"], "not a table, JSON lines or report"),
    (["rec2.wav", "--output", "same.html", "--report", "same.html"], "both name same.html"),
    (["rec2.wav", "--report", "rec1.wav/report.html"], "rec1.wav is a file, not a folder"),
])  # fmt: skip
def test_results_never_written_over_an_input_or_a_recording(wav, tmp_path, monkeypatch, capsys,
                                                            argv, reason):
    """Reproduction: `--report rec1.wav rec2.wav` (a forgotten report name)
    replaced the recording rec1.wav with the HTML page, exit 0; so did
    --output, a report naming an input, and --output and --report naming one
    file (the table lost). Now refused before the classifier is even loaded."""
    monkeypatch.chdir(tmp_path)
    os.link(wav, "rec2.wav")
    (tmp_path / "notes.txt").write_text("my notes\n")
    (tmp_path / "same.html").write_text("")
    before = {name: (tmp_path / name).read_bytes() for name in ("rec1.wav", "notes.txt")}
    with pytest.raises(SystemExit) as exit_:
        main(["--source", str(tmp_path / "no_classifier_needed")] + argv)
    assert exit_.value.code == 2
    assert reason in capsys.readouterr().err
    assert {name: (tmp_path / name).read_bytes() for name in before} == before


def test_our_own_results_and_reports_are_replaced(wav, tmp_path, capsys):
    folder = classifier(tmp_path / "classifier")
    table, report, lines = (str(tmp_path / name) for name in ("r.txt", "r.html", "r.jsonl"))
    for _ in range(2):  # the second run writes over the first run's files
        assert main(["--source", folder, wav, "--output", table, "--report", report]) == 0
        assert main(["--source", folder, wav, "--output", lines, "--jsonl"]) == 0
    capsys.readouterr()
    assert open(table).read().startswith("file ") and "<title>Emotion report" in open(report).read()


# --- X5, X6, X17: exports ----------------------------------------------------------


@pytest.mark.parametrize("kind", ["file", "symlink"])
def test_export_onto_a_file_or_a_link_refused_first(tmp_path, kind):
    """Reproduction: save_classifier onto an existing file (or a link to
    another export) moved it to a hidden name, wrote the export, then failed
    (NotADirectoryError; "Cannot call rmtree on a symbolic link")."""
    target = tmp_path / "target"
    if kind == "file":
        target.write_text("my notes\n")
    else:
        os.symlink(classifier(tmp_path / "real_export"), target)
    before = sorted(os.listdir(tmp_path))
    for export in (lambda: classifier(target, labels=("x", "y")),
                   lambda: save_encoder(CAREEncoder(**TINY_ENCODER), str(target))):
        with pytest.raises(FileExistsError, match=f"{target} is a {'file' if kind == 'file' else 'symbolic link'}"):
            export()
    assert sorted(os.listdir(tmp_path)) == before
    assert (target.read_text() == "my notes\n") if kind == "file" else os.path.islink(target)


CHILD = """
    import sys
    from care.inference import save_classifier
    from care.lobes import EGeMAPSFeatures, EmotionProbe
    folder, tag, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    probe, extractor = EmotionProbe(1, 88, 2, hidden_dim=8), EGeMAPSFeatures()
    for _ in range(n):
        try:
            save_classifier(folder, extractor, probe, [tag + "_a", tag + "_b"])
        except Exception as error:
            print(tag, "error:", type(error).__name__, error, flush=True)
"""


def test_export_killed_between_its_renames_is_restored(tmp_path):
    """Reproduction: a kill right after atomic_folder renamed the old export
    away left no folder at all (the old one only under a hidden name). The
    next load puts the folder back (the new export: it was complete)."""
    folder = tmp_path / "classifier"
    assert python(CHILD, folder, "old", 1).returncode == 0
    killed = python(textwrap.dedent("""
        import os
        real = os.replace
        def replace(a, b):
            real(a, b)
            if b.endswith(".old.tmp"):
                os._exit(9)
        os.replace = replace
    """) + textwrap.dedent(CHILD), folder, "new", 1)
    assert killed.returncode == 9 and not folder.exists()
    recognizer = EmotionRecognizer.from_hparams(source=str(folder))
    assert recognizer.labels == ["new_a", "new_b"]
    assert not [n for n in os.listdir(tmp_path) if n.endswith(".tmp")]


def test_concurrent_exports_take_turns(tmp_path):
    """Reproduction: two processes exporting to one folder failed now and then
    with raw FileNotFoundError / "Directory not empty" on the temporary
    folders. Now the swaps take turns; every export succeeds."""
    folder = tmp_path / "classifier"
    runs = [subprocess.Popen([sys.executable, "-c", textwrap.dedent(CHILD), str(folder), tag, "60"],
                             stdout=subprocess.PIPE, text=True, env=ENV, cwd=REPO)
            for tag in ("A", "B")]
    outputs = [run.communicate(timeout=600)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0] and outputs == ["", ""], outputs
    assert EmotionRecognizer.from_hparams(source=str(folder)).labels in (["A_a", "A_b"], ["B_a", "B_b"])


# --- X9, X20, X18, X21: sources, savedirs and checksums -----------------------------


def test_savedir_never_serves_another_models_files(wav, tmp_path, capsys):
    """Reproduction: a savedir reused for a hub id that does not exist
    (offline) ran the model it already held, exit 0 with its labels; reused
    for another local classifier, it was refused as "files do not come from
    one export ... export it again". Now both name the savedir."""
    first = classifier(tmp_path / "first")
    second = classifier(tmp_path / "second", labels=("low", "high"))
    savedir = str(tmp_path / "savedir")
    assert EmotionRecognizer.from_hparams(source=first, savedir=savedir).labels[0] == "angry"
    assert EmotionRecognizer.from_hparams(source=first, savedir=savedir)  # the same source: reused
    for source in (second, "someone/emotion-model"):
        with pytest.raises(SavedirError, match=f"savedir {savedir} holds the files of another model"):
            EmotionRecognizer.from_hparams(source=source, savedir=savedir)
        assert main(["--source", source, "--savedir", savedir, wav]) == 3
        assert f"savedir {savedir}" in capsys.readouterr().err


def test_missing_source_folder_named_as_such(wav, tmp_path, capsys):
    """Reproduction: a --source folder that does not exist was reported as a
    malformed Hugging Face repository id."""
    for source in (str(tmp_path / "no_such_classifier"), "./no_such_classifier"):
        assert main(["--source", source, wav]) == 3
        err = capsys.readouterr().err
        assert f"{source}: no such folder" in err and "Repo id" not in err, err


def test_checksums_in_binary_mode_accepted(tmp_path):
    """Reproduction: checksums.sha256 regenerated with `sha256sum -b`
    (`<digest> *name`) was refused as "hyperparams.yaml is not listed"."""
    folder = classifier(tmp_path / "classifier")
    path = os.path.join(folder, CHECKSUMS_FILE)
    with open(path, encoding="utf-8") as handle:
        lines = handle.read().replace("  ", " *")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(lines)
    assert verify_checksums(folder, {"hyperparams.yaml": os.path.join(folder, "hyperparams.yaml")})
    assert EmotionRecognizer.from_hparams(source=folder).labels == ["angry", "happy", "neutral"]


def test_encoder_folder_restored_and_loaded(tmp_path):
    """load_encoder puts back a folder a killed export left missing, too."""
    folder = save_encoder(CAREEncoder(**TINY_ENCODER), str(tmp_path / "encoder"))
    os.replace(folder, str(tmp_path / ".encoder.x1.old.tmp"))
    assert load_encoder(folder) is not None and os.path.isdir(folder)
