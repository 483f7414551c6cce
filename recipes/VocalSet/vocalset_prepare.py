"""Prepare VocalSet manifests for singer identification and singing-technique classification.

VocalSet (Wilkins et al. 2018) has 20 singers (folders ``female1``..``female9``,
``male1``..``male11``; the file names use the short form ``f1``..``m11``) singing
arpeggios, scales, long tones and excerpts with 17 techniques, as 44.1 kHz wav files
under ``<singer>/<context>/<technique>/<file>.wav``. Labels come from the folder
names, never from the file names (those carry typos); the singer label is the short
form (``f1``). Two tasks:

- ``singer``: 20 classes, every file; a seeded per-singer file split
  (``valid_fraction`` and ``test_fraction`` of each singer's files).
- ``technique``: the 10 techniques of the literature (vibrato, straight, belt,
  breathy, lip_trill, spoken, inhaled, trill, trillo, vocal_fry); the folders of
  other variants (``fast_forte``, ``slow_piano``, ``messa``, ``pp``, ``f``...) are left
  out, the misspelt ``vibrado`` folders count as vibrato. Split by singer: the test
  singers are held out entirely; a seeded ``valid_fraction`` of every technique's
  files of the other singers is the validation set.

Test singers: ``test_singers`` if given, else the archive's own list
``test_singers_technique.txt`` at the dataset root if present (``female2`` or ``f2``
per line), else ``DEFAULT_TEST_SINGERS``, the same five singers.

Expected layout (the Zenodo archive extracted; version 1.1 or 1.2)::

    data_folder/                          (or one folder below it, e.g. VocalSet1-2/)
      FULL/female1/arpeggios/breathy/f1_arpeggios_breathy_a.wav      (1.1)
      data_by_singer/female1/arpeggios/breathy/f1_arpeggios_breathy_a.wav   (1.2)
      data_by_technique/ ...              (1.2, the same files by technique; not read)
      test_singers_technique.txt
      train_singers_technique.txt

Singer folders with other names, hidden files (``._x.wav``) and ``__MACOSX/`` are skipped.
Preparation is skipped when the manifests exist and were written with the same options.

Run::

    python recipes/VocalSet/vocalset_prepare.py --data_folder /data/VocalSet --save_folder results/VocalSet/manifests
"""

from __future__ import annotations

import argparse
import logging
import math
import re
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

from semisupcon_recipe.manifest import SPLITS, write_manifest
from semisupcon_recipe.preparation import (
    DatasetLayoutError, audio_row, layout_mismatch, prepared_with, record_options, run_prepare_command,
)

logger = logging.getLogger(__name__)

TASKS = ("singer", "technique")
OPTIONS_FILE = "vocalset_prepare_options.json"
TEST_SINGERS_FILE = "test_singers_technique.txt"
DEFAULT_TEST_SINGERS = ("f2", "f8", "m3", "m5", "m10")
SINGER_VIEWS = ("FULL", "data_by_singer")  # VocalSet 1.1, VocalSet 1.2
EXPECTED_LAYOUT = (
    "FULL/<singer>/<context>/<technique>/*.wav (VocalSet 1.1) or data_by_singer/<singer>/<context>/<technique>/*.wav "
    "(VocalSet 1.2), in data_folder or one folder below it, with singer folders female1..female9 and male1..male11"
)
TECHNIQUES = ("vibrato", "straight", "belt", "breathy", "lip_trill", "spoken", "inhaled", "trill", "trillo", "vocal_fry")
TECHNIQUE_FOLDER_ALIASES = {"vibrado": "vibrato"}
_SINGER_NAME = re.compile(r"^(female|male|f|m)\s*(\d+)$")


def singer_code(name: str) -> str:
    """Canonical singer code: ``female2`` / ``F2`` -> ``f2``, ``male10`` -> ``m10``.

    Example
    -------
    >>> singer_code("female2"), singer_code("M10"), singer_code("f1")
    ('f2', 'm10', 'f1')
    """
    match = _SINGER_NAME.match(name.strip().lower())
    if not match:
        raise ValueError(f"{name!r} is not a VocalSet singer (expected e.g. f2, female2, m10, male10)")
    return f"{match.group(1)[0]}{int(match.group(2))}"


def technique_of(folder_name: str) -> str | None:
    """The 10-class technique of a technique folder, or None for the other variants.

    Example
    -------
    >>> technique_of("vibrado"), technique_of("Lip_Trill"), technique_of("fast_forte")
    ('vibrato', 'lip_trill', None)
    """
    name = re.sub(r"[\s-]+", "_", folder_name.strip().lower())
    name = TECHNIQUE_FOLDER_ALIASES.get(name, name)
    return name if name in TECHNIQUES else None


def find_singer_view(data_folder: str | Path) -> Path:
    """The folder of singer folders: ``FULL/`` (1.1) or ``data_by_singer/`` (1.2).

    Looked for in ``data_folder`` and in its subfolders (``unzip`` may add one, such
    as ``VocalSet1-2/``), ``__MACOSX/`` and hidden folders aside. Raises
    :class:`DatasetLayoutError` naming the expected layout and what ``data_folder``
    holds when there is none, or when two subfolders hold one.

    Example
    -------
    >>> import tempfile, pathlib
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> (root / "VocalSet1-2" / "data_by_singer").mkdir(parents=True)
    >>> (root / "__MACOSX" / "VocalSet1-2" / "data_by_singer").mkdir(parents=True)
    >>> find_singer_view(root).relative_to(root).as_posix()
    'VocalSet1-2/data_by_singer'
    """
    data_folder = Path(data_folder)
    if _singer_view_in(data_folder) is not None:
        return _singer_view_in(data_folder)
    subfolders = sorted(data_folder.iterdir()) if data_folder.is_dir() else []
    below = [
        _singer_view_in(folder) for folder in subfolders
        if folder.is_dir() and not folder.name.startswith((".", "__")) and _singer_view_in(folder) is not None
    ]
    if len(below) == 1:
        return below[0]
    if len(below) > 1:
        raise DatasetLayoutError(
            f"{data_folder} holds several VocalSet copies ({', '.join(str(path) for path in below)}); "
            "point data_folder at one of them"
        )
    raise layout_mismatch(data_folder, EXPECTED_LAYOUT)


def _singer_view_in(folder: Path) -> Path | None:
    """``folder/FULL`` or ``folder/data_by_singer`` if it is a folder, else None."""
    return next((folder / name for name in SINGER_VIEWS if (folder / name).is_dir()), None)


def find_recordings(singer_view: str | Path) -> list[tuple[str, str, Path]]:
    """All recordings of a singer view: ``(singer code, technique folder, path)``, sorted.

    Singer folders are ``female1``..``male11`` (``f1``..``m11`` accepted too); other
    folders and hidden files (``._x.wav``) are skipped.

    Example
    -------
    >>> import tempfile, pathlib
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> (root / "male8" / "excerpts" / "spoken").mkdir(parents=True)
    >>> (root / "male8" / "excerpts" / "spoken" / "m8_excerpts_spoken_a.wav").touch()
    >>> [(singer, technique, path.name) for singer, technique, path in find_recordings(root)]
    [('m8', 'spoken', 'm8_excerpts_spoken_a.wav')]
    """
    singer_view = Path(singer_view)
    recordings = []
    for singer_folder in sorted(singer_view.iterdir()):
        if not singer_folder.is_dir() or not _SINGER_NAME.match(singer_folder.name.lower()):
            logger.info("skipping %s: not a singer folder", singer_folder)
            continue
        singer = singer_code(singer_folder.name)
        for path in sorted(singer_folder.rglob("*.wav")):
            if any(part.startswith((".", "__")) for part in path.relative_to(singer_view).parts):
                continue
            recordings.append((singer, path.parent.name, path))
    if not recordings:
        raise layout_mismatch(singer_view, "singer folders female1..female9 and male1..male11 holding "
                                           "<context>/<technique>/*.wav")
    return recordings


def read_test_singers(path: str | Path) -> list[str]:
    """Read an official test-singer list (one singer per line, ``female2`` or ``f2``).

    Example
    -------
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "test_singers_technique.txt")
    >>> _ = open(path, "w").write("female2\\nmale10\\n")
    >>> read_test_singers(path)
    ['f2', 'm10']
    """
    singers = []
    for line_number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            singers.append(singer_code(line))
        except ValueError as error:
            raise DatasetLayoutError(f"{path}, line {line_number}: {error}") from None
    return singers


def split_per_group(groups: dict[str, list], valid_fraction: float, test_fraction: float, seed: int) -> dict[str, list]:
    """Seeded split of every group's items into train/valid/test by the given fractions.

    Each group of ``n`` (sortable) items contributes ``round(n * fraction)`` of them
    to valid and to test; the result lists are sorted.

    Example
    -------
    >>> split = split_per_group({"f1": list("abcdefghij"), "m1": list("klmnopqrst")}, 0.1, 0.2, seed=0)
    >>> [len(split[name]) for name in ("train", "valid", "test")]
    [14, 2, 4]
    """
    rng = np.random.default_rng(seed)
    split: dict[str, list] = {name: [] for name in SPLITS}
    for group in sorted(groups):
        items = sorted(groups[group])
        order = [items[index] for index in rng.permutation(len(items))]
        test_count = math.floor(len(items) * test_fraction + 0.5)
        valid_count = math.floor(len(items) * valid_fraction + 0.5)
        split["test"] += order[:test_count]
        split["valid"] += order[test_count : test_count + valid_count]
        split["train"] += order[test_count + valid_count :]
    return {name: sorted(items) for name, items in split.items()}


def prepare_vocalset(
    data_folder: str | Path,
    save_folder: str | Path,
    tasks: tuple[str, ...] | list[str] = TASKS,
    test_singers: tuple[str, ...] | list[str] | None = None,
    valid_fraction: float = 0.1,
    test_fraction: float = 0.1,
    seed: int = 1234,
    skip_prep: bool = False,
) -> dict[str, Path]:
    """Write ``<task>_<split>.csv`` for VocalSet singer and technique classification.

    Parameters
    ----------
    data_folder : str or Path
        The extracted dataset, holding ``FULL/`` (1.1) or ``data_by_singer/`` (1.2),
        directly or in one subfolder.
    save_folder : str or Path
        Where the manifests go.
    tasks : sequence of str
        Any of ``"singer"`` and ``"technique"``.
    test_singers : sequence of str, optional
        Held-out singers of the technique task (see the module docstring for the default).
    valid_fraction : float
        Seeded fraction held out for validation (per singer, resp. per technique).
    test_fraction : float
        Seeded fraction of each singer's files in the singer task's test set.
    seed : int
        Seed of the splits.
    skip_prep : bool
        Do nothing (manifests prepared elsewhere).

    Returns
    -------
    dict
        ``{"<task>_<split>": manifest path}``.

    Example
    -------
    >>> sorted(prepare_vocalset("/nonexistent", "/tmp/unused", tasks=["singer"], skip_prep=True))
    ['singer_test', 'singer_train', 'singer_valid']
    """
    unknown = [task for task in tasks if task not in TASKS]
    if unknown:
        raise ValueError(f"unknown VocalSet task(s) {unknown}; use any of {TASKS}")
    save_folder = Path(save_folder)
    manifests = {f"{task}_{split}": save_folder / f"{task}_{split}.csv" for task in tasks for split in SPLITS}
    if skip_prep:
        return manifests
    data_folder = Path(data_folder).expanduser().absolute()
    singer_view = find_singer_view(data_folder)
    test_singers, test_singers_source = _resolve_test_singers(singer_view.parent, test_singers)
    options = {"data_folder": str(data_folder), "tasks": list(tasks), "test_singers": test_singers,
               "valid_fraction": valid_fraction, "test_fraction": test_fraction, "seed": seed}
    if prepared_with(save_folder / OPTIONS_FILE, manifests.values(), options):
        logger.info("VocalSet manifests already exist in %s, skipping preparation", save_folder)
        return manifests

    recordings = find_recordings(singer_view)
    logger.info("found %d recordings in %s", len(recordings), singer_view)
    singers = sorted({singer for singer, _, _ in recordings})
    absent = [singer for singer in test_singers if singer not in singers]
    if "technique" in tasks and absent:
        raise DatasetLayoutError(
            f"test singer(s) {absent} (from {test_singers_source}) have no folder under {singer_view}; "
            f"found singers {singers}"
        )
    ids = _recording_ids(singer_view, [path for _, _, path in recordings])
    rows = {path: audio_row(ids[path], path) for _, _, path in recordings}
    labels: dict[str, dict[Path, str]] = {}
    split_paths: dict[str, dict[str, list[Path]]] = {}
    if "singer" in tasks:
        labels["singer"] = {path: singer for singer, _, path in recordings}
        by_singer = defaultdict(list)
        for singer, _, path in recordings:
            by_singer[singer].append(path)
        split_paths["singer"] = split_per_group(by_singer, valid_fraction, test_fraction, seed)
    if "technique" in tasks:
        labels["technique"] = {path: technique_of(folder) for _, folder, path in recordings if technique_of(folder)}
        by_technique = defaultdict(list)
        for singer, _, path in recordings:
            if path in labels["technique"] and singer not in test_singers:
                by_technique[labels["technique"][path]].append(path)
        split_paths["technique"] = split_per_group(by_technique, valid_fraction, 0.0, seed)
        split_paths["technique"]["test"] = sorted(
            path for singer, _, path in recordings if path in labels["technique"] and singer in test_singers
        )
        logger.info("technique task: test singers %s (from %s)", test_singers, test_singers_source)
    for task in tasks:
        for split_name in SPLITS:
            path = manifests[f"{task}_{split_name}"]
            write_manifest(path, [{**rows[item], "labels": [labels[task][item]]} for item in split_paths[task][split_name]])
            counts = Counter(labels[task][item] for item in split_paths[task][split_name])
            logger.info("wrote %s (%d files, %d classes)", path, sum(counts.values()), len(counts))
    record_options(save_folder / OPTIONS_FILE, options)
    return manifests


def _resolve_test_singers(dataset_root: Path, test_singers: tuple[str, ...] | list[str] | None) -> tuple[list[str], str]:
    """The technique task's test singers and where they came from (for messages)."""
    if test_singers is not None:
        try:
            return [singer_code(name) for name in test_singers], "the test_singers argument"
        except ValueError as error:
            raise ValueError(f"test_singers: {error}") from None
    official = dataset_root / TEST_SINGERS_FILE
    if official.is_file():
        return read_test_singers(official), str(official)
    return list(DEFAULT_TEST_SINGERS), "DEFAULT_TEST_SINGERS"


def _recording_ids(singer_view: Path, paths: list[Path]) -> dict[Path, str]:
    """File stem as ID; the path below the singer view for stems that occur more than once."""
    stem_counts = Counter(path.stem for path in paths)
    return {
        path: path.stem if stem_counts[path.stem] == 1 else path.relative_to(singer_view).with_suffix("").as_posix()
        for path in paths
    }


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point; see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data_folder", required=True, help="the extracted VocalSet folder (holding FULL/ or data_by_singer/)")
    parser.add_argument("--save_folder", required=True, help="where <task>_<split>.csv go")
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), choices=TASKS)
    parser.add_argument("--test_singers", nargs="+", default=None, help="technique-task test singers, e.g. f2 m3")
    parser.add_argument("--valid_fraction", type=float, default=0.1)
    parser.add_argument("--test_fraction", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=1234)
    args = parser.parse_args(argv)
    run_prepare_command(lambda: prepare_vocalset(**vars(args)))


if __name__ == "__main__":
    main()
