"""Prepare GTZAN genre manifests on the fault-filtered split.

Reads the dataset as distributed: ``genres/<genre>/<genre>.000NN.au`` (ten genres of
100 clips; the original ``genres.tar.gz``), the same with ``.wav`` files, or Kaggle's
``Data/genres_original/<genre>/<genre>.000NN.wav``. ``data_folder`` may be that folder
or any folder above it (up to three levels), such as the Kaggle extraction root that
holds ``Data/``. The split is the fault-filtered one of Kereliuk, Sturm
and Larsen (2015), which removes repeated, distorted and mislabeled clips: 443 train,
197 valid, 290 test clips. Its three lists ship with this recipe in ``splits/``
(``train_filtered.txt``, ``valid_filtered.txt``, ``test_filtered.txt``, one
``<genre>/<genre>.000NN.wav`` per line), copied from the lists torchaudio's GTZAN
dataset carries (taken from jordipons/sklearn-audio-transfer-learning).

Output in ``save_folder``: ``train.csv``, ``valid.csv``, ``test.csv`` with the genre
as the (multi-class) label. A present but undecodable file (Kaggle's
``jazz.00054.wav`` is one) is skipped and logged; a missing one stops the preparation
with an error naming it.

Command::

    python recipes/GTZAN/gtzan_prepare.py --data_folder /data/GTZAN --save_folder results/GTZAN/manifests
"""

from __future__ import annotations

import argparse
import logging
import re
from pathlib import Path
from typing import Sequence

from semisupcon_recipe.manifest import write_manifest
from semisupcon_recipe.preparation import (
    DatasetLayoutError, layout_mismatch, prepared_with, readable_audio_row, record_options, require_file,
    run_prepare_command,
)

logger = logging.getLogger(__name__)

GENRES = ("blues", "classical", "country", "disco", "hiphop", "jazz", "metal", "pop", "reggae", "rock")
SPLIT_LISTS = {"train": "train_filtered.txt", "valid": "valid_filtered.txt", "test": "test_filtered.txt"}
DEFAULT_SPLIT_FOLDER = Path(__file__).resolve().parent / "splits"
GENRES_FOLDERS = ("genres", "genres_original")
AUDIO_EXTENSIONS = (".wav", ".au")
OPTIONS_FILE = "gtzan_prepare_options.json"
CLIP_NAME = re.compile(r"^(?P<genre>[a-z]+)\.(?P<number>\d{5})$")


def read_split_list(path: str | Path) -> list[str]:
    """Clip names (``blues.00012``) of a split list; lines may carry a folder and an extension.

    Raises
    ------
    DatasetLayoutError
        Missing file or a line that is not a GTZAN clip of a known genre; the message
        names the file and line.

    Example
    -------
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "test_filtered.txt")
    >>> _ = open(path, "w").write("blues/blues.00012.wav\\nrock.00003.au\\n")
    >>> read_split_list(path)
    ['blues.00012', 'rock.00003']
    """
    path = require_file(path, "a GTZAN split list (one <genre>/<genre>.000NN.wav per line)")
    names = []
    for line_number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        entry = line.strip()
        if not entry:
            continue
        name = entry.rsplit("/", 1)[-1]
        for extension in AUDIO_EXTENSIONS:
            name = name.removesuffix(extension)
        match = CLIP_NAME.match(name)
        if match is None or match["genre"] not in GENRES:
            raise DatasetLayoutError(
                f"{path}, line {line_number}: {entry!r} is not a GTZAN clip; expected <genre>/<genre>.000NN.wav "
                f"with a genre among {', '.join(GENRES)}"
            )
        names.append(name)
    return names


def find_genres_folder(data_folder: str | Path, max_depth: int = 3) -> Path:
    """The folder holding the ten genre folders: ``genres/`` or Kaggle's ``genres_original/``.

    Looked for in ``data_folder`` and below it, at most ``max_depth`` levels down
    (``__MACOSX`` and hidden folders aside); the shallowest match wins. Raises
    :class:`DatasetLayoutError` naming the expected layout and what ``data_folder``
    holds when there is none, or when two are found at the same depth.

    Example
    -------
    >>> import tempfile, pathlib
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> (root / "Data" / "genres_original" / "blues").mkdir(parents=True)
    >>> find_genres_folder(root).relative_to(root).as_posix()
    'Data/genres_original'
    """
    data_folder = Path(data_folder)
    level = [data_folder] if data_folder.is_dir() else []
    for _ in range(max_depth + 1):
        found = sorted(folder / name for folder in level for name in GENRES_FOLDERS if _holds_genre_folders(folder / name))
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            raise DatasetLayoutError(
                f"{data_folder} holds several GTZAN copies ({', '.join(str(path) for path in found)}); "
                "point data_folder at one of them"
            )
        level = [
            child for folder in level for child in sorted(folder.iterdir())
            if child.is_dir() and not child.name.startswith((".", "__"))
        ]
    raise layout_mismatch(
        data_folder,
        f"{' or '.join(f'{name}/<genre>/<genre>.000NN.wav (or .au)' for name in GENRES_FOLDERS)} "
        f"with genres {', '.join(GENRES)}, in data_folder or up to {max_depth} levels below it "
        "(Kaggle: Data/genres_original/)",
    )


def _holds_genre_folders(folder: Path) -> bool:
    """True if ``folder`` is a folder with at least one GTZAN genre folder in it."""
    return folder.is_dir() and any((folder / genre).is_dir() for genre in GENRES)


def _clip_audio(genres_folder: Path, name: str) -> Path:
    """Audio file of a clip name, ``.wav`` or the original archive's ``.au``."""
    genre = name.split(".", 1)[0]
    candidates = [genres_folder / genre / f"{name}{extension}" for extension in AUDIO_EXTENSIONS]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    return require_file(candidates[0], f"GTZAN clip {name} listed in the split (as .wav or .au)")


def prepare_gtzan(
    data_folder: str | Path,
    save_folder: str | Path,
    split_folder: str | Path | None = None,
    skip_prep: bool = False,
) -> dict[str, Path]:
    """Write the GTZAN manifests ``train.csv``, ``valid.csv``, ``test.csv`` (label: genre).

    Parameters
    ----------
    data_folder : str or Path
        Folder holding ``genres/`` or ``genres_original/``, directly or up to three
        levels down (the Kaggle extraction root, holding ``Data/``, works).
    save_folder : str or Path
        Output folder for the manifests.
    split_folder : str or Path, optional
        Folder with ``train_filtered.txt``, ``valid_filtered.txt``, ``test_filtered.txt``;
        defaults to the fault-filtered lists shipped in this recipe's ``splits/``.
    skip_prep : bool
        If True, only return the manifest paths (SpeechBrain convention).

    Returns
    -------
    dict
        ``{"train": path, "valid": path, "test": path}``.

    Raises
    ------
    DatasetLayoutError
        Missing audio or list, a malformed list line, or a clip listed in two splits.

    Example
    -------
    >>> prepare_gtzan("/data/GTZAN", "/tmp/gtzan", skip_prep=True)["test"].name
    'test.csv'
    """
    save_folder = Path(save_folder)
    manifests = {split: save_folder / f"{split}.csv" for split in SPLIT_LISTS}
    if skip_prep:
        return manifests
    data_folder = Path(data_folder).expanduser().absolute()
    split_folder = Path(split_folder).expanduser().absolute() if split_folder is not None else DEFAULT_SPLIT_FOLDER
    options = {"data_folder": str(data_folder), "split_folder": str(split_folder)}
    if prepared_with(save_folder / OPTIONS_FILE, manifests.values(), options):
        logger.info("GTZAN manifests already in %s, skipping preparation", save_folder)
        return manifests
    genres_folder = find_genres_folder(data_folder)
    logger.info("GTZAN clips in %s", genres_folder)

    splits = {split: read_split_list(split_folder / list_name) for split, list_name in SPLIT_LISTS.items()}
    seen: dict[str, str] = {}
    for split, names in splits.items():
        for name in names:
            if name in seen:
                raise DatasetLayoutError(
                    f"{name} is listed in both {SPLIT_LISTS[seen[name]]} and {SPLIT_LISTS[split]} "
                    f"in {split_folder}; a clip must belong to one split"
                )
            seen[name] = split

    unreadable = []
    for split, names in splits.items():
        rows = []
        for name in names:
            row = readable_audio_row(name, _clip_audio(genres_folder, name), [name.split(".", 1)[0]])
            if row is None:
                unreadable.append(name)
            else:
                rows.append(row)
        write_manifest(manifests[split], rows)
        logger.info("GTZAN %s: %d clips", split, len(rows))
    if unreadable:
        logger.warning("GTZAN: skipped %d undecodable file(s): %s", len(unreadable), ", ".join(unreadable))
    record_options(save_folder / OPTIONS_FILE, options)
    return manifests


def main(argv: Sequence[str] | None = None) -> None:
    """Command line: ``--data_folder``, ``--save_folder``, ``--split_folder``."""
    parser = argparse.ArgumentParser(description="Prepare GTZAN genre manifests (fault-filtered split).")
    parser.add_argument("--data_folder", required=True, help="folder holding genres/ or genres_original/ (or a folder above it, e.g. Kaggle's root holding Data/)")
    parser.add_argument("--save_folder", required=True, help="output folder for the manifests")
    parser.add_argument("--split_folder", default=None, help=f"folder of the three split lists (default {DEFAULT_SPLIT_FOLDER})")
    args = parser.parse_args(argv)
    run_prepare_command(lambda: prepare_gtzan(args.data_folder, args.save_folder, split_folder=args.split_folder))


if __name__ == "__main__":
    main()
