"""recipes/Pretrain/ablations.py without training: the commands it builds for
each variant, and the table it reads from finished runs."""

import json
import subprocess
import sys
from pathlib import Path


REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "recipes" / "Pretrain"))
import ablations  # noqa: E402


def test_variant_commands_carry_overrides_budget_and_curve(tmp_path):
    spec = {"config": "care_small.yaml", "variants": {"full": {}, "paper_routing": {"detach_acoustic": True},
            "semantic_only": {"acoustic_weight": 0.0}}, "curve_variants": ["full"], "curve_percent": [0, 25, 50]}
    args = type("A", (), {"hparams": "hparams/ablations.yaml", "variants": ["full", "paper_routing"],
                          "output_folder": str(tmp_path), "steps": 400, "data_folder": "D",
                          "train_args": "--device cuda --exclude '[emodb/*]'"})()
    commands = ablations.train_commands(spec, args)
    assert set(commands) == {"full", "paper_routing"}
    full, routing = commands["full"][0], commands["paper_routing"][0]
    assert full[full.index("--optimizer_step_limit") + 1] == "400"
    assert json.loads(full[full.index("--export_steps") + 1]) == [0, 100, 200]
    assert "--export_steps" not in routing
    assert routing[routing.index("--detach_acoustic") + 1] == "true"
    assert routing[-2:] == ["--exclude", "[emodb/*]"] and routing[routing.index("--device") + 1] == "cuda"
    assert full[2].endswith("recipes/Pretrain/hparams/care_small.yaml")
    args.curve_percent = []  # --curve_percent none
    assert "--export_steps" not in ablations.train_commands(spec, args)["full"][0]
    args.curve_percent = [50.0]
    full = ablations.train_commands(spec, args)["full"][0]
    assert json.loads(full[full.index("--export_steps") + 1]) == [200]


def test_table_reads_finished_runs(tmp_path):
    out = tmp_path / "abl"
    for name, ratio in (("full", 0.5), ("paper_routing", 0.8)):
        (out / name / "encoder").mkdir(parents=True)
        (out / name / "encoder" / "encoder.ckpt").write_bytes(b"x")
        (out / name / "train_log.txt").write_text(
            f"epoch: 1, step: 10 - valid acoustic: 0.3, valid acoustic_vs_zero: {ratio}, valid semantic_vs_mean: 0.9\n")
    (out / "full" / "encoder_step5").mkdir()
    (out / "full" / "encoder_step5" / "encoder.ckpt").write_bytes(b"x")
    result = {"metrics": {"mean": {"weighted_f1": 0.5, "ua": 0.4}, "std_folds": {"weighted_f1": 0.1}}}
    (out / "probe" / "full" / "EmoDB").mkdir(parents=True)
    (out / "probe" / "full" / "EmoDB" / "results.json").write_text(json.dumps(result))
    run = subprocess.run(
        [sys.executable, str(REPO / "recipes" / "Pretrain" / "ablations.py"), "hparams/ablations.yaml",
         "--data_folder", "D", "--steps", "10", "--output_folder", str(out), "--probe", "EmoDB=X", "--table_only"],
        capture_output=True, text=True, cwd=REPO, timeout=120,
    )
    assert run.returncode == 0, run.stderr
    table = (out / "ablations.md").read_text()
    assert "| `full` | 10 | 0.500 | 0.900 | 50.0 ± 10.0 | 40.0 |" in table
    assert "| `full@5` | 5 |" in table and "| `paper_routing` | 10 | 0.800 |" in table
    rows = json.loads((out / "ablations.json").read_text())["rows"]
    assert [r["encoder"] for r in rows] == ["full", "full@5", "paper_routing"]


def test_unknown_variant_is_refused(tmp_path):
    run = subprocess.run(
        [sys.executable, str(REPO / "recipes" / "Pretrain" / "ablations.py"), "hparams/ablations.yaml",
         "--data_folder", "D", "--steps", "1", "--output_folder", str(tmp_path), "--variants", "nope"],
        capture_output=True, text=True, cwd=REPO, timeout=120,
    )
    assert run.returncode != 0 and "unknown variants ['nope']" in run.stderr


def test_malformed_probe_is_refused(tmp_path):
    run = subprocess.run(
        [sys.executable, str(REPO / "recipes" / "Pretrain" / "ablations.py"), "hparams/ablations.yaml",
         "--data_folder", "D", "--steps", "1", "--output_folder", str(tmp_path), "--probe", "EmoDB"],
        capture_output=True, text=True, cwd=REPO, timeout=120,
    )
    assert run.returncode != 0 and "--probe takes DATASET=FOLDER" in run.stderr
