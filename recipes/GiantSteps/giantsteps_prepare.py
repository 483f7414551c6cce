"""Prepare GiantSteps key manifests (train/valid on GiantSteps-MTG-key, test on GiantSteps Key).

The common MIR protocol (JukeMIR, MARBLE, SemiSupCon): train on the GiantSteps-MTG-key
dataset, keeping only tracks whose manual annotation is one major/minor key with the
annotator's highest confidence; hold out a seeded 10% of those for validation; test
on the 604 tracks of the GiantSteps Key dataset. Labels are ``"<tonic> <mode>"`` over a
fixed 24-class vocabulary with flat spellings (``C, Db, D, Eb, E, F, Gb, G, Ab, A, Bb,
B`` x ``major, minor``): exactly the strings ``mir_eval.key`` accepts, so the MIREX
weighted score works on them unchanged.

Expected layout (the two dataset repositories cloned side by side under
``data_folder``, audio fetched with their ``audio_dl.sh`` scripts)::

    data_folder/
      giantsteps-key-dataset/
        audio/<id>.LOFI.mp3
        annotations/key/<id>.LOFI.key          one line, e.g. "Eb minor"
      giantsteps-mtg-key-dataset/
        audio/<id>.LOFI.mp3
        annotations/annotations.txt            tab-separated: ID, MANUAL KEY, C (confidence), ...

Preparation is skipped when the manifests exist and were written with the same options.

Run::

    python recipes/GiantSteps/giantsteps_prepare.py --data_folder /data/giantsteps --save_folder results/GiantSteps/manifests
"""

from __future__ import annotations

import argparse
import logging
import re
from pathlib import Path

from sklearn.model_selection import train_test_split

from semisupcon_recipe.manifest import write_manifest
from semisupcon_recipe.preparation import (
    DatasetLayoutError, audio_row, prepared_with, record_options, require_file, require_folder, run_prepare_command,
)

logger = logging.getLogger(__name__)

SPLITS = ("train", "valid", "test")
OPTIONS_FILE = "giantsteps_prepare_options.json"
PITCH_CLASS_NAMES = ("C", "Db", "D", "Eb", "E", "F", "Gb", "G", "Ab", "A", "Bb", "B")
MODES = {"major": "major", "maj": "major", "minor": "minor", "min": "minor"}
KEY_VOCABULARY = tuple(f"{tonic} {mode}" for mode in ("major", "minor") for tonic in PITCH_CLASS_NAMES)
_NATURAL_SEMITONES = {"c": 0, "d": 2, "e": 4, "f": 5, "g": 7, "a": 9, "b": 11}
_ACCIDENTAL_SHIFT = {"#": 1, "♯": 1, "b": -1, "♭": -1}
_KEY_PATTERN = re.compile(r"^([A-Ga-g])([#♯b♭]*)\s*([A-Za-z]+)$")


def normalise_key(text: str) -> str:
    """Map one key annotation to the 24-class vocabulary with flat spellings.

    Parameters
    ----------
    text : str
        A key such as ``"C# minor"``, ``"Eb major"`` or ``"a min"``.

    Returns
    -------
    str
        ``"<tonic> <mode>"`` with the tonic one of ``C Db D Eb E F Gb G Ab A Bb B``.

    Raises
    ------
    ValueError
        The text is not a single major or minor key (a modal key, ``"-"``, two keys...).

    Example
    -------
    >>> normalise_key("C# minor"), normalise_key(" eb Major "), normalise_key("Cb major")
    ('Db minor', 'Eb major', 'B major')
    >>> normalise_key("A minor / C major")
    Traceback (most recent call last):
    ...
    ValueError: 'A minor / C major' is not a single major or minor key
    """
    match = _KEY_PATTERN.match(text.strip())
    if not match or match.group(3).lower() not in MODES:
        raise ValueError(f"{text!r} is not a single major or minor key")
    letter, accidentals, mode = match.groups()
    semitone = _NATURAL_SEMITONES[letter.lower()] + sum(_ACCIDENTAL_SHIFT[a] for a in accidentals)
    return f"{PITCH_CLASS_NAMES[semitone % 12]} {MODES[mode.lower()]}"


def read_test_keys(key_dataset_folder: str | Path) -> dict[str, str]:
    """Read the GiantSteps Key annotations: ``{track id: normalised key}``.

    Each ``annotations/key/<id>.LOFI.key`` holds one key; anything else is an error
    naming the file, since every track of the test set is scored.

    Example
    -------
    >>> import tempfile, pathlib
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> (root / "annotations" / "key").mkdir(parents=True)
    >>> _ = (root / "annotations" / "key" / "3.LOFI.key").write_text("F# minor\\n")
    >>> read_test_keys(root)
    {'3': 'Gb minor'}
    """
    key_folder = require_folder(Path(key_dataset_folder) / "annotations" / "key", "one <id>.LOFI.key file per track")
    keys = {}
    for key_file in sorted(key_folder.glob("*.LOFI.key")):
        track_id = key_file.name[: -len(".LOFI.key")]
        text = key_file.read_text(encoding="utf-8", errors="replace").strip()
        try:
            keys[track_id] = normalise_key(text)
        except ValueError:
            raise DatasetLayoutError(
                f"{key_file}: expected one key like 'Eb minor' or 'C major', found {text!r}; "
                f"restore the file from the GiantSteps Key dataset"
            ) from None
    if not keys:
        raise DatasetLayoutError(f"no *.LOFI.key files in {key_folder}; expected the GiantSteps Key annotations")
    return keys


def read_training_keys(mtg_dataset_folder: str | Path, min_confidence: int = 2) -> dict[str, str]:
    """Read the GiantSteps-MTG-key annotations, keeping single keys with enough confidence.

    ``annotations/annotations.txt`` is tab-separated with the columns ``ID``,
    ``MANUAL KEY`` and ``C`` (the annotator's confidence, 0..2) first; further columns
    are ignored and a header line is optional. Tracks whose key is not one major or
    minor key (``-``, modal keys, several keys) or whose confidence is below
    ``min_confidence`` are dropped, as the common protocol does; the counts are logged.

    Example
    -------
    >>> import tempfile, pathlib
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> (root / "annotations").mkdir()
    >>> _ = (root / "annotations" / "annotations.txt").write_text(
    ...     "ID\\tMANUAL KEY\\tC\\n1\\tA minor\\t2\\n2\\tD dorian\\t2\\n3\\tC major\\t1\\n")
    >>> read_training_keys(root)
    {'1': 'A minor'}
    """
    path = require_file(
        Path(mtg_dataset_folder) / "annotations" / "annotations.txt",
        "the GiantSteps-MTG-key annotations (tab-separated ID, MANUAL KEY, C)",
    )
    keys, ambiguous, unsure = {}, 0, 0
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    for line_number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        fields = [field.strip() for field in line.split("\t")]
        if line_number == 1 and fields[0].upper() == "ID":
            continue
        if len(fields) < 3 or not fields[0]:
            raise DatasetLayoutError(
                f"{path}, line {line_number}: expected tab-separated ID, MANUAL KEY, C (confidence), found {line!r}"
            )
        track_id, key_text, confidence_text = fields[:3]
        try:
            confidence = int(float(confidence_text))
        except ValueError:
            raise DatasetLayoutError(
                f"{path}, line {line_number}: confidence {confidence_text!r} is not a number (expected 0, 1 or 2)"
            ) from None
        try:
            key = normalise_key(key_text)
        except ValueError:
            ambiguous += 1
            continue
        if confidence < min_confidence:
            unsure += 1
            continue
        keys[track_id] = key
    logger.info(
        "%s: kept %d tracks, dropped %d without a single major/minor key and %d with confidence < %d",
        path, len(keys), ambiguous, unsure, min_confidence,
    )
    return keys


def prepare_giantsteps(
    data_folder: str | Path,
    save_folder: str | Path,
    key_subfolder: str = "giantsteps-key-dataset",
    mtg_subfolder: str = "giantsteps-mtg-key-dataset",
    valid_fraction: float = 0.1,
    min_confidence: int = 2,
    seed: int = 1234,
    skip_prep: bool = False,
) -> dict[str, Path]:
    """Write ``train.csv``, ``valid.csv`` and ``test.csv`` for GiantSteps key estimation.

    Parameters
    ----------
    data_folder : str or Path
        Folder holding the two dataset repositories (see the module docstring).
    save_folder : str or Path
        Where the manifests go.
    key_subfolder, mtg_subfolder : str
        Names of the GiantSteps Key (test) and GiantSteps-MTG-key (train) folders.
    valid_fraction : float
        Seeded fraction of the kept MTG-key tracks held out for validation.
    min_confidence : int
        Lowest annotator confidence (``C`` column) kept for training.
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
    >>> prepare_giantsteps("/nonexistent", "/tmp/unused", skip_prep=True)["test"].name
    'test.csv'
    """
    save_folder = Path(save_folder)
    manifests = {split: save_folder / f"{split}.csv" for split in SPLITS}
    if skip_prep:
        return manifests
    data_folder = Path(data_folder).expanduser().absolute()
    options = {"data_folder": str(data_folder), "key_subfolder": key_subfolder, "mtg_subfolder": mtg_subfolder,
               "valid_fraction": valid_fraction, "min_confidence": min_confidence, "seed": seed}
    if prepared_with(save_folder / OPTIONS_FILE, manifests.values(), options):
        logger.info("GiantSteps manifests already exist in %s, skipping preparation", save_folder)
        return manifests
    key_folder = require_folder(data_folder / key_subfolder, "the GiantSteps Key dataset (test set)")
    mtg_folder = require_folder(data_folder / mtg_subfolder, "the GiantSteps-MTG-key dataset (training set)")

    test_keys = read_test_keys(key_folder)
    training_keys = read_training_keys(mtg_folder, min_confidence)
    overlap = sorted(set(training_keys) & set(test_keys))
    if overlap:
        logger.warning("dropping %d MTG-key tracks that are also in the test set: %s", len(overlap), overlap[:10])
    training_ids = sorted(track_id for track_id in training_keys if track_id not in test_keys)
    train_ids, valid_ids = train_test_split(training_ids, test_size=valid_fraction, random_state=seed)

    rows = {
        "train": [_row(mtg_folder, track_id, training_keys[track_id]) for track_id in sorted(train_ids)],
        "valid": [_row(mtg_folder, track_id, training_keys[track_id]) for track_id in sorted(valid_ids)],
        "test": [_row(key_folder, track_id, key) for track_id, key in sorted(test_keys.items())],
    }
    for split, path in manifests.items():
        count = write_manifest(path, rows[split])
        logger.info("wrote %s (%d tracks)", path, count)
    record_options(save_folder / OPTIONS_FILE, options)
    return manifests


def _row(dataset_folder: Path, track_id: str, key: str) -> dict:
    return audio_row(track_id, dataset_folder / "audio" / f"{track_id}.LOFI.mp3", key)


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point; see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data_folder", required=True, help="folder holding both GiantSteps dataset repositories")
    parser.add_argument("--save_folder", required=True, help="where train.csv, valid.csv and test.csv go")
    parser.add_argument("--key_subfolder", default="giantsteps-key-dataset")
    parser.add_argument("--mtg_subfolder", default="giantsteps-mtg-key-dataset")
    parser.add_argument("--valid_fraction", type=float, default=0.1)
    parser.add_argument("--min_confidence", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1234)
    args = parser.parse_args(argv)
    run_prepare_command(lambda: prepare_giantsteps(**vars(args)))


if __name__ == "__main__":
    main()
