"""The folders shipped inside the package: `conf/` (Hydra's config tree), `prompts/` (templates)
and `data/` (the demo seed). Found through importlib.resources, so an installed wheel finds them
wherever it is run from; SRLM_CONF_DIR and SRLM_PROMPTS_DIR point elsewhere (tests, forks)."""
from __future__ import annotations

import os
from importlib.resources import files
from pathlib import Path


def packaged(name: str) -> Path:
    """The shipped folder `name` as a path on disk (Hydra and Jinja read folders, not archives)."""
    folder = files("srlm_nemo").joinpath(name)
    if not isinstance(folder, Path):
        raise RuntimeError(f"srlm_nemo/{name} is not a folder on disk ({folder!r}): install srlm-nemo "
                           "unzipped (pip does), not from a zip archive")
    return folder


def conf_dir() -> Path:
    return Path(os.environ.get("SRLM_CONF_DIR") or packaged("conf"))


def prompts_dir() -> Path:
    return Path(os.environ.get("SRLM_PROMPTS_DIR") or packaged("prompts"))


def data_dir() -> Path:
    return packaged("data")
