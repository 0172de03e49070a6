"""The README's first command after the install: the whole workflow on
tests/samples (pretrain, export, probe, classify), as a user runs it."""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_quickstart_runs_end_to_end(tmp_path):
    out = tmp_path / "quickstart"
    result = subprocess.run(
        [sys.executable, "recipes/quickstart.py", "--output_folder", str(out), "--steps", "4"],
        cwd=REPO, capture_output=True, text=True, timeout=900,
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    assert "quickstart: done." in result.stdout
    printed = (result.stdout + result.stderr).count("\n")  # a progress bar redraws one line
    assert printed < 150, f"the quickstart printed {printed} lines"
    assert (out / "pretrain" / "encoder" / "encoder.ckpt").is_file()
    assert sorted(p.name for p in out.glob("probe/*/results.md")) == ["results.md"]
    results = next(out.glob("probe/*/results.md"))
    assert results.parent.name.endswith("-speaker_norm")  # the template's default normalisation
    assert "Feature normalisation: speaker" in results.read_text()
    labels = (out / "labels.txt").read_text().splitlines()
    assert labels[0].split()[:3] == ["file", "duration_s", "label"] and labels[0].split()[-1] == "normalization"
    assert len(labels) == 1 + 38  # every FSDD clip of tests/samples, one line each
    assert all(line.split()[2] in {"zero", "one", "two"} for line in labels[1:])
    # Each clip z-scored with its speaker's clips (--speaker_pattern: the speaker from the name).
    assert all("statistics of group '" + Path(line.split()[0]).name.split("_")[1] + "'" in line
               for line in labels[1:])
