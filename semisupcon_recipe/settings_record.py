"""Settings records: the settings a run folder was started with, so reruns cannot mix them.

A folder that a rerun reuses (a pretraining output folder, the demo's dataset and model
folders) records its settings as JSON at the first run; a rerun compares the settings it
was given with the record and refuses any difference, listing each one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Mapping

from semisupcon_recipe.files import atomic_write_text


def describe_differences(found: Mapping, wanted: Mapping) -> str:
    """The keys whose values differ, as ``key: <found> there, <wanted> asked`` ("" if none).

    Example
    -------
    >>> describe_differences({"seed": 0, "clips": 48}, {"seed": 1, "clips": 48})
    'seed: 0 there, 1 asked'
    """
    changed = sorted(key for key in set(found) | set(wanted) if found.get(key) != wanted.get(key))
    return "; ".join(f"{key}: {found.get(key)!r} there, {wanted.get(key)!r} asked" for key in changed)


def read_record(path: str | Path) -> dict | None:
    """The settings recorded in ``path``, or None when there is no record yet."""
    path = Path(path)
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def write_record(path: str | Path, settings: Mapping) -> None:
    """Record ``settings`` (JSON values) in ``path``, atomically (its folder is created).

    Example
    -------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "run" / "settings.json"
    >>> write_record(path, {"seed": 1}); describe_differences(read_record(path), {"seed": 2})
    'seed: 1 there, 2 asked'
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(dict(settings), indent=1))
