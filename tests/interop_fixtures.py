"""A tiny pretrained and exported SemiSupCon encoder, built once per test session.

Import the ``exported_model`` fixture into a test module (``from interop_fixtures import
exported_model``). The build goes to pytest's session temporary folder and is reused by
every module that imports the fixture: 40 tones of 1.5 s at 16 kHz (16 labeled
``class0..3``, 24 unlabeled), one epoch of ``recipes/Generic/pretrain`` with the tiny
CPU yaml in a subprocess, then ``semisupcon export``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile

from semisupcon_recipe.manifest import write_manifest

REPO = Path(__file__).resolve().parents[1]
RECIPE = REPO / "recipes" / "Generic" / "pretrain" / "train.py"
TINY_YAML = REPO / "recipes" / "Generic" / "pretrain" / "hparams" / "tiny_cpu.yaml"
SAMPLE_RATE = 16000
CLIP_SECONDS = 1.5
NUM_CLIPS = 40
NUM_LABELED = 16
NUM_CLASSES = 4


def tone(frequency: float, seconds: float, sample_rate: int = SAMPLE_RATE, seed: int = 0) -> np.ndarray:
    """A sine tone with a little noise, float32 ``(samples,)``."""
    time = np.arange(int(seconds * sample_rate)) / sample_rate
    noise = np.random.default_rng(seed).normal(scale=0.01, size=time.shape)
    return (0.5 * np.sin(2 * np.pi * frequency * time) + noise).astype(np.float32)


def write_tone_manifests(folder: Path) -> tuple[Path, Path]:
    """Write the clips and the labeled / unlabeled manifests; returns their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    labeled, unlabeled = [], []
    for index in range(NUM_CLIPS):
        path = folder / f"c{index}.wav"
        soundfile.write(path, tone(110.0 * (1 + index % 8), CLIP_SECONDS, seed=index), SAMPLE_RATE)
        row = {"ID": f"c{index}", "duration": CLIP_SECONDS, "wav": str(path)}
        if index < NUM_LABELED:
            labeled.append({**row, "labels": f"class{index % NUM_CLASSES}"})
        else:
            unlabeled.append(row)
    write_manifest(folder / "labeled.csv", labeled)
    write_manifest(folder / "unlabeled.csv", unlabeled)
    return folder / "labeled.csv", folder / "unlabeled.csv"


def pretrain_tiny(folder: Path) -> Path:
    """One epoch of the tiny CPU recipe; returns its output folder (built once)."""
    output = folder / "pretrain"
    if (output / "save").is_dir() and any((output / "save").glob("CKPT+*")):
        return output
    labeled, unlabeled = write_tone_manifests(folder / "audio")
    subprocess.run(
        [sys.executable, str(RECIPE), str(TINY_YAML), "--labeled_manifest", str(labeled),
         "--unlabeled_manifest", str(unlabeled), "--output_folder", str(output), "--number_of_epochs", "1"],
        check=True, capture_output=True, cwd=REPO,
    )
    return output


def build_exported_model(folder: Path) -> Path:
    """Pretrain (once) and export (once) into ``folder``; returns the export folder."""
    from semisupcon_recipe.exported import MANIFEST_FILE
    from semisupcon_recipe.interop.export import export_checkpoint

    exported = folder / "exported"
    if not (exported / MANIFEST_FILE).is_file():
        export_checkpoint(pretrain_tiny(folder), exported)
    return exported


@pytest.fixture(scope="session")
def exported_model(tmp_path_factory) -> Path:
    """Export folder of a tiny encoder pretrained for one epoch (shared by the whole session)."""
    return build_exported_model(tmp_path_factory.getbasetemp() / "interop_model")
