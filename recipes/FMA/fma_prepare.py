"""Prepare the Free Music Archive (FMA) as an unlabeled pool for pretraining.

Reads the dataset as distributed: an audio archive ``fma_small/``, ``fma_medium/``,
``fma_large/`` or ``fma_full/`` (folders ``000`` .. ``155`` of ``<track id, 6 digits>.mp3``,
e.g. ``000/000002.mp3``) and ``fma_metadata/tracks.csv``. That table is pandas'
``to_csv`` of a two-level column index (the FMA repository's ``utils.load`` reads it
with ``header=[0, 1], index_col=0``), so its header spans three rows: column level 1
(``album``, ``artist``, ``set``, ``track``), level 2 (``title``, ``split``,
``subset``...), then ``track_id``. The column ``(set, subset)`` says the smallest
subset a track belongs to (``small``, ``medium`` or ``large``): the medium subset is
the tracks marked ``small`` or ``medium``; large and full are every track (full holds
the untrimmed audio). ``(set, split)`` is the official artist-disjoint split
(``training``, ``validation``, ``test``); its counts are logged. SemiSupCon pretrains
on fma_medium (25,000 tracks, all of its training/validation/test parts).

Output: ``unlabeled.csv`` in ``save_folder``, every row with an empty ``labels`` cell.
FMA has some mp3 files that do not decode or hold no audio: they are skipped and their
track ids logged, never a crash. Known-bad ids can also be left out up front with
``exclude_file`` (one track id per line). A listed track whose file is missing stops
the preparation with an error naming it (wrong ``subset`` for the archive?).

Command::

    python recipes/FMA/fma_prepare.py --data_folder /data/fma --save_folder results/fma/manifests --subset medium
"""

from __future__ import annotations

import argparse
import csv
import logging
from collections import Counter
from pathlib import Path
from typing import Sequence

from semisupcon_recipe.manifest import write_manifest
from semisupcon_recipe.preparation import (
    DatasetLayoutError, layout_mismatch, prepared_with, read_excluded_ids, readable_audio_row, record_options,
    require_file, run_prepare_command,
)

logger = logging.getLogger(__name__)

METADATA_FILE = Path("fma_metadata") / "tracks.csv"
SUBSET_COLUMN = ("set", "subset")
SPLIT_COLUMN = ("set", "split")
SUBSETS = ("small", "medium", "large")
OFFICIAL_SPLITS = ("training", "validation", "test")
INDEX_NAME = "track_id"
SUBSET_MEMBERS = {
    "small": ("small",),
    "medium": ("small", "medium"),
    "large": ("small", "medium", "large"),
    "full": ("small", "medium", "large"),
}
MANIFEST_NAME = "unlabeled.csv"
ID_DIGITS = 6
FOLDER_DIGITS = 3
OPTIONS_FILE = "fma_prepare_options.json"


def read_track_sets(path: str | Path) -> dict[int, tuple[str, str]]:
    """Map each track id of ``tracks.csv`` to its ``(set, subset)`` and ``(set, split)`` values.

    Raises
    ------
    DatasetLayoutError
        Missing file, a header without the ``(set, subset)`` / ``(set, split)`` columns
        or the ``track_id`` row, a row with a bad id or too few fields, or a subset or
        split value FMA does not use; names file and line.

    Example
    -------
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "tracks.csv")
    >>> _ = open(path, "w").write(",set,set,track\\n,split,subset,title\\ntrack_id,,,\\n"
    ...                           "2,training,small,Food\\n140,validation,medium,Queen\\n")
    >>> read_track_sets(path)
    {2: ('small', 'training'), 140: ('medium', 'validation')}
    """
    path = require_file(path, "FMA's metadata table fma_metadata/tracks.csv (from fma_metadata.zip)")
    sets = {}
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        level_1, level_2, index_row = (next(reader, []) for _ in range(3))
        filled, last = [], ""
        for name in level_1:
            last = name or last
            filled.append(last)
        columns = list(zip(filled, level_2))
        if not {SUBSET_COLUMN, SPLIT_COLUMN} <= set(columns) or not index_row or index_row[0] != INDEX_NAME:
            raise DatasetLayoutError(
                f"{path}, lines 1-3: expected FMA's three-row header with columns {SUBSET_COLUMN} and "
                f"{SPLIT_COLUMN} and '{INDEX_NAME}' starting line 3; use the official fma_metadata/tracks.csv"
            )
        subset_column, split_column = columns.index(SUBSET_COLUMN), columns.index(SPLIT_COLUMN)
        for row in reader:
            if not row:
                continue
            if len(row) <= max(subset_column, split_column) or not row[0].strip().isdigit():
                raise DatasetLayoutError(
                    f"{path}, line {reader.line_num}: expected a numeric track id and {len(columns)} fields, "
                    f"found {len(row)} field(s) starting {row[:1]}"
                )
            subset, split = row[subset_column].strip(), row[split_column].strip()
            if subset not in SUBSETS or split not in OFFICIAL_SPLITS:
                raise DatasetLayoutError(
                    f"{path}, line {reader.line_num} (track {row[0]}): expected a subset in {SUBSETS} and a split in "
                    f"{OFFICIAL_SPLITS}, found {subset!r} and {split!r}"
                )
            sets[int(row[0])] = (subset, split)
    return sets


def track_audio_path(audio_folder: str | Path, track_id: int) -> Path:
    """Where FMA stores a track: ``<folder>/<first 3 digits>/<6-digit id>.mp3``.

    Example
    -------
    >>> track_audio_path("fma_medium", 140).as_posix()
    'fma_medium/000/000140.mp3'
    """
    name = f"{track_id:0{ID_DIGITS}d}"
    return Path(audio_folder) / name[:FOLDER_DIGITS] / f"{name}.mp3"


def prepare_fma(
    data_folder: str | Path,
    save_folder: str | Path,
    subset: str = "medium",
    exclude_file: str | Path | None = None,
    skip_prep: bool = False,
) -> dict[str, Path]:
    """Write ``unlabeled.csv``: every readable track of an FMA subset, labels empty.

    Parameters
    ----------
    data_folder : str or Path
        Folder holding ``fma_metadata/`` and the audio archive ``fma_<subset>/``.
    save_folder : str or Path
        Output folder for the manifest.
    subset : str
        ``small``, ``medium`` (the paper), ``large`` or ``full``.
    exclude_file : str or Path, optional
        Track ids to leave out, one per line.
    skip_prep : bool
        If True, only return the manifest path (SpeechBrain convention).

    Returns
    -------
    dict
        ``{"unlabeled": path}``.

    Example
    -------
    >>> prepare_fma("/data/fma", "/tmp/fma", skip_prep=True)["unlabeled"].name
    'unlabeled.csv'
    """
    save_folder = Path(save_folder)
    manifest = save_folder / MANIFEST_NAME
    if skip_prep:
        return {manifest.stem: manifest}
    if subset not in SUBSET_MEMBERS:
        raise ValueError(f"unknown FMA subset {subset!r}; use one of {tuple(SUBSET_MEMBERS)}")
    data_folder = Path(data_folder).expanduser().absolute()
    exclude_file = Path(exclude_file).expanduser().absolute() if exclude_file is not None else None
    options = {"data_folder": str(data_folder), "subset": subset, "exclude_file": exclude_file and str(exclude_file)}
    if prepared_with(save_folder / OPTIONS_FILE, [manifest], options):
        logger.info("FMA manifest %s already exists, skipping preparation", manifest)
        return {manifest.stem: manifest}
    audio_folder = data_folder / f"fma_{subset}"
    if not audio_folder.is_dir() or not (data_folder / METADATA_FILE).is_file():
        raise layout_mismatch(
            data_folder, f"{METADATA_FILE.as_posix()} and fma_{subset}/<first 3 digits>/<6-digit track id>.mp3 "
            f"(fma_metadata.zip and fma_{subset}.zip unzipped side by side)"
        )
    excluded = read_excluded_ids(exclude_file) if exclude_file is not None else set()
    track_sets = read_track_sets(data_folder / METADATA_FILE)
    track_ids = sorted(
        track_id for track_id, (track_subset, _) in track_sets.items()
        if track_subset in SUBSET_MEMBERS[subset] and track_id not in excluded
    )

    rows, unreadable = [], []
    for track_id in track_ids:
        name = f"{track_id:0{ID_DIGITS}d}"
        path = require_file(
            track_audio_path(audio_folder, track_id), f"track {name} of the {subset} subset (per {METADATA_FILE})"
        )
        row = readable_audio_row(name, path)
        if row is None:
            unreadable.append(name)
        else:
            rows.append(row)
    write_manifest(manifest, rows)
    split_counts = Counter(track_sets[int(row["ID"])][1] for row in rows)
    logger.info(
        "FMA %s: %d tracks in %s (official split: %s; %d excluded by list)", subset, len(rows), manifest,
        ", ".join(f"{split} {split_counts[split]}" for split in OFFICIAL_SPLITS), len(excluded),
    )
    if unreadable:
        logger.warning("FMA: skipped %d unreadable mp3 file(s), track ids: %s", len(unreadable), ", ".join(unreadable))
    record_options(save_folder / OPTIONS_FILE, options)
    return {manifest.stem: manifest}


def main(argv: Sequence[str] | None = None) -> None:
    """Command line: ``--data_folder``, ``--save_folder``, ``--subset``, ``--exclude_file``."""
    parser = argparse.ArgumentParser(description="Prepare an FMA subset as an unlabeled manifest.")
    parser.add_argument("--data_folder", required=True, help="folder holding fma_metadata/ and fma_<subset>/")
    parser.add_argument("--save_folder", required=True, help="output folder for unlabeled.csv")
    parser.add_argument("--subset", choices=tuple(SUBSET_MEMBERS), default="medium", help="which FMA subset")
    parser.add_argument("--exclude_file", default=None, help="text file of track ids to leave out")
    args = parser.parse_args(argv)
    run_prepare_command(
        lambda: prepare_fma(args.data_folder, args.save_folder, subset=args.subset, exclude_file=args.exclude_file),
        reported_errors=(DatasetLayoutError, ValueError),
    )


if __name__ == "__main__":
    main()
