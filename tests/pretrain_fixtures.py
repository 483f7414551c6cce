"""Tiny generated audio datasets for the pretraining tests."""

from pathlib import Path

import numpy as np
import soundfile

from semisupcon_recipe.manifest import write_manifest

SAMPLE_RATE = 16000


def tone(frequency: float, seconds: float, rng: np.random.Generator, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """A sine with a little noise, float32."""
    time = np.arange(int(seconds * sample_rate)) / sample_rate
    return (0.3 * np.sin(2 * np.pi * frequency * time) + 0.05 * rng.normal(size=time.size)).astype("float32")


def make_tone_dataset(folder: Path, num_clips: int = 40, num_labeled: int = 16, seconds: float = 1.5) -> tuple[Path, Path]:
    """Clips of four tone classes; the first ``num_labeled`` labeled ``class0..3``.

    Returns the labeled and unlabeled manifest paths.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    labeled, unlabeled = [], []
    for index in range(num_clips):
        cls = index % 4
        path = folder / f"clip{index}.wav"
        soundfile.write(path, tone(220 * 2 ** (cls / 4), seconds, rng), SAMPLE_RATE)
        row = {"ID": f"clip{index}", "duration": seconds, "wav": str(path)}
        if index < num_labeled:
            labeled.append({**row, "labels": f"class{cls}"})
        else:
            unlabeled.append(row)
    write_manifest(folder / "labeled.csv", labeled)
    write_manifest(folder / "unlabeled.csv", unlabeled)
    return folder / "labeled.csv", folder / "unlabeled.csv"


def with_unreadable_clips(manifest: Path | None, folder: Path, count: int, labels: str = "") -> Path:
    """A copy of ``manifest`` (or an empty one) plus ``count`` rows whose files are not audio (``labels`` on each)."""
    from semisupcon_recipe.manifest import read_manifest

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rows = [{"ID": item_id, **row} for item_id, row in read_manifest(manifest).items()] if manifest else []
    for index in range(count):
        path = folder / f"unreadable{index}.wav"
        path.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk" * 8)
        rows.append({"ID": f"unreadable{index}", "duration": 1.5, "wav": str(path), "labels": labels})
    path = folder / f"{Path(manifest).stem if manifest else 'only'}_with_{count}_unreadable.csv"
    write_manifest(path, rows)
    return path
