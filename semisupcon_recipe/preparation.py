"""Shared pieces of the ``recipes/<Dataset>/<dataset>_prepare.py`` scripts.

A prepare script reads a dataset's official on-disk layout and writes one manifest
per split with :func:`semisupcon_recipe.manifest.write_manifest`. What it must not do
is guess: a missing file or a malformed annotation stops it with a
:class:`DatasetLayoutError` naming the file and what was expected there.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Callable, Iterable

from semisupcon_recipe.audio import AudioError, audio_duration

logger = logging.getLogger(__name__)


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


def layout_mismatch(data_folder: str | Path, expected: str, limit: int = 12) -> DatasetLayoutError:
    """The error for a data_folder without the expected layout: what was expected, what is there.

    ``expected`` describes the layout in words; the message lists the folder's entries
    (folders with a trailing ``/``, at most ``limit`` of them) so that the user sees
    what they pointed at.

    Example
    -------
    >>> import tempfile, pathlib
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> (root / "Data").mkdir(); _ = (root / "notes.txt").write_text("")
    >>> print(str(layout_mismatch(root, "genres/<genre>/*.wav")).replace(str(root), "ROOT"))
    ROOT does not have the expected layout: expected genres/<genre>/*.wav; found Data/, notes.txt
    >>> print(str(layout_mismatch(root / "absent", "genres/")).replace(str(root), "ROOT"))
    ROOT/absent does not have the expected layout: expected genres/; found no such folder
    """
    data_folder = Path(data_folder)
    if not data_folder.is_dir():
        found = "no such folder"
    else:
        entries = sorted(f"{entry.name}/" if entry.is_dir() else entry.name for entry in data_folder.iterdir())
        found = ", ".join(entries[:limit]) or "an empty folder"
        if len(entries) > limit:
            found += f" (and {len(entries) - limit} more)"
    return DatasetLayoutError(f"{data_folder} does not have the expected layout: expected {expected}; found {found}")


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


def readable_audio_row(
    item_id: str, wav_path: str | Path, labels: str | list[str] = "", **extra: object
) -> dict | None:
    """The :func:`audio_row` of a file, or None if it exists but does not decode or holds no audio.

    Datasets such as FMA ship a few broken mp3 files; a prepare script skips them (and
    logs their ids) rather than stopping. A missing file still raises
    :class:`DatasetLayoutError`, as in :func:`audio_row`.

    Example
    -------
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "broken.mp3")
    >>> _ = open(path, "wb").write(b"not an mp3 " * 64)
    >>> readable_audio_row("broken", path) is None
    True
    >>> readable_audio_row("gone", "/nonexistent/gone.mp3")
    Traceback (most recent call last):
    ...
    semisupcon_recipe.preparation.DatasetLayoutError: missing audio file /nonexistent/gone.mp3 listed in the annotations; re-download or remove it
    """
    try:
        row = audio_row(item_id, wav_path, labels, **extra)
    except DatasetLayoutError:
        if not Path(wav_path).is_file():
            raise
        return None
    return row if row["duration"] > 0 else None


def read_excluded_ids(path: str | Path) -> set[int]:
    """Numeric item ids to leave out (FMA track ids, MagnaTagATune clip ids), one per line.

    Leading zeros are allowed and blank lines ignored.

    Example
    -------
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "broken.txt")
    >>> _ = open(path, "w").write("001486\\n\\n5574\\n")
    >>> sorted(read_excluded_ids(path))
    [1486, 5574]
    """
    path = require_file(path, "a list of ids to exclude, one per line")
    excluded = set()
    for line_number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        if not line.strip().isdigit():
            raise DatasetLayoutError(f"{path}, line {line_number}: {line.strip()!r} is not a numeric id")
        excluded.add(int(line))
    return excluded


def prepared_with(options_file: str | Path, outputs: Iterable[Path], options: dict) -> bool:
    """True if every output exists and ``options_file`` records these same options.

    A prepare script calls this first and skips its work when it returns True; after
    writing its outputs it calls :func:`record_options`. Options are compared as JSON
    (tuples and lists are the same); different options are logged and give False.

    Example
    -------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> manifest, options_file = folder / "train.csv", folder / "options.json"
    >>> prepared_with(options_file, [manifest], {"seed": 1})
    False
    >>> _ = manifest.write_text("ID,duration,wav,labels\\n")
    >>> record_options(options_file, {"seed": 1, "ratios": (0.8, 0.2)})
    >>> prepared_with(options_file, [manifest], {"seed": 1, "ratios": [0.8, 0.2]})
    True
    >>> prepared_with(options_file, [manifest], {"seed": 2, "ratios": [0.8, 0.2]})
    False
    """
    options_file = Path(options_file)
    if not options_file.is_file() or not all(path.is_file() for path in outputs):
        return False
    if json.loads(options_file.read_text()) == json.loads(json.dumps(options)):
        return True
    logger.info("manifests in %s were written with other options; preparing them again", options_file.parent)
    return False


def record_options(options_file: str | Path, options: dict) -> None:
    """Write the options a preparation ran with, read back by :func:`prepared_with`.

    Example
    -------
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "options.json")
    >>> record_options(path, {"data_folder": "/data/x", "seed": 1})
    >>> open(path).read()
    '{\\n "data_folder": "/data/x",\\n "seed": 1\\n}'
    """
    Path(options_file).write_text(json.dumps(options, indent=1))


def run_prepare_command(
    prepare: Callable[[], object], reported_errors: tuple[type[Exception], ...] = (DatasetLayoutError,)
) -> None:
    """Run a prepare script's work from its ``main``: log INFO to stderr, bad input exits 2.

    ``prepare`` is called with no argument (bind the parsed options with a lambda). An
    error of a ``reported_errors`` type ends the program with ``error: <message>`` on
    stderr and exit status 2 (bad input, the rule of every command of the project)
    instead of a traceback.

    Example
    -------
    >>> def prepare():
    ...     require_file("/nonexistent/tracks.csv", "the metadata table")
    >>> try:
    ...     run_prepare_command(prepare)
    ... except SystemExit as exit:
    ...     print(exit.code, exit)
    2 error: missing /nonexistent/tracks.csv: expected the metadata table there (is data_folder the dataset's root?)
    """
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    try:
        prepare()
    except reported_errors as error:
        print(f"error: {error}", file=sys.stderr)
        raise BadInputExit(f"error: {error}") from None


class BadInputExit(SystemExit):
    """Exit status 2 for bad input; ``str()`` is the message already printed on stderr."""

    def __init__(self, message: str) -> None:
        super().__init__(2)
        self.message = message

    def __str__(self) -> str:
        return self.message
