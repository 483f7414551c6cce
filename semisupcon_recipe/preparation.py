"""Shared pieces of the ``recipes/<Dataset>/<dataset>_prepare.py`` scripts.

A prepare script reads a dataset's official on-disk layout and writes one manifest
per split with :func:`semisupcon_recipe.manifest.write_manifest`. What it must not do
is guess: a missing file or a malformed annotation stops it with a
:class:`DatasetLayoutError` naming the file and what was expected there.
"""

from __future__ import annotations

from pathlib import Path

from semisupcon_recipe.audio import AudioError, audio_duration


class DatasetLayoutError(FileNotFoundError):
    """A dataset folder does not match the official layout; names the file and the fix."""


def require_file(path: str | Path, what: str) -> Path:
    """Return ``path`` if it is a file, else raise naming it and what it should hold.

    Example
    -------
    >>> require_file("/nonexistent/annotations.csv", "the tag annotations")
    Traceback (most recent call last):
    ...
    semisupcon_recipe.preparation.DatasetLayoutError: missing /nonexistent/annotations.csv: expected the tag annotations there (is data_folder the dataset's root?)
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetLayoutError(f"missing {path}: expected {what} there (is data_folder the dataset's root?)")
    return path


def require_folder(path: str | Path, what: str) -> Path:
    """Return ``path`` if it is a folder, else raise naming it and what it should hold.

    Example
    -------
    >>> import tempfile
    >>> require_folder(tempfile.gettempdir(), "anything").is_dir()
    True
    """
    path = Path(path)
    if not path.is_dir():
        raise DatasetLayoutError(f"missing folder {path}: expected {what} there (is data_folder the dataset's root?)")
    return path


def audio_row(item_id: str, wav_path: str | Path, labels: str | list[str] = "", **extra: object) -> dict:
    """One manifest row for an audio file, its duration read from the file header.

    Raises :class:`DatasetLayoutError` if the audio file is missing or unreadable.

    Example
    -------
    >>> import tempfile, os, numpy, soundfile
    >>> path = os.path.join(tempfile.mkdtemp(), "x.wav")
    >>> soundfile.write(path, numpy.zeros(16000, dtype="float32"), 16000)
    >>> row = audio_row("x", path, ["piano"], split="train")
    >>> row["duration"], row["labels"], row["split"]
    (1.0, ['piano'], 'train')
    """
    path = Path(wav_path)
    if not path.is_file():
        raise DatasetLayoutError(f"missing audio file {path} listed in the annotations; re-download or remove it")
    try:
        duration = audio_duration(path)
    except AudioError as error:
        raise DatasetLayoutError(str(error)) from error
    return {"ID": item_id, "duration": round(duration, 4), "wav": str(path), "labels": labels, **extra}
