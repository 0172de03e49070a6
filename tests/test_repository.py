"""What the tracked files may hold: no absolute path of a development machine
(a user cannot run a script that names one, and it says nothing about the
project). Paths in commands are relative to the repository root, with
placeholders such as DATA and RUNS for the user's folders."""

import re
import subprocess

import pytest

from conftest import REPO

# The folders work, tmp and root at the file-system root, a user's folder under home or Users,
# and the Users folder of drive C; not preceded by a path character, so that a relative path
# ending in such a folder name does not match. (Examples below are built from parts, so that
# this file passes itself.)
MACHINE_PATH = re.compile(
    r"(?<![\w.~/$-])/(?:work|tmp|root)/"
    r"|(?<![\w.~/$-])/(?:home|Users)/[A-Za-z_][\w.-]*"
    r"|\b[A-Za-z]:\\\\?(?:Users|Documents and Settings)\b"
)
# (path, the one string allowed there, why). Keep it short; prefer none.
ALLOWED = ()
ROOT, BACKSLASH = "/", "\\"


def tracked_files():
    try:
        out = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as error:
        pytest.skip(f"not a git checkout ({error})")
    return [name for name in out.decode().split("\0") if name]


def machine_paths(text):
    """Every match of a development-machine path in ``text``.

    >>> len(machine_paths(f"cd {ROOT}work/main && ls {ROOT}tmp/x {ROOT}home/alice/data C:{BACKSLASH}Users"))
    4
    >>> machine_paths("results/tmp/x recipes/work/y $RUNS/tmp/z ~/tmp/w https://host/home/index")
    []
    """
    return [match.group(0) for match in MACHINE_PATH.finditer(text)]


def test_pattern_finds_what_it_should():
    assert machine_paths(f"--data_folder {ROOT}work/shared/data") == [f"{ROOT}work/"]
    assert machine_paths(f'sys.path.insert(0, "{ROOT}root/repo")') == [f"{ROOT}root/"]
    assert machine_paths(f"cp x {ROOT}home/alice_b/y") == [f"{ROOT}home/alice_b"]
    assert machine_paths(f"dir C:{BACKSLASH}Users{BACKSLASH}bob") == [f"C:{BACKSLASH}Users"]
    assert machine_paths("DATA/emodb, RUNS/care_small_2k/encoder, ../shared/data") == []


def test_no_tracked_file_names_a_machine_path():
    found = []
    for name in tracked_files():
        path = REPO / name
        if not path.is_file():
            continue
        data = path.read_bytes()
        if b"\0" in data[:8192]:
            continue  # binary (audio samples)
        for number, line in enumerate(data.decode("utf-8", errors="replace").splitlines(), 1):
            hits = [hit for hit in machine_paths(line)
                    if not any(name == allowed[0] and hit in allowed[1] for allowed in ALLOWED)]
            if hits:
                found.append(f"{name}:{number}: {line.strip()[:120]}")
    assert not found, ("absolute paths of a development machine in tracked files (use paths relative "
                       "to the repository root, or DATA / RUNS placeholders):\n" + "\n".join(found))
