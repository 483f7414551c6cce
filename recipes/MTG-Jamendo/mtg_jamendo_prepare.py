"""Prepare MTG-Jamendo manifests for the four auto-tagging tasks.

Reads the official split files of the dataset's repository (``mtg-jamendo-dataset``):
``data/splits/split-<k>/autotagging_<task>-{train,validation,test}.tsv`` for the tasks
``top50tags``, ``genre``, ``moodtheme`` and ``instrument``. Each file is tab-separated
with the header ``TRACK_ID ARTIST_ID ALBUM_ID PATH DURATION TAGS``; a row carries its
tags (``genre---rock``, ``mood/theme---happy``, ``instrument---piano``) as *extra*
tab-separated fields after ``DURATION``, so rows are longer than the header.

Audio is the full-quality ``audio/`` download (``PATH`` as is, e.g. ``48/948.mp3``) or
the low-quality ``audio-low/`` one (``48/948.low.mp3``). Tags are written verbatim
(category prefix included), ``;``-joined. The paper uses ``split-0``.

Output, per task: ``train_<task>.csv``, ``valid_<task>.csv``, ``test_<task>.csv`` in
``save_folder``. A present but undecodable mp3 is skipped and its track id logged; a
missing one stops the preparation with an error naming it.

Command::

    python recipes/MTG-Jamendo/mtg_jamendo_prepare.py \\
        --data_folder /data/mtg-jamendo-dataset --save_folder results/jamendo/manifests
"""

from __future__ import annotations

import argparse
import csv
import logging
from pathlib import Path
from typing import NamedTuple, Sequence

from semisupcon_recipe.manifest import write_manifest
from semisupcon_recipe.preparation import (
    DatasetLayoutError, layout_mismatch, prepared_with, readable_audio_row, record_options, require_file,
    run_prepare_command,
)

logger = logging.getLogger(__name__)

TASKS = ("top50tags", "genre", "moodtheme", "instrument")
SPLIT_FILE_NAMES = {"train": "train", "valid": "validation", "test": "test"}
HEADER = ("TRACK_ID", "ARTIST_ID", "ALBUM_ID", "PATH", "DURATION", "TAGS")
DEFAULT_SPLIT_INDEX = 0
LOW_QUALITY_SUFFIX = ".low.mp3"
OPTIONS_FILE = "mtg_jamendo_prepare_options.json"


class JamendoTrack(NamedTuple):
    """One row of a split file: track id, relative audio path, tags."""

    track_id: str
    path: str
    tags: tuple[str, ...]


def split_file(data_folder: str | Path, task: str, split: str, split_index: int = DEFAULT_SPLIT_INDEX) -> Path:
    """Path of the official split file of ``task`` and ``split`` (train/valid/test).

    Example
    -------
    >>> split_file("/data/mtg-jamendo-dataset", "genre", "valid").as_posix()
    '/data/mtg-jamendo-dataset/data/splits/split-0/autotagging_genre-validation.tsv'
    """
    if task not in TASKS:
        raise ValueError(f"unknown MTG-Jamendo task {task!r}; use one of {TASKS}")
    name = f"autotagging_{task}-{SPLIT_FILE_NAMES[split]}.tsv"
    return Path(data_folder) / "data" / "splits" / f"split-{split_index}" / name


def read_split_file(path: str | Path) -> list[JamendoTrack]:
    """Read one ``autotagging_*.tsv`` split file.

    Raises
    ------
    DatasetLayoutError
        Missing file, a header other than ``TRACK_ID ARTIST_ID ALBUM_ID PATH DURATION
        TAGS``, or a row without tags; the message names the file and line.

    Example
    -------
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "autotagging_genre-test.tsv")
    >>> _ = open(path, "w").write("TRACK_ID\\tARTIST_ID\\tALBUM_ID\\tPATH\\tDURATION\\tTAGS\\n"
    ...     "track_0000948\\tartist_000087\\talbum_000149\\t48/948.mp3\\t212.7\\tgenre---rock\\tgenre---pop\\n")
    >>> read_split_file(path)
    [JamendoTrack(track_id='track_0000948', path='48/948.mp3', tags=('genre---rock', 'genre---pop'))]
    """
    path = require_file(path, "an MTG-Jamendo split file from the dataset repository's data/splits/ folder")
    tracks = []
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = tuple(field.strip() for field in next(reader, []))
        if header != HEADER:
            raise DatasetLayoutError(f"{path}, line 1: expected the header {'<TAB>'.join(HEADER)}, found {'<TAB>'.join(header)}")
        for row in reader:
            if not row:
                continue
            tags = tuple(dict.fromkeys(field.strip() for field in row[len(HEADER) - 1:] if field.strip()))
            if not tags:
                raise DatasetLayoutError(
                    f"{path}, line {reader.line_num}: track {row[0]!r} has no tags after the {HEADER[-2]} column; "
                    f"expected at least one tab-separated tag like genre---rock"
                )
            tracks.append(JamendoTrack(row[0], row[3], tags))
    return tracks


def audio_path(audio_folder: str | Path, relative_path: str, low_quality: bool = False) -> Path:
    """Audio file of a ``PATH`` cell, in the full or the low-quality download.

    Example
    -------
    >>> audio_path("/data/audio-low", "48/948.mp3", low_quality=True).as_posix()
    '/data/audio-low/48/948.low.mp3'
    """
    if low_quality:
        relative_path = relative_path.removesuffix(".mp3") + LOW_QUALITY_SUFFIX
    return Path(audio_folder) / relative_path


def prepare_mtg_jamendo(
    data_folder: str | Path,
    save_folder: str | Path,
    tasks: Sequence[str] = TASKS,
    split_index: int = DEFAULT_SPLIT_INDEX,
    audio_folder: str | Path | None = None,
    low_quality: bool = False,
    skip_prep: bool = False,
) -> dict[str, Path]:
    """Write the MTG-Jamendo manifests ``{train,valid,test}_<task>.csv`` for each task.

    Parameters
    ----------
    data_folder : str or Path
        Root of the ``mtg-jamendo-dataset`` repository (holds ``data/splits/``).
    save_folder : str or Path
        Output folder for the manifests.
    tasks : sequence of str
        Any of ``top50tags``, ``genre``, ``moodtheme``, ``instrument``.
    split_index : int
        Which of the official splits ``split-0`` .. ``split-4`` (the paper: 0).
    audio_folder : str or Path, optional
        Folder of the audio download (``00/`` .. ``99/``); defaults to
        ``<data_folder>/audio`` (or ``<data_folder>/audio-low`` if ``low_quality``).
    low_quality : bool
        Use the low-quality download, whose files end in ``.low.mp3``.
    skip_prep : bool
        If True, only return the manifest paths (SpeechBrain convention).

    Returns
    -------
    dict
        ``{"train_genre": path, ...}``, keyed by file stem.

    Example
    -------
    >>> prepare_mtg_jamendo("/data/mtg-jamendo-dataset", "/tmp/jamendo", skip_prep=True)["test_moodtheme"].name
    'test_moodtheme.csv'
    """
    save_folder = Path(save_folder)
    manifests = {f"{split}_{task}": save_folder / f"{split}_{task}.csv" for task in tasks for split in SPLIT_FILE_NAMES}
    if skip_prep:
        return manifests
    data_folder = Path(data_folder).expanduser().absolute()
    if audio_folder is None:
        audio_folder = data_folder / ("audio-low" if low_quality else "audio")
    audio_folder = Path(audio_folder).expanduser().absolute()
    options = {"data_folder": str(data_folder), "tasks": list(tasks), "split_index": split_index,
               "audio_folder": str(audio_folder), "low_quality": low_quality}
    if prepared_with(save_folder / OPTIONS_FILE, manifests.values(), options):
        logger.info("MTG-Jamendo manifests already in %s, skipping preparation", save_folder)
        return manifests
    if not split_file(data_folder, TASKS[0], "train", split_index).parent.is_dir():
        raise layout_mismatch(
            data_folder,
            f"data/splits/split-{split_index}/autotagging_<task>-<train|validation|test>.tsv "
            f"(data_folder is the root of the mtg-jamendo-dataset repository)",
        )
    _check_audio_folder(audio_folder, low_quality)

    split_tracks = {
        (task, split): read_split_file(split_file(data_folder, task, split, split_index))
        for task in tasks for split in SPLIT_FILE_NAMES
    }
    audio_rows: dict[str, dict | None] = {}
    for (task, split), tracks in split_tracks.items():
        rows = []
        for track in tracks:
            if track.track_id not in audio_rows:
                audio_rows[track.track_id] = _audio_row_or_none(track, audio_path(audio_folder, track.path, low_quality))
            if audio_rows[track.track_id] is not None:
                rows.append({**audio_rows[track.track_id], "labels": list(track.tags)})
        write_manifest(manifests[f"{split}_{task}"], rows)
        logger.info("MTG-Jamendo %s %s: %d tracks", task, split, len(rows))
    unreadable = [track_id for track_id, row in audio_rows.items() if row is None]
    if unreadable:
        logger.warning("MTG-Jamendo: skipped %d undecodable mp3 file(s), tracks: %s", len(unreadable), ", ".join(unreadable))
    record_options(save_folder / OPTIONS_FILE, options)
    return manifests


def _check_audio_folder(audio_folder: Path, low_quality: bool) -> None:
    """Refuse an audio folder that is not the unpacked download (``00/`` .. ``99/``), naming what is there."""
    download_type = "audio-low" if low_quality else "audio"
    expected = (
        f"the unpacked {download_type} download, folders 00/ .. 99/ holding <id>"
        f"{LOW_QUALITY_SUFFIX if low_quality else '.mp3'} (scripts/download/download.py --type {download_type} "
        f"{audio_folder} --unpack; or pass --audio_folder)"
    )
    if not audio_folder.is_dir() or not any(child.is_dir() and len(child.name) == 2 and child.name.isdigit()
                                            for child in audio_folder.iterdir()):
        raise layout_mismatch(audio_folder, expected)


def _audio_row_or_none(track: JamendoTrack, path: Path) -> dict | None:
    """The manifest row of a track, or None if its audio is present but undecodable."""
    require_file(path, f"the audio of {track.track_id} (PATH {track.path} in the split files)")
    return readable_audio_row(track.track_id, path)


def main(argv: Sequence[str] | None = None) -> None:
    """Command line: ``--data_folder``, ``--save_folder`` and the options of :func:`prepare_mtg_jamendo`."""
    parser = argparse.ArgumentParser(description="Prepare MTG-Jamendo auto-tagging manifests.")
    parser.add_argument("--data_folder", required=True, help="root of the mtg-jamendo-dataset repository")
    parser.add_argument("--save_folder", required=True, help="output folder for the manifests")
    parser.add_argument("--tasks", nargs="+", choices=TASKS, default=list(TASKS), help="tasks to prepare")
    parser.add_argument("--split_index", type=int, default=DEFAULT_SPLIT_INDEX, help="official split number")
    parser.add_argument("--audio_folder", default=None, help="audio download folder (default <data_folder>/audio)")
    parser.add_argument("--low_quality", action="store_true", help="use the audio-low download (*.low.mp3)")
    args = parser.parse_args(argv)
    run_prepare_command(
        lambda: prepare_mtg_jamendo(
            args.data_folder, args.save_folder, tasks=args.tasks, split_index=args.split_index,
            audio_folder=args.audio_folder, low_quality=args.low_quality,
        )
    )


if __name__ == "__main__":
    main()
