"""The README's Python example runs as written, from the repository root."""

import os
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def test_readme_python_blocks_run(capsys):
    blocks = re.findall(r"```python\n(.*?)```", (REPO / "README.md").read_text(), re.DOTALL)
    assert blocks, "the README has no Python example"
    cwd = os.getcwd()
    os.chdir(REPO)
    try:
        for block in blocks:
            exec(compile(block, "README.md", "exec"), {"__name__": "readme"})
    finally:
        os.chdir(cwd)
    printed = capsys.readouterr().out
    assert "torch.Size([1, 384])" in printed
    assert "'acoustic': [8, 9, 10, 11]" in printed


def test_results_table_is_generated():
    """The README's Results table is what its command prints from the committed
    results.json files: regenerated here, so the table cannot drift from them."""
    import shlex

    from conftest import load_module

    text = (REPO / "README.md").read_text()
    found = re.findall(r"<!-- results:begin: (python recipes/benchmark\.py .*?) -->\n(.*?)<!-- results:end -->",
                       text, re.DOTALL)
    assert len(found) == 1, "the README needs one results:begin / results:end block naming its command"
    command, table = found[0]
    assert f"\n{command}\n" in text, "the generating command is also shown, as a command to copy"
    bench = load_module(REPO / "recipes" / "benchmark.py")
    cwd = os.getcwd()
    os.chdir(REPO)
    try:
        expected = bench.main(shlex.split(command)[2:])
    finally:
        os.chdir(cwd)
    assert table == expected, f"README table out of date: run `{command}` and paste its output"


def test_results_table_sources_are_tracked():
    """Every results.json the README's table is generated from is a file git keeps:
    an ignored one passes the test above here and fails it on a clean clone."""
    import shlex
    import subprocess

    text = (REPO / "README.md").read_text()
    command = re.search(r"<!-- results:begin: (python recipes/benchmark\.py .*?) -->", text).group(1)
    words = shlex.split(command)
    folder = REPO / words[words.index("--results") + 1]
    sources = sorted(folder.glob("*/*/results.json"))
    if not sources:
        return  # the table then says that there are no results yet, which is true on a clean clone
    probe = subprocess.run(["git", "check-ignore", "--no-index", *map(str, sources)], cwd=REPO,
                           capture_output=True, text=True)
    if probe.returncode == 128:
        pytest.skip(f"not a git checkout ({probe.stderr.strip()})")
    assert not probe.stdout, f"git ignores results the README's table is made from: {probe.stdout.split()}"


def readme_commands():
    """``(readme, line)`` for every ``python <script>`` or ``torchrun ... <script>``
    command in the bash blocks of the tracked README files (continuation lines joined)."""
    import subprocess

    names = subprocess.run(["git", "ls-files", "*README.md"], cwd=REPO, capture_output=True,
                           text=True).stdout.split()
    for name in names:
        for block in re.findall(r"```bash\n(.*?)```", (REPO / name).read_text(), re.DOTALL):
            for line in block.replace("\\\n", " ").splitlines():
                line = line.split("#")[0].strip()
                if re.match(r"(OMP_NUM_THREADS=\S+ )?(python|torchrun)\b", line):
                    yield name, line


def test_readme_commands_name_files_that_exist():
    """Every command in the READMEs runs from the repository root: the script it
    names exists, and so does its hparams file (relative to the script's folder
    or to the root, as the recipes accept)."""
    missing = []
    count = 0
    for name, line in readme_commands():
        words = line.split()
        scripts = [w for w in words if w.endswith(".py") and not w.startswith("-")]
        if not scripts or "-c" in words:
            continue
        count += 1
        script = REPO / scripts[0]
        if not script.is_file():
            missing.append(f"{name}: {scripts[0]} ({line[:80]})")
            continue
        after = words[words.index(scripts[0]) + 1:]
        if after and after[0].endswith(".yaml"):
            if not ((script.parent / after[0]).is_file() or (REPO / after[0]).is_file()):
                missing.append(f"{name}: {after[0]} beside {scripts[0]}")
    assert count > 30, f"only {count} commands found: the parser no longer sees the README blocks"
    assert not missing, "README commands naming missing files:\n" + "\n".join(missing)


def test_readme_stays_short():
    """The README is the front page: under 250 lines (issue 35); details go to
    the recipe READMEs and docs/experiments."""
    lines = (REPO / "README.md").read_text().count("\n")
    assert lines < 250, f"README.md has {lines} lines"
