"""Prepare EmoMusic manifests (static arousal/valence regression, MediaEval 2013 split).

EmoMusic ("1000 Songs for Emotional Analysis of Music", Soleymani et al. 2013) has
45-second clips with static (whole-clip) arousal and valence ratings on a 1..9 scale.
Of the 1000 clips, 744 remain after the authors removed duplicates; only those have
annotations. The split is the official one of ``songs_info.csv``'s ``Mediaeval 2013
set`` column: ``development`` clips are train + valid (a seeded ``valid_fraction``
hold-out), ``evaluation`` clips are test. Labels are ``"<mean_arousal>;<mean_valence>"``
(two-output regression).

Expected layout: the two archives of the emoMusic page extracted into one folder
(``clips_45sec.tar.gz`` unpacks to ``clips_45seconds/``, ``annotations.tar.gz`` to its
CSV files, without a folder)::

    data_folder/
      clips_45seconds/<song_id>.mp3
      songs_info.csv                 song_id,file_name,Artist,Song title,...,Genre,Mediaeval 2013 set
      static_annotations.csv         song_id,mean_arousal,std_arousal,mean_valence,std_valence
      arousal_cont_average.csv ...   (the dynamic annotations; not used)

The two CSV files may also sit together in ``annotations/`` (the annotation archive
extracted into a folder of its name), and ``clips_45seconds/`` in ``clips_45sec/``
(the same for the audio archive); each CSV is looked for in ``data_folder`` first, then
in ``annotations/``.

Quirks handled: CRLF line ends; header names and values padded with spaces or tabs;
``songs_info.csv`` rows without
annotations (removed clips) are ignored; an annotation row repeated for the same song
keeps its first occurrence (a warning lists conflicting repeats); annotated songs
missing from ``songs_info.csv`` have no split and are dropped with a warning.
Preparation is skipped when the manifests exist and were written with the same options.

Run::

    python recipes/EmoMusic/emomusic_prepare.py --data_folder /data/emomusic --save_folder results/EmoMusic/manifests
"""

from __future__ import annotations

import argparse
import csv
import logging
import math
from pathlib import Path

from sklearn.model_selection import train_test_split

from semisupcon_recipe.manifest import SPLITS, write_manifest
from semisupcon_recipe.preparation import (
    DatasetLayoutError, audio_row, layout_mismatch, prepared_with, record_options, require_file, run_prepare_command,
)

logger = logging.getLogger(__name__)

OPTIONS_FILE = "emomusic_prepare_options.json"
ANNOTATION_COLUMNS = ("song_id", "mean_arousal", "mean_valence")
SET_COLUMN = "mediaeval 2013 set"
SET_NAMES = {"dev": "development", "eval": "evaluation"}
ANNOTATION_FOLDERS = (".", "annotations")
CLIP_FOLDERS = ("clips_45seconds", "clips_45sec/clips_45seconds")
EXPECTED_LAYOUT = (
    "clips_45seconds/<song_id>.mp3 (from clips_45sec.tar.gz) and songs_info.csv and static_annotations.csv "
    "(from annotations.tar.gz) beside it or in annotations/"
)


def _read_csv(path: Path) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    """Header (stripped, lower case) and ``(line number, row)`` pairs of a CSV."""
    with open(path, newline="", encoding="utf-8-sig", errors="replace") as handle:
        reader = csv.reader(handle, skipinitialspace=True)
        header = [name.strip().lower() for name in next(reader, [])]
        rows = [
            (line_number, dict(zip(header, (value.strip() for value in values))))
            for line_number, values in enumerate(reader, start=2)
            if any(value.strip() for value in values)
        ]
    return header, rows


def _song_id(text: str, path: Path, line_number: int) -> str:
    try:
        number = float(text)
    except ValueError:
        number = math.nan
    if not number.is_integer():
        raise DatasetLayoutError(f"{path}, line {line_number}: song_id {text!r} is not a whole number")
    return str(int(number))


def read_static_annotations(path: str | Path) -> dict[str, tuple[float, float]]:
    """Read ``static_annotations.csv``: ``{song_id: (mean_arousal, mean_valence)}``.

    Example
    -------
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "static_annotations.csv")
    >>> _ = open(path, "w").write("song_id, mean_arousal, std_arousal, mean_valence, std_valence\\n"
    ...                           "2,3.1,0.94,3,0.63\\n2,3.1,0.94,3,0.63\\n")
    >>> read_static_annotations(path)
    {'2': (3.1, 3.0)}
    """
    path = require_file(path, "the static arousal/valence annotations (static_annotations.csv)")
    header, rows = _read_csv(path)
    missing = [column for column in ANNOTATION_COLUMNS if column not in header]
    if missing:
        raise DatasetLayoutError(
            f"{path}: missing column(s) {missing}; expected a header like "
            f"'song_id, mean_arousal, std_arousal, mean_valence, std_valence' (found {header})"
        )
    annotations: dict[str, tuple[float, float]] = {}
    conflicting = []
    for line_number, row in rows:
        song_id = _song_id(row.get("song_id") or "", path, line_number)
        try:
            values = (float(row.get("mean_arousal") or "nan"), float(row.get("mean_valence") or "nan"))
        except ValueError:
            values = (math.nan, math.nan)
        if not all(math.isfinite(value) for value in values):
            raise DatasetLayoutError(
                f"{path}, line {line_number}: mean_arousal {row.get('mean_arousal')!r} and mean_valence "
                f"{row.get('mean_valence')!r} must both be numbers"
            )
        if song_id in annotations:
            if annotations[song_id] != values:
                conflicting.append(song_id)
            continue
        annotations[song_id] = values
    if conflicting:
        logger.warning("%s: songs annotated twice with different values, first kept: %s", path, conflicting)
    return annotations


def read_song_sets(path: str | Path) -> dict[str, tuple[str, str]]:
    """Read ``songs_info.csv``: ``{song_id: (file name, "development" or "evaluation")}``.

    Example
    -------
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "songs_info.csv")
    >>> _ = open(path, "w").write('song_id,file_name,Artist,Mediaeval 2013 set\\n'
    ...                           '2,2.mp3,"Kevin MacLeod, Jr",development\\n')
    >>> read_song_sets(path)
    {'2': ('2.mp3', 'development')}
    """
    path = require_file(path, "the song list with the MediaEval 2013 split (songs_info.csv)")
    header, rows = _read_csv(path)
    if "song_id" not in header or SET_COLUMN not in header:
        raise DatasetLayoutError(
            f"{path}: expected the columns 'song_id' and 'Mediaeval 2013 set' in the header (found {header})"
        )
    song_sets = {}
    for line_number, row in rows:
        song_id = _song_id(row.get("song_id") or "", path, line_number)
        set_name = next(
            (name for prefix, name in SET_NAMES.items() if (row.get(SET_COLUMN) or "").lower().startswith(prefix)),
            None,
        )
        if set_name is None:
            raise DatasetLayoutError(
                f"{path}, line {line_number}: 'Mediaeval 2013 set' is {row.get(SET_COLUMN)!r}, "
                f"expected 'development' or 'evaluation'"
            )
        song_sets[song_id] = (row.get("file_name") or f"{song_id}.mp3", set_name)
    return song_sets


def find_emomusic_files(data_folder: str | Path) -> tuple[Path, Path, Path]:
    """The clip folder, ``static_annotations.csv`` and ``songs_info.csv`` of an extracted dataset.

    Raises :class:`DatasetLayoutError` naming the expected layout and what the folder
    holds when one of them is not where the archives put it.

    Example
    -------
    >>> import tempfile, pathlib
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> (root / "clips_45seconds").mkdir(); (root / "annotations").mkdir()
    >>> for name in ("songs_info.csv", "static_annotations.csv"):
    ...     _ = (root / "annotations" / name).write_text("song_id\\n")
    >>> [path.relative_to(root).as_posix() for path in find_emomusic_files(root)]
    ['clips_45seconds', 'annotations/static_annotations.csv', 'annotations/songs_info.csv']
    """
    data_folder = Path(data_folder)
    clip_folder = next((data_folder / name for name in CLIP_FOLDERS if (data_folder / name).is_dir()), None)
    found = [clip_folder] + [
        next((data_folder / folder / name for folder in ANNOTATION_FOLDERS if (data_folder / folder / name).is_file()), None)
        for name in ("static_annotations.csv", "songs_info.csv")
    ]
    if any(path is None for path in found):
        missing = [name for name, path in zip(("clips_45seconds/", "static_annotations.csv", "songs_info.csv"), found)
                   if path is None]
        raise DatasetLayoutError(f"{layout_mismatch(data_folder, EXPECTED_LAYOUT)} (missing: {', '.join(missing)})")
    return clip_folder, found[1], found[2]


def prepare_emomusic(
    data_folder: str | Path,
    save_folder: str | Path,
    valid_fraction: float = 0.1,
    seed: int = 1234,
    skip_prep: bool = False,
) -> dict[str, Path]:
    """Write ``train.csv``, ``valid.csv`` and ``test.csv`` for EmoMusic regression.

    Parameters
    ----------
    data_folder : str or Path
        The extracted dataset (see the module docstring).
    save_folder : str or Path
        Where the manifests go.
    valid_fraction : float
        Seeded fraction of the development songs held out for validation.
    seed : int
        Seed of the validation hold-out.
    skip_prep : bool
        Do nothing (manifests prepared elsewhere).

    Returns
    -------
    dict
        ``{split: manifest path}``.

    Example
    -------
    >>> prepare_emomusic("/nonexistent", "/tmp/unused", skip_prep=True)["valid"].name
    'valid.csv'
    """
    save_folder = Path(save_folder)
    manifests = {split: save_folder / f"{split}.csv" for split in SPLITS}
    if skip_prep:
        return manifests
    data_folder = Path(data_folder).expanduser().absolute()
    options = {"data_folder": str(data_folder), "valid_fraction": valid_fraction, "seed": seed}
    if prepared_with(save_folder / OPTIONS_FILE, manifests.values(), options):
        logger.info("EmoMusic manifests already exist in %s, skipping preparation", save_folder)
        return manifests
    clip_folder, annotations_path, songs_path = find_emomusic_files(data_folder)
    annotations = read_static_annotations(annotations_path)
    song_sets = read_song_sets(songs_path)

    without_set = sorted(set(annotations) - set(song_sets), key=int)
    if without_set:
        logger.warning("annotated songs missing from songs_info.csv (no split, dropped): %s", without_set)
    unannotated = len(set(song_sets) - set(annotations))
    logger.info("ignoring %d songs of songs_info.csv without static annotations (removed clips)", unannotated)
    annotated = sorted((song_id for song_id in annotations if song_id in song_sets), key=int)
    development = [song_id for song_id in annotated if song_sets[song_id][1] == "development"]
    train_ids, valid_ids = train_test_split(development, test_size=valid_fraction, random_state=seed)
    split_ids = {
        "train": sorted(train_ids, key=int),
        "valid": sorted(valid_ids, key=int),
        "test": [song_id for song_id in annotated if song_sets[song_id][1] == "evaluation"],
    }
    for split, path in manifests.items():
        rows = [
            audio_row(song_id, clip_folder / song_sets[song_id][0], [str(value) for value in annotations[song_id]])
            for song_id in split_ids[split]
        ]
        write_manifest(path, rows)
        logger.info("wrote %s (%d songs)", path, len(rows))
    record_options(save_folder / OPTIONS_FILE, options)
    return manifests


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point; see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data_folder", required=True, help="folder with clips_45seconds/, songs_info.csv and static_annotations.csv")
    parser.add_argument("--save_folder", required=True, help="where train.csv, valid.csv and test.csv go")
    parser.add_argument("--valid_fraction", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=1234)
    args = parser.parse_args(argv)
    run_prepare_command(lambda: prepare_emomusic(**vars(args)))


if __name__ == "__main__":
    main()
