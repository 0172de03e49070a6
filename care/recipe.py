"""What every recipe's ``train.py`` does first: parse SpeechBrain's command
line, find the hparams file, load it with the overrides.

The hparams path may be given relative to the current directory or to the
recipe folder, so both work from the repository root::

    python recipes/Pretrain/train.py hparams/care_small.yaml --data_folder DIR
    cd recipes/Pretrain && python train.py hparams/care_small.yaml --data_folder DIR

Authors
 * CARE for SpeechBrain contributors, 2026
"""

import dataclasses
import importlib.util
import os
import sys
from pathlib import Path

import speechbrain as sb
from hyperpyyaml import load_hyperpyyaml


def resolve_hparams_path(path, recipe_folder):
    """Returns ``path`` if it exists, else ``recipe_folder/path``; raises
    ``FileNotFoundError`` naming both places otherwise.

    Example
    -------
    >>> import care, os
    >>> folder = os.path.dirname(care.__file__)
    >>> resolve_hparams_path("__init__.py", folder) == os.path.join(folder, "__init__.py")
    True
    """
    if os.path.isfile(path):
        return path
    candidate = os.path.join(recipe_folder, path)
    if os.path.isfile(candidate):
        return candidate
    raise FileNotFoundError(
        f"hparams file {path!r} not found (looked in {os.getcwd()} and {recipe_folder})"
    )


def load_recipe(recipe_folder, argv=None):
    """Parses ``argv`` (default ``sys.argv[1:]``) like SpeechBrain recipes do
    and loads the hparams.

    Arguments
    ---------
    recipe_folder : str
        The recipe's folder (where a relative hparams path is also looked
        for), e.g. ``os.path.dirname(os.path.abspath(__file__))``.
    argv : list of str, optional
        Command-line arguments.

    Returns
    -------
    hparams_file : str
        The resolved hparams path.
    run_opts : speechbrain.utils.run_opts.RunOptions
        SpeechBrain run options (``--device``, ``--precision``, ...).
    overrides : str
        The YAML overrides from the command line.
    hparams : dict
        The loaded hyperparameters.
    """
    argv = sys.argv[1:] if argv is None else argv
    hparams_file, run_opts, overrides = sb.parse_arguments(argv)
    # SpeechBrain 1.1.2 parses options whose default is None as strings.
    if isinstance(getattr(run_opts, "optimizer_step_limit", None), str):
        run_opts = dataclasses.replace(
            run_opts, optimizer_step_limit=int(run_opts.optimizer_step_limit)
        )
    # Joins the DDP process group under torchrun (a no-op otherwise), before
    # anything calls run_on_main.
    sb.utils.distributed.ddp_init_group(run_opts)
    hparams_file = resolve_hparams_path(hparams_file, recipe_folder)
    overrides = _share_run_options(hparams_file, run_opts, overrides)
    with open(hparams_file, encoding="utf-8") as fin:
        hparams = load_hyperpyyaml(fin, overrides)
    return hparams_file, run_opts, overrides, hparams


def _share_run_options(hparams_file, run_opts, overrides):
    """Run options given on the command line (e.g. ``--optimizer_step_limit``)
    also override the YAML key of the same name, so that values derived from
    it (a schedule's length) agree with what the Brain does."""
    import re

    import yaml

    with open(hparams_file, encoding="utf-8") as fin:
        keys = set(re.findall(r"^([A-Za-z_]\w*):", fin.read(), re.MULTILINE))
    given = getattr(run_opts, "overridden_args", set()) or set()
    shared = {k: getattr(run_opts, k) for k in sorted(given & keys)}
    if not shared:
        return overrides
    merged = yaml.safe_load(overrides) if overrides else {}
    merged = {**shared, **(merged or {})}
    return yaml.safe_dump(merged, default_flow_style=False)


def default_device():
    """``"cuda"`` when a GPU is visible, else ``"cpu"`` (for YAML keys of
    helpers such as a text teacher that run outside the Brain)."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def load_script(path, name=None):
    """Imports the script ``path`` (a recipe's ``train.py`` or prepare
    script, ``recipes/benchmark.py``) as a module called ``name`` (default:
    the file's stem); its folder is on ``sys.path`` while it loads, so that a
    ``train.py`` finds its prepare script."""
    path = Path(path)
    folder = str(path.parent)
    sys.path.insert(0, folder)
    try:
        spec = importlib.util.spec_from_file_location(name or path.stem, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(folder)
    return module
