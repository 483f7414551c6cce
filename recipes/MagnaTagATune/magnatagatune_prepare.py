"""Prepare MagnaTagATune (MTAT) manifests for tagging: top-k tags and all tags.

Reads the dataset as distributed by its authors: the mp3 clips under the sixteen
folders ``0`` .. ``9``, ``a`` .. ``f`` and ``annotations_final.csv`` (tab-separated,
every field in double quotes, header ``clip_id``, the 188 tag names, ``mp3_path``).

Splits follow the folder protocol of CLMR and SemiSupCon: train = folders ``0`` .. ``b``
(12 folders), valid = ``c``, test = ``d`` .. ``f``.

Two tasks, each with its own manifests in ``save_folder``:

- ``top50``: the 50 most frequent tags, counted over every row of
  ``annotations_final.csv`` (all splits); ties are broken by column order, so the
  selection is deterministic. Files ``train_top50.csv``, ``valid_top50.csv``,
  ``test_top50.csv`` and the selected tags, most frequent first, in ``tags_top50.txt``.
- ``all``: every tag column (188 in the official file). Files ``train_all.csv``,
  ``valid_all.csv``, ``test_all.csv`` and ``tags_all.txt``.

A clip with no active tag among a task's tags is left out of that task's manifests:
an empty ``labels`` cell means *unlabeled* in this project's manifest contract, which
cannot express an all-negative example. (CLMR keeps such clips as all-zero targets;
the musicnn / Won et al. split drops them as we do.) The number dropped is logged.

Present but undecodable mp3 files (the official archive has three empty ones) are
skipped and their clip ids logged; a missing mp3 stops the preparation with an error
naming it.

Command::

    python recipes/MagnaTagATune/magnatagatune_prepare.py \\
        --data_folder /data/MagnaTagATune --save_folder results/MagnaTagATune/manifests
"""

from __future__ import annotations

import argparse
import csv
import logging
from collections import Counter
from pathlib import Path
from typing import NamedTuple, Sequence

from semisupcon_recipe.manifest import write_manifest
from semisupcon_recipe.preparation import (
    DatasetLayoutError, layout_mismatch, prepared_with, read_excluded_ids, readable_audio_row, record_options,
    require_file, run_prepare_command,
)

logger = logging.getLogger(__name__)

ANNOTATIONS_FILE = "annotations_final.csv"
ID_COLUMN = "clip_id"
PATH_COLUMN = "mp3_path"
SPLIT_FOLDERS = {"train": "0123456789ab", "valid": "c", "test": "def"}
DEFAULT_TOP_K = 50
ALL_TAGS_TASK = "all"
OPTIONS_FILE = "magnatagatune_prepare_options.json"
EXPECTED_LAYOUT = (
    "annotations_final.csv beside the mp3 folders 0/ .. 9/, a/ .. f/ (mp3.zip.001-003 joined and unzipped into "
    "the folder of annotations_final.csv)"
)


class TaggedClip(NamedTuple):
    """One row of ``annotations_final.csv``: its id, relative mp3 path and active tags."""

    clip_id: str
    mp3_path: str
    tags: tuple[str, ...]


def read_annotations(path: str | Path) -> tuple[list[str], list[TaggedClip]]:
    """Read ``annotations_final.csv`` into the tag names and the tagged clips.

    Parameters
    ----------
    path : str or Path
        The official annotations file (tab-separated, quoted fields).

    Returns
    -------
    tag_names : list of str
        Tag columns in file order.
    clips : list of TaggedClip
        One per row, with the tags whose cell is ``1``.

    Raises
    ------
    DatasetLayoutError
        Missing file, a header without ``clip_id`` first and ``mp3_path`` last, a row
        with the wrong number of fields, a clip id that is not a number, or a tag cell
        that is not ``0`` or ``1``; the message names the file and line.

    Example
    -------
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "annotations_final.csv")
    >>> _ = open(path, "w").write(
    ...     '"clip_id"\\t"no voice"\\t"guitar"\\t"mp3_path"\\n'
    ...     '"2"\\t"0"\\t"1"\\t"f/a-b-01-x-30-59.mp3"\\n')
    >>> read_annotations(path)
    (['no voice', 'guitar'], [TaggedClip(clip_id='2', mp3_path='f/a-b-01-x-30-59.mp3', tags=('guitar',))])
    """
    path = require_file(path, f"MagnaTagATune's {ANNOTATIONS_FILE} (tab-separated tag annotations)")
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle, delimiter="\t")
        header = next(reader, [])
        if len(header) < 3 or header[0] != ID_COLUMN or header[-1] != PATH_COLUMN:
            raise DatasetLayoutError(
                f"{path}, line 1: expected a tab-separated header '{ID_COLUMN}', the tag names, "
                f"'{PATH_COLUMN}'; found {header[:3]}...{header[-1:]}. Use the official {ANNOTATIONS_FILE}"
            )
        tag_names = header[1:-1]
        clips = []
        for row in reader:
            line = reader.line_num
            if not row:
                continue
            if len(row) != len(header):
                raise DatasetLayoutError(
                    f"{path}, line {line}: {len(row)} fields, the header has {len(header)}; "
                    f"the file is truncated or not tab-separated"
                )
            if not row[0].isdigit():
                raise DatasetLayoutError(f"{path}, line {line}: clip_id must be a number, found {row[0]!r}")
            cells = row[1:-1]
            bad = [cell for cell in cells if cell not in ("0", "1")]
            if bad:
                raise DatasetLayoutError(f"{path}, line {line} (clip {row[0]}): tag cells must be 0 or 1, found {bad[0]!r}")
            tags = tuple(tag for tag, cell in zip(tag_names, cells) if cell == "1")
            clips.append(TaggedClip(row[0], row[-1], tags))
    return tag_names, clips


def select_top_tags(tag_names: Sequence[str], clips: Sequence[TaggedClip], top_k: int) -> list[str]:
    """The ``top_k`` most frequent tags over ``clips``, most frequent first.

    Ties keep the column order of ``tag_names``, so the result is deterministic.

    Example
    -------
    >>> clips = [TaggedClip("1", "0/a.mp3", ("rock", "fast")), TaggedClip("2", "0/b.mp3", ("fast", "slow"))]
    >>> select_top_tags(["slow", "rock", "fast"], clips, 2)
    ['fast', 'slow']
    """
    if top_k > len(tag_names):
        raise ValueError(f"top_k={top_k} but the annotations have only {len(tag_names)} tag columns")
    counts = Counter(tag for clip in clips for tag in clip.tags)
    return sorted(tag_names, key=lambda tag: -counts[tag])[:top_k]


def split_of(clip: TaggedClip) -> str:
    """Split of a clip from the folder of its mp3 path (``0``-``b`` train, ``c`` valid, ``d``-``f`` test).

    Example
    -------
    >>> split_of(TaggedClip("2", "f/a-b-01-x-30-59.mp3", ()))
    'test'
    """
    folder = clip.mp3_path.split("/", 1)[0]
    for split, folders in SPLIT_FOLDERS.items():
        if len(folder) == 1 and folder in folders:
            return split
    raise DatasetLayoutError(
        f"{ANNOTATIONS_FILE}, clip {clip.clip_id}: mp3_path {clip.mp3_path!r} is not under one of the folders 0-9, a-f"
    )


def _read_clip_rows(data_folder: Path, clips: Sequence[TaggedClip]) -> dict[str, dict]:
    """Manifest rows (without labels) of the clips whose mp3 decodes; logs the others."""
    rows, unreadable = {}, []
    for clip in clips:
        mp3 = require_file(data_folder / clip.mp3_path, f"the mp3 of clip {clip.clip_id} listed in {ANNOTATIONS_FILE}")
        row = readable_audio_row(clip.clip_id, mp3)
        if row is None:
            unreadable.append(clip.clip_id)
        else:
            rows[clip.clip_id] = row
    if unreadable:
        logger.warning("MagnaTagATune: skipped %d undecodable mp3 file(s), clip ids: %s", len(unreadable), ", ".join(unreadable))
    return rows


def prepare_magnatagatune(
    data_folder: str | Path,
    save_folder: str | Path,
    top_k: int = DEFAULT_TOP_K,
    exclude_file: str | Path | None = None,
    skip_prep: bool = False,
) -> dict[str, Path]:
    """Write the MagnaTagATune top-k and all-tags manifests (train/valid/test).

    Parameters
    ----------
    data_folder : str or Path
        Dataset root holding ``annotations_final.csv`` and the folders ``0`` .. ``f``.
    save_folder : str or Path
        Where ``{train,valid,test}_{top<k>,all}.csv`` and ``tags_{top<k>,all}.txt`` go.
    top_k : int
        Number of most frequent tags of the top-k task (50 in the literature).
    exclude_file : str or Path, optional
        Clip ids to leave out of every manifest, one per line; the tag selection still
        counts them. Every id must be in ``annotations_final.csv``.
    skip_prep : bool
        If True, only return the manifest paths (SpeechBrain convention).

    Returns
    -------
    dict
        ``{"train_top50": path, ..., "test_all": path}``, keyed by file stem.

    Raises
    ------
    DatasetLayoutError
        A missing file or a malformed annotation; the message names it.

    Example
    -------
    >>> prepare_magnatagatune("/data/MagnaTagATune", "/tmp/mtat", skip_prep=True)["valid_top50"].name
    'valid_top50.csv'
    """
    save_folder = Path(save_folder)
    tasks = [f"top{top_k}", ALL_TAGS_TASK]
    manifests = {f"{split}_{task}": save_folder / f"{split}_{task}.csv" for task in tasks for split in SPLIT_FOLDERS}
    if skip_prep:
        return manifests
    data_folder = Path(data_folder).expanduser().absolute()
    exclude_file = Path(exclude_file).expanduser().absolute() if exclude_file is not None else None
    options = {"data_folder": str(data_folder), "top_k": top_k, "exclude_file": exclude_file and str(exclude_file)}
    tag_lists = [save_folder / f"tags_{task}.txt" for task in tasks]
    if prepared_with(save_folder / OPTIONS_FILE, [*manifests.values(), *tag_lists], options):
        logger.info("MagnaTagATune manifests already in %s, skipping preparation", save_folder)
        return manifests

    if not (data_folder / ANNOTATIONS_FILE).is_file():
        raise layout_mismatch(data_folder, EXPECTED_LAYOUT)
    tag_names, clips = read_annotations(data_folder / ANNOTATIONS_FILE)
    task_tags = {tasks[0]: select_top_tags(tag_names, clips, top_k), ALL_TAGS_TASK: list(tag_names)}
    excluded = read_excluded_ids(exclude_file) if exclude_file is not None else set()
    unknown = sorted(excluded - {int(clip.clip_id) for clip in clips})
    if unknown:
        raise DatasetLayoutError(f"{exclude_file}: clip id(s) {unknown} are not in {ANNOTATIONS_FILE}")
    if excluded:
        logger.info("MagnaTagATune: %d clip(s) left out by %s", len(excluded), exclude_file)
    tagged = [clip for clip in clips if clip.tags and int(clip.clip_id) not in excluded]
    splits = {clip.clip_id: split_of(clip) for clip in tagged}
    rows = _read_clip_rows(data_folder, tagged)
    for task, tags in task_tags.items():
        selected = set(tags)
        split_rows: dict[str, list[dict]] = {split: [] for split in SPLIT_FOLDERS}
        for clip in tagged:
            labels = [tag for tag in clip.tags if tag in selected]
            if labels and clip.clip_id in rows:
                split_rows[splits[clip.clip_id]].append({**rows[clip.clip_id], "labels": labels})
        for split, chosen in split_rows.items():
            write_manifest(manifests[f"{split}_{task}"], chosen)
        (save_folder / f"tags_{task}.txt").write_text("".join(f"{tag}\n" for tag in tags), encoding="utf-8")
        untagged = sum(1 for clip in clips if selected.isdisjoint(clip.tags) and int(clip.clip_id) not in excluded)
        logger.info(
            "MagnaTagATune %s: %s clips; %d clip(s) without any of its %d tags left out",
            task, ", ".join(f"{split} {len(chosen)}" for split, chosen in split_rows.items()), untagged, len(tags),
        )
    record_options(save_folder / OPTIONS_FILE, options)
    return manifests


def main(argv: Sequence[str] | None = None) -> None:
    """Command line: ``--data_folder``, ``--save_folder``, ``--top_k``, ``--exclude_file``."""
    parser = argparse.ArgumentParser(description="Prepare MagnaTagATune manifests (top-k and all tags).")
    parser.add_argument("--data_folder", required=True, help="dataset root with annotations_final.csv and folders 0..f")
    parser.add_argument("--save_folder", required=True, help="output folder for the manifests")
    parser.add_argument("--top_k", type=int, default=DEFAULT_TOP_K, help="size of the top-k tag task")
    parser.add_argument("--exclude_file", default=None, help="text file of clip ids to leave out, one per line")
    args = parser.parse_args(argv)
    run_prepare_command(
        lambda: prepare_magnatagatune(args.data_folder, args.save_folder, top_k=args.top_k, exclude_file=args.exclude_file),
        reported_errors=(DatasetLayoutError, ValueError),
    )


if __name__ == "__main__":
    main()
