"""Helpers shared by the fixture dataset builders (``fixtures_<dataset>.py``).

The recipes' prepare scripts are imported by path (they are scripts, not a package);
audio is short generated noise written in the format the dataset ships.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import soundfile

REPOSITORY = Path(__file__).resolve().parents[2]
CLIP_SECONDS = 0.2


def load_prepare_module(relative_path: str) -> ModuleType:
    """Import a recipe's ``*_prepare.py`` (recipes are scripts, not a package)."""
    path = REPOSITORY / relative_path
    name = f"recipe_{path.stem}"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def write_noise(path: Path, sample_rate: int, seed: int, seconds: float = CLIP_SECONDS, channels: int = 1) -> Path:
    """Write ``seconds`` of quiet white noise in the format the suffix names (mp3, au or wav)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    noise = 0.1 * np.random.default_rng(seed).standard_normal((int(seconds * sample_rate), channels)).astype("float32")
    file_format = {".mp3": "MP3", ".au": "AU"}.get(path.suffix, "WAV")
    soundfile.write(str(path), noise, sample_rate, format=file_format)
    return path


def write_undecodable(path: Path) -> Path:
    """A file with an audio name whose bytes are not audio."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"not an mp3 " * 64)
    return path
