"""Prepare MedleyDB manifests for multi-label instrument recognition on the mixes.

Reads the dataset as its archives unpack: ``MedleyDB_V1.tar.gz`` gives
``V1/<Track>/<Track>_MIX.wav`` (122 tracks) and the MedleyDB 2.0 archive
``V2/<Track>/...`` (74 tracks), side by side; a merged ``Audio/<Track>/`` folder works
too. A track's metadata ``<Track>_METADATA.yaml`` is read beside its mix, else from
``metadata_folder`` (default ``<data_folder>/Metadata/``, the layout of
``medleydb/data/Metadata`` in the ``marl/medleydb`` repository). Its ``artist`` and
``stems: {S01: {instrument: ...}, ...}`` are used; an ``instrument`` value may be one
name or a list.

Labels follow SemiSupCon's MedleyDB protocol for the tag set: stems whose instrument
is not an instrument (``NON_INSTRUMENT_LABELS``) are ignored and the ``top_k`` (20)
instruments with the most stems over the whole dataset form the tag set (ties by
name). A track's labels are the distinct tag-set instruments among its stems; a track
with none is left out (logged). The tag set, most frequent first, goes to
``instruments.txt``.

MedleyDB has no official split. This script makes an artist-conditional one, so no
artist appears in two splits. Artist names are normalised (:func:`artist_key`: case,
punctuation, apostrophes, a trailing "Multitracks"), and joint credits ``A & B`` tie
their tracks to every track of A and of B. The artist groups are shuffled with
``seed`` and each is given, with all its tracks, to the split that has the smallest
fraction of its target number of tracks (``split_ratios`` of the total) so far.
Same data and seed, same split. Tag-set instruments that occur in the test split but
not in train are logged.

Output in ``save_folder``: ``train.csv``, ``valid.csv``, ``test.csv``, ``instruments.txt``.

Command::

    python recipes/MedleyDB/medleydb_prepare.py --data_folder /data/MedleyDB --save_folder results/MedleyDB/manifests
"""

from __future__ import annotations

import argparse
import logging
import random
import re
import unicodedata
from collections import Counter, defaultdict
from pathlib import Path
from typing import Mapping, Sequence

import yaml

from semisupcon_recipe.manifest import SPLITS, write_manifest
from semisupcon_recipe.preparation import (
    DatasetLayoutError, audio_row, layout_mismatch, prepared_with, record_options, require_file,
    run_prepare_command,
)

logger = logging.getLogger(__name__)

DEFAULT_SPLIT_RATIOS = (0.7, 0.1, 0.2)
DEFAULT_SEED = 1234
DEFAULT_TOP_K = 20
TRACK_FOLDERS = ("Audio", "V1", "V2")
METADATA_FOLDER = "Metadata"
NON_INSTRUMENT_LABELS = ("Main System", "fx/processed sound", "Unlabeled", "auxiliary percussion")
MIX_SUFFIX = "_MIX.wav"
METADATA_SUFFIX = "_METADATA.yaml"
TAG_SET_FILE = "instruments.txt"
OPTIONS_FILE = "medleydb_prepare_options.json"
EXPECTED_LAYOUT = (
    "V1/<Track>/<Track>_MIX.wav and V2/<Track>/<Track>_MIX.wav (MedleyDB_V1 and 2.0 archives unpacked side by "
    "side) or a merged Audio/<Track>/<Track>_MIX.wav"
)


def read_track_metadata(path: str | Path) -> tuple[str, list[str]]:
    """Artist and stem instruments of a ``<Track>_METADATA.yaml``, one name per stem and instrument.

    A stem with a list of instruments contributes each of them; names are stripped.

    Raises
    ------
    DatasetLayoutError
        Unparsable YAML, no ``artist``, no ``stems``, or a stem without ``instrument``;
        the message names the file and the key.

    Example
    -------
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "Band_Song_METADATA.yaml")
    >>> _ = open(path, "w").write("artist: Band\\nstems:\\n  S01: {instrument: piano}\\n"
    ...                           "  S02: {instrument: [drum set, piano]}\\n")
    >>> read_track_metadata(path)
    ('Band', ['piano', 'drum set', 'piano'])
    """
    path = Path(path)
    try:
        metadata = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise DatasetLayoutError(f"{path}: not valid YAML ({error}); re-download the MedleyDB metadata") from error
    if not isinstance(metadata, dict) or not metadata.get("artist"):
        raise DatasetLayoutError(f"{path}: expected a mapping with an 'artist' key (MedleyDB metadata format)")
    stems = metadata.get("stems")
    if not isinstance(stems, dict) or not stems:
        raise DatasetLayoutError(f"{path}: expected 'stems: {{S01: {{instrument: ...}}, ...}}', found {stems!r}")
    instruments = []
    for stem_name, stem in stems.items():
        value = stem.get("instrument") if isinstance(stem, dict) else None
        names = [value] if isinstance(value, str) else value
        if not names or not all(isinstance(name, str) and name.strip() for name in names):
            raise DatasetLayoutError(f"{path}: stem {stem_name} has no 'instrument' name (found {value!r})")
        instruments.extend(name.strip() for name in names)
    return str(metadata["artist"]), instruments


def artist_key(artist: str) -> str:
    """Normalised artist name: case, punctuation, spaces and a trailing "Multitracks" ignored.

    MedleyDB's metadata spells some artists two ways; their keys are equal.

    Example
    -------
    >>> artist_key("Hops \\u2019n Vinyl") == artist_key("Hops 'n Vinyl")
    True
    >>> artist_key("Music Delta Multitracks"), artist_key("Declare A String"), artist_key("SWEAT")
    ('musicdelta', 'declareastring', 'sweat')
    """
    text = unicodedata.normalize("NFKC", artist).casefold()
    text = re.sub(r"\s+multitracks\s*$", "", text)
    return "".join(character for character in text if character.isalnum()) or text.strip()


def artist_groups(track_artists: Mapping[str, str]) -> dict[str, str]:
    """Track -> artist group: tracks whose credits share a normalised artist are one group.

    A credit ``A & B`` names two artists, so it joins the tracks of A and of B.

    Example
    -------
    >>> groups = artist_groups({"LizNelson_Coldwar": "Liz Nelson & Jennifer Davies",
    ...                         "LizNelson_ImComingHome": "Liz Nelson", "Sweat_Tact": "SWEAT", "Sweat_Elegy": "Sweat"})
    >>> groups["LizNelson_Coldwar"] == groups["LizNelson_ImComingHome"], groups["Sweat_Tact"] == groups["Sweat_Elegy"]
    (True, True)
    """
    parent: dict[str, str] = {}

    def root(key: str) -> str:
        while parent[key] != key:
            key = parent[key]
        return key

    track_keys = {}
    for track, artist in track_artists.items():
        keys = [artist_key(member) for member in re.split(r"\s+&\s+", artist.strip()) if member.strip()]
        track_keys[track] = keys
        for key in keys:
            parent.setdefault(key, key)
        for key in keys[1:]:
            first, other = sorted((root(keys[0]), root(key)))
            parent[other] = first
    return {track: root(keys[0]) for track, keys in track_keys.items()}


def select_instruments(stem_instruments: Sequence[str], top_k: int) -> list[str]:
    """The ``top_k`` instruments with the most stems, most frequent first, ties by name.

    ``NON_INSTRUMENT_LABELS`` are never selected.

    Example
    -------
    >>> select_instruments(["piano", "Main System", "Main System", "violin", "piano", "cello"], 2)
    ['piano', 'cello']
    """
    counts = Counter(name for name in stem_instruments if name not in NON_INSTRUMENT_LABELS)
    return sorted(counts, key=lambda name: (-counts[name], name))[:top_k]


def artist_conditional_split(
    track_artists: Mapping[str, str],
    split_ratios: Sequence[float] = DEFAULT_SPLIT_RATIOS,
    seed: int = DEFAULT_SEED,
) -> dict[str, str]:
    """Assign tracks to train/valid/test so that each artist lies in one split.

    Artists (sorted, then shuffled with ``seed``) go one at a time, with all their
    tracks, to the split whose track count is the smallest fraction of its target
    ``ratio * total``; ties go to the earlier split, splits of ratio 0 get nothing.

    Parameters
    ----------
    track_artists : mapping
        Track name -> artist, or artist group (:func:`artist_groups`).
    split_ratios : sequence of 3 floats
        Target fractions of tracks for train, valid, test (summing to 1).
    seed : int
        Shuffling seed.

    Returns
    -------
    dict
        Track name -> ``"train"``, ``"valid"`` or ``"test"``.

    Example
    -------
    >>> split = artist_conditional_split({"A_1": "A", "A_2": "A", "B_1": "B", "C_1": "C"}, (0.5, 0.25, 0.25), seed=0)
    >>> split["A_1"] == split["A_2"], sorted(split.values())
    (True, ['test', 'train', 'train', 'valid'])
    """
    if len(split_ratios) != len(SPLITS) or any(ratio < 0 for ratio in split_ratios) or abs(sum(split_ratios) - 1) > 1e-6:
        raise ValueError(f"split_ratios must be {len(SPLITS)} non-negative fractions summing to 1, got {tuple(split_ratios)}")
    artist_tracks: dict[str, list[str]] = defaultdict(list)
    for track, artist in sorted(track_artists.items()):
        artist_tracks[artist].append(track)
    artists = sorted(artist_tracks)
    random.Random(seed).shuffle(artists)
    targets = [ratio * len(track_artists) for ratio in split_ratios]
    counts = [0] * len(SPLITS)
    open_splits = [index for index, target in enumerate(targets) if target > 0]
    assignment = {}
    for artist in artists:
        index = min(open_splits, key=lambda i: (counts[i] / targets[i], i))
        counts[index] += len(artist_tracks[artist])
        assignment.update({track: SPLITS[index] for track in artist_tracks[artist]})
    return assignment


def find_track_folders(data_folder: Path) -> dict[str, Path]:
    """Track name -> its folder, from ``Audio/``, ``V1/`` and ``V2/`` (the first holding a track wins).

    Raises
    ------
    DatasetLayoutError
        None of the three folders holds a track folder; names the expected layout and
        what ``data_folder`` holds.

    Example
    -------
    >>> import tempfile, pathlib
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> for folder in ("V1/Band_Song", "V2/Duo_Tune", "Audio/Band_Song"):
    ...     (root / folder).mkdir(parents=True)
    >>> {track: folder.parent.name for track, folder in find_track_folders(root).items()}
    {'Band_Song': 'Audio', 'Duo_Tune': 'V2'}
    """
    tracks: dict[str, Path] = {}
    repeated = []
    for name in TRACK_FOLDERS:
        root = data_folder / name
        if not root.is_dir():
            continue
        for folder in sorted(path for path in root.iterdir() if path.is_dir() and not path.name.startswith(".")):
            if folder.name in tracks:
                repeated.append(folder)
            else:
                tracks[folder.name] = folder
    if not tracks:
        raise layout_mismatch(data_folder, EXPECTED_LAYOUT)
    if repeated:
        logger.info("MedleyDB: %d track folder(s) found twice, the first copy is used (e.g. %s)", len(repeated), repeated[0])
    return dict(sorted(tracks.items()))


def _metadata_path(track_folder: Path, metadata_folder: Path) -> Path:
    """The track's metadata YAML: beside its mix first, then in ``metadata_folder``."""
    name = f"{track_folder.name}{METADATA_SUFFIX}"
    candidates = [track_folder / name, metadata_folder / name]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise DatasetLayoutError(
        f"missing {candidates[0]} (nor in {metadata_folder}/): expected the metadata YAML of track "
        f"{track_folder.name}; put MedleyDB's Metadata/ folder (medleydb/data/Metadata in github.com/marl/medleydb) "
        f"in the data folder or pass metadata_folder"
    )


def prepare_medleydb(
    data_folder: str | Path,
    save_folder: str | Path,
    metadata_folder: str | Path | None = None,
    split_ratios: Sequence[float] = DEFAULT_SPLIT_RATIOS,
    seed: int = DEFAULT_SEED,
    top_k: int = DEFAULT_TOP_K,
    skip_prep: bool = False,
) -> dict[str, Path]:
    """Write the MedleyDB instrument manifests ``train.csv``, ``valid.csv``, ``test.csv``.

    Parameters
    ----------
    data_folder : str or Path
        Folder holding ``V1/`` and ``V2/`` (or a merged ``Audio/``), one sub-folder per track.
    save_folder : str or Path
        Output folder for the manifests and ``instruments.txt``.
    metadata_folder : str or Path, optional
        Folder of ``<Track>_METADATA.yaml`` files for tracks without one beside the mix;
        default ``<data_folder>/Metadata``.
    split_ratios : sequence of 3 floats
        Target fractions of tracks for train, valid, test.
    seed : int
        Seed of the artist-conditional split.
    top_k : int
        Size of the tag set: the instruments with the most stems.
    skip_prep : bool
        If True, only return the manifest paths (SpeechBrain convention).

    Returns
    -------
    dict
        ``{"train": path, "valid": path, "test": path}``.

    Raises
    ------
    DatasetLayoutError
        No track folders, a track without its mix or metadata, or malformed metadata.

    Example
    -------
    >>> prepare_medleydb("/data/MedleyDB", "/tmp/medleydb", skip_prep=True)["valid"].name
    'valid.csv'
    """
    save_folder = Path(save_folder)
    manifests = {split: save_folder / f"{split}.csv" for split in SPLITS}
    if skip_prep:
        return manifests
    if top_k < 1:
        raise ValueError(f"top_k must be at least 1, got {top_k}")
    data_folder = Path(data_folder).expanduser().absolute()
    metadata_folder = Path(metadata_folder).expanduser().absolute() if metadata_folder else data_folder / METADATA_FOLDER
    options = {
        "data_folder": str(data_folder), "metadata_folder": str(metadata_folder), "split_ratios": list(split_ratios),
        "seed": seed, "top_k": top_k,
    }
    tag_set_file = save_folder / TAG_SET_FILE
    if prepared_with(save_folder / OPTIONS_FILE, [*manifests.values(), tag_set_file], options):
        logger.info("MedleyDB manifests already in %s, skipping preparation", save_folder)
        return manifests
    track_folders = find_track_folders(data_folder)

    artists, stem_instruments, mixes = {}, {}, {}
    for track, folder in track_folders.items():
        artists[track], stem_instruments[track] = read_track_metadata(_metadata_path(folder, metadata_folder))
        mixes[track] = require_file(folder / f"{track}{MIX_SUFFIX}", f"the mix of track {track}")
    tag_set = select_instruments([name for names in stem_instruments.values() for name in names], top_k)
    selected = set(tag_set)
    labels = {track: sorted(selected.intersection(names)) for track, names in stem_instruments.items()}
    unlabeled = [track for track, names in labels.items() if not names]
    if unlabeled:
        logger.info("MedleyDB: %d track(s) without a tag-set instrument left out: %s", len(unlabeled), ", ".join(unlabeled))
    kept = {track: artists[track] for track in track_folders if labels[track]}
    groups = artist_groups(kept)
    assignment = artist_conditional_split(groups, split_ratios, seed)
    split_rows = {
        split: [audio_row(track, mixes[track], labels[track]) for track in kept if assignment[track] == split]
        for split in SPLITS
    }
    empty = [split for split, chosen in split_rows.items() if not chosen]
    if empty:
        raise ValueError(
            f"MedleyDB split(s) {empty} came out empty ({len(kept)} tracks, {len(set(groups.values()))} artists); "
            f"change split_ratios or seed"
        )
    for split, chosen in split_rows.items():
        write_manifest(manifests[split], chosen)
        logger.info(
            "MedleyDB %s: %d tracks from %d artists", split, len(chosen), len({groups[row["ID"]] for row in chosen})
        )
    tag_set_file.write_text("".join(f"{name}\n" for name in tag_set), encoding="utf-8")
    logger.info("MedleyDB tag set (%d instruments, most stems first): %s", len(tag_set), "; ".join(tag_set))
    in_split = {split: {tag for row in chosen for tag in row["labels"]} for split, chosen in split_rows.items()}
    only_in_test = sorted(in_split["test"] - in_split["train"])
    if only_in_test:
        logger.warning("MedleyDB: instrument(s) in test but never in train: %s", "; ".join(only_in_test))
    record_options(save_folder / OPTIONS_FILE, options)
    return manifests


def main(argv: Sequence[str] | None = None) -> None:
    """Command line: ``--data_folder``, ``--save_folder``, ``--metadata_folder``, ``--split_ratios``, ``--seed``, ``--top_k``."""
    parser = argparse.ArgumentParser(description="Prepare MedleyDB instrument-recognition manifests.")
    parser.add_argument("--data_folder", required=True, help="folder holding V1/ and V2/ (or a merged Audio/)")
    parser.add_argument("--save_folder", required=True, help="output folder for the manifests")
    parser.add_argument(
        "--metadata_folder", default=None, help="folder of <Track>_METADATA.yaml files (default: <data_folder>/Metadata)"
    )
    parser.add_argument(
        "--split_ratios", type=float, nargs=3, default=list(DEFAULT_SPLIT_RATIOS), help="train valid test fractions"
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="seed of the artist-conditional split")
    parser.add_argument("--top_k", type=int, default=DEFAULT_TOP_K, help="size of the instrument tag set")
    args = parser.parse_args(argv)
    run_prepare_command(
        lambda: prepare_medleydb(
            args.data_folder, args.save_folder, metadata_folder=args.metadata_folder,
            split_ratios=args.split_ratios, seed=args.seed, top_k=args.top_k,
        ),
        reported_errors=(DatasetLayoutError, ValueError),
    )


if __name__ == "__main__":
    main()
