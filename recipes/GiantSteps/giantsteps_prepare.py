"""Prepare GiantSteps key manifests (train/valid on GiantSteps-MTG-key, test on GiantSteps Key).

The protocol of JukeMIR (Castellon et al. 2021), which MARBLE's preprocessing copies:
train on the GiantSteps-MTG-key dataset, keeping only tracks whose manual annotation is
one major/minor key with the annotator's highest confidence (1,159 of 1,486 tracks);
split those by artist into train and validation (923 / 236 tracks, JukeMIR's rule, see
:func:`validation_artists`); test on the 604 tracks of the GiantSteps Key dataset.
Labels are ``"<tonic> <mode>"`` over a fixed 24-class vocabulary with flat spellings
(``C, Db, D, Eb, E, F, Gb, G, Ab, A, Bb, B`` x ``major, minor``): exactly the strings
``mir_eval.key`` accepts, so the MIREX weighted score works on them unchanged.

Expected layout (the two dataset repositories cloned side by side under
``data_folder``, audio fetched with their ``audio_dl.sh`` scripts)::

    data_folder/
      giantsteps-key-dataset/
        audio/<id>.LOFI.mp3
        annotations/key/<id>.LOFI.key          one key, no newline, e.g. "Eb minor"
      giantsteps-mtg-key-dataset/
        audio/<id>.LOFI.mp3
        annotations/annotations.txt            tab-separated: ID, MANUAL KEY, C (confidence)
        annotations/beatport_metadata.txt      tab-separated: ID, ARTIST, SONG TITLE, ...

Preparation is skipped when the manifests exist and were written with the same options.

Run::

    python recipes/GiantSteps/giantsteps_prepare.py --data_folder /data/giantsteps --save_folder results/GiantSteps/manifests
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import logging
import re
from pathlib import Path

from semisupcon_recipe.manifest import SPLITS, write_manifest
from semisupcon_recipe.preparation import (
    DatasetLayoutError, audio_row, layout_mismatch, prepared_with, record_options, require_file, require_folder,
    run_prepare_command,
)

logger = logging.getLogger(__name__)

OPTIONS_FILE = "giantsteps_prepare_options.json"
PITCH_CLASS_NAMES = ("C", "Db", "D", "Eb", "E", "F", "Gb", "G", "Ab", "A", "Bb", "B")
MODES = {"major": "major", "maj": "major", "minor": "minor", "min": "minor"}
KEY_VOCABULARY = tuple(f"{tonic} {mode}" for mode in ("major", "minor") for tonic in PITCH_CLASS_NAMES)
_NATURAL_SEMITONES = {"c": 0, "d": 2, "e": 4, "f": 5, "g": 7, "a": 9, "b": 11}
_ACCIDENTAL_SHIFT = {"#": 1, "♯": 1, "b": -1, "♭": -1}
_KEY_PATTERN = re.compile(r"^([A-Ga-g])([#♯b♭]*)\s*([A-Za-z]+)$")
KEY_DATASET = "giantsteps-key-dataset"
MTG_DATASET = "giantsteps-mtg-key-dataset"
EXPECTED_LAYOUT = (
    f"{KEY_DATASET}/ (audio/, annotations/key/) and {MTG_DATASET}/ (audio/, annotations/annotations.txt, "
    f"annotations/beatport_metadata.txt): the two GiantSteps repositories cloned side by side"
)
ARTIST_BUCKETS = 116  # JukeMIR: an artist's SHA-1 modulo 116 picks one of 100 train and 16 validation buckets
TRAIN_BUCKETS = 100


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


def read_track_artists(mtg_dataset_folder: str | Path) -> dict[str, tuple[str, ...]]:
    """Read the artists of every GiantSteps-MTG-key track from ``annotations/beatport_metadata.txt``.

    The file is tab-separated with the header ``ID ARTIST SONG TITLE MIX LABEL BP GENRE
    BP BPM BP KEY``; ``ARTIST`` lists a track's artists separated by commas.

    Returns
    -------
    dict
        ``{track id: (artist, ...)}``, names stripped, in the file's order.

    Example
    -------
    >>> import tempfile, pathlib
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> (root / "annotations").mkdir()
    >>> _ = (root / "annotations" / "beatport_metadata.txt").write_text(
    ...     "ID\\tARTIST\\tSONG TITLE\\n5881\\tBrainbashers, Lance Madden\\tRealness\\n")
    >>> read_track_artists(root)
    {'5881': ('Brainbashers', 'Lance Madden')}
    """
    path = require_file(
        Path(mtg_dataset_folder) / "annotations" / "beatport_metadata.txt",
        "the GiantSteps-MTG-key Beatport metadata (tab-separated ID, ARTIST, ...), used for the artist split",
    )
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        if not {"ID", "ARTIST"} <= set(reader.fieldnames or ()):
            raise DatasetLayoutError(
                f"{path}, line 1: expected a header with the columns ID and ARTIST, found {reader.fieldnames}"
            )
        artists = {}
        for row in reader:
            if not (row["ID"] or "").strip():
                continue
            names = tuple(name.strip() for name in (row["ARTIST"] or "").strip().split(","))
            artists[row["ID"].strip()] = names
    return artists


def artist_bucket_is_validation(artist: str) -> bool:
    """JukeMIR's draw for one artist: SHA-1 of the lower-cased name, modulo 116, buckets 100..115 are validation.

    Example
    -------
    >>> artist_bucket_is_validation("Jan Jelinek"), artist_bucket_is_validation("Paul Kalkbrenner")
    (True, False)
    """
    digest = hashlib.sha1(artist.lower().encode("utf-8")).hexdigest()
    return int(digest, 16) % ARTIST_BUCKETS >= TRAIN_BUCKETS


def validation_artists(track_artists: dict[str, tuple[str, ...]]) -> set[str]:
    """The artists of the validation split: drawn by :func:`artist_bucket_is_validation`, closed over collaborations.

    JukeMIR's artist split: every artist is drawn to train or validation; then every
    collaborator of a validation artist (someone credited on the same track, over all
    tracks of the metadata) is moved to validation too, until no track credits artists
    of both splits. A track is in validation if its artists are.

    Example
    -------
    >>> sorted(validation_artists({"1": ("Jan Jelinek", "Paul Kalkbrenner"), "2": ("Paul Kalkbrenner",),
    ...                            "3": ("Philippe Van Mullem",)}))
    ['Jan Jelinek', 'Paul Kalkbrenner']
    """
    valid = {artist for artists in track_artists.values() for artist in artists if artist_bucket_is_validation(artist)}
    grown = True
    while grown:
        grown = False
        for artists in track_artists.values():
            if valid.intersection(artists) and not valid.issuperset(artists):
                valid.update(artists)
                grown = True
    return valid


def prepare_giantsteps(
    data_folder: str | Path,
    save_folder: str | Path,
    min_confidence: int = 2,
    skip_prep: bool = False,
) -> dict[str, Path]:
    """Write ``train.csv``, ``valid.csv`` and ``test.csv`` for GiantSteps key estimation.

    Parameters
    ----------
    data_folder : str or Path
        Folder holding the two dataset repositories (see the module docstring).
    save_folder : str or Path
        Where the manifests go.
    min_confidence : int
        Lowest annotator confidence (``C`` column) kept for training (the protocol: 2).
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
    options = {"data_folder": str(data_folder), "min_confidence": min_confidence}
    if prepared_with(save_folder / OPTIONS_FILE, manifests.values(), options):
        logger.info("GiantSteps manifests already exist in %s, skipping preparation", save_folder)
        return manifests
    key_folder, mtg_folder = data_folder / KEY_DATASET, data_folder / MTG_DATASET
    if not (key_folder.is_dir() and mtg_folder.is_dir()):
        raise layout_mismatch(data_folder, EXPECTED_LAYOUT)

    test_keys = read_test_keys(key_folder)
    training_keys = read_training_keys(mtg_folder, min_confidence)
    overlap = sorted(set(training_keys) & set(test_keys))
    if overlap:
        logger.warning("dropping %d MTG-key tracks that are also in the test set: %s", len(overlap), overlap[:10])
    track_artists = read_track_artists(mtg_folder)
    uncredited = sorted(track_id for track_id in training_keys if track_id not in track_artists)
    if uncredited:
        raise DatasetLayoutError(
            f"{mtg_folder / 'annotations' / 'beatport_metadata.txt'}: no ARTIST row for track(s) {uncredited[:10]} of "
            f"annotations.txt; restore both files from the GiantSteps-MTG-key repository"
        )
    valid_artists = validation_artists(track_artists)
    training_ids = sorted(track_id for track_id in training_keys if track_id not in test_keys)
    split_ids = {"train": [], "valid": []}
    for track_id in training_ids:
        split_ids["valid" if valid_artists.intersection(track_artists[track_id]) else "train"].append(track_id)

    rows = {
        "train": [_row(mtg_folder, track_id, training_keys[track_id]) for track_id in split_ids["train"]],
        "valid": [_row(mtg_folder, track_id, training_keys[track_id]) for track_id in split_ids["valid"]],
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
    parser.add_argument("--min_confidence", type=int, default=2, help="lowest annotator confidence kept for training")
    args = parser.parse_args(argv)
    run_prepare_command(lambda: prepare_giantsteps(**vars(args)))


if __name__ == "__main__":
    main()
