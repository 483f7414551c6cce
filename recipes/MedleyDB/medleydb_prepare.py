"""Prepare MedleyDB manifests for multi-label instrument recognition on the mixes.

Reads the dataset as distributed: ``Audio/<Track>/<Track>_MIX.wav`` and the track's
metadata ``<Track>_METADATA.yaml`` (in ``Audio/<Track>/``, or in a ``Metadata/``
folder at the root as in the ``medleydb`` package). The metadata's ``artist`` key and
``stems: {S01: {instrument: ...}, ...}`` are used; an ``instrument`` value may be one
name or a list. A track's labels are the distinct instrument names of its stems,
verbatim and sorted.

MedleyDB has no official split. This script makes an artist-conditional one, so no
artist appears in two splits: the artists are shuffled with ``seed`` and each is given,
with all its tracks, to the split that has the smallest fraction of its target
number of tracks (``split_ratios`` of the total) so far; with at least three artists
every split gets one. Same data and seed, same split.

Output in ``save_folder``: ``train.csv``, ``valid.csv``, ``test.csv``.

Command::

    python recipes/MedleyDB/medleydb_prepare.py --data_folder /data/MedleyDB --save_folder results/medleydb/manifests
"""

from __future__ import annotations

import argparse
import logging
import random
from collections import defaultdict
from pathlib import Path
from typing import Mapping, Sequence

import yaml

from semisupcon_recipe.manifest import write_manifest
from semisupcon_recipe.preparation import (
    DatasetLayoutError, audio_row, prepared_with, record_options, require_file, require_folder, run_prepare_command,
)

logger = logging.getLogger(__name__)

SPLITS = ("train", "valid", "test")
DEFAULT_SPLIT_RATIOS = (0.7, 0.1, 0.2)
DEFAULT_SEED = 1234
MIX_SUFFIX = "_MIX.wav"
METADATA_SUFFIX = "_METADATA.yaml"
OPTIONS_FILE = "medleydb_prepare_options.json"


def read_track_metadata(path: str | Path) -> tuple[str, list[str]]:
    """Artist and sorted distinct stem instruments of a ``<Track>_METADATA.yaml``.

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
    ('Band', ['drum set', 'piano'])
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
    instruments = set()
    for stem_name, stem in stems.items():
        value = stem.get("instrument") if isinstance(stem, dict) else None
        names = [value] if isinstance(value, str) else value
        if not names or not all(isinstance(name, str) and name.strip() for name in names):
            raise DatasetLayoutError(f"{path}: stem {stem_name} has no 'instrument' name (found {value!r})")
        instruments.update(name.strip() for name in names)
    return str(metadata["artist"]), sorted(instruments)


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
        Track name -> artist.
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


def _metadata_path(data_folder: Path, track: str) -> Path:
    """The track's metadata: ``Audio/<Track>/`` first, then ``Metadata/``."""
    name = f"{track}{METADATA_SUFFIX}"
    candidates = [data_folder / "Audio" / track / name, data_folder / "Metadata" / name]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise DatasetLayoutError(
        f"missing {candidates[0]} (nor in {candidates[1].parent}/): expected the metadata YAML of track {track}"
    )


def prepare_medleydb(
    data_folder: str | Path,
    save_folder: str | Path,
    split_ratios: Sequence[float] = DEFAULT_SPLIT_RATIOS,
    seed: int = DEFAULT_SEED,
    skip_prep: bool = False,
) -> dict[str, Path]:
    """Write the MedleyDB instrument manifests ``train.csv``, ``valid.csv``, ``test.csv``.

    Parameters
    ----------
    data_folder : str or Path
        Dataset root holding ``Audio/`` (one folder per track).
    save_folder : str or Path
        Output folder for the manifests.
    split_ratios : sequence of 3 floats
        Target fractions of tracks for train, valid, test.
    seed : int
        Seed of the artist-conditional split.
    skip_prep : bool
        If True, only return the manifest paths (SpeechBrain convention).

    Returns
    -------
    dict
        ``{"train": path, "valid": path, "test": path}``.

    Raises
    ------
    DatasetLayoutError
        A track folder without its mix or metadata, or malformed metadata.

    Example
    -------
    >>> prepare_medleydb("/data/MedleyDB", "/tmp/medleydb", skip_prep=True)["valid"].name
    'valid.csv'
    """
    save_folder = Path(save_folder)
    manifests = {split: save_folder / f"{split}.csv" for split in SPLITS}
    if skip_prep:
        return manifests
    data_folder = Path(data_folder).expanduser().absolute()
    options = {"data_folder": str(data_folder), "split_ratios": list(split_ratios), "seed": seed}
    if prepared_with(save_folder / OPTIONS_FILE, manifests.values(), options):
        logger.info("MedleyDB manifests already in %s, skipping preparation", save_folder)
        return manifests
    audio_folder = require_folder(data_folder / "Audio", "MedleyDB's Audio/ folder (one sub-folder per track)")
    tracks = sorted(folder.name for folder in audio_folder.iterdir() if folder.is_dir())
    if not tracks:
        raise DatasetLayoutError(f"{audio_folder} holds no track folders; expected Audio/<Track>/<Track>_MIX.wav")

    rows, artists = {}, {}
    for track in tracks:
        artists[track], instruments = read_track_metadata(_metadata_path(data_folder, track))
        mix = require_file(audio_folder / track / f"{track}{MIX_SUFFIX}", f"the mix of track {track}")
        rows[track] = audio_row(track, mix, instruments)
    assignment = artist_conditional_split(artists, split_ratios, seed)
    split_rows = {split: [rows[track] for track in tracks if assignment[track] == split] for split in SPLITS}
    empty = [split for split, chosen in split_rows.items() if not chosen]
    if empty:
        raise ValueError(
            f"MedleyDB split(s) {empty} came out empty ({len(tracks)} tracks, {len(set(artists.values()))} artists); "
            f"change split_ratios or seed"
        )
    for split, chosen in split_rows.items():
        write_manifest(manifests[split], chosen)
        logger.info("MedleyDB %s: %d tracks from %d artists", split, len(chosen), len({artists[row["ID"]] for row in chosen}))
    record_options(save_folder / OPTIONS_FILE, options)
    return manifests


def main(argv: Sequence[str] | None = None) -> None:
    """Command line: ``--data_folder``, ``--save_folder``, ``--split_ratios``, ``--seed``."""
    parser = argparse.ArgumentParser(description="Prepare MedleyDB instrument-recognition manifests.")
    parser.add_argument("--data_folder", required=True, help="dataset root holding Audio/")
    parser.add_argument("--save_folder", required=True, help="output folder for the manifests")
    parser.add_argument(
        "--split_ratios", type=float, nargs=3, default=list(DEFAULT_SPLIT_RATIOS), help="train valid test fractions"
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="seed of the artist-conditional split")
    args = parser.parse_args(argv)
    run_prepare_command(
        lambda: prepare_medleydb(args.data_folder, args.save_folder, split_ratios=args.split_ratios, seed=args.seed),
        reported_errors=(DatasetLayoutError, ValueError),
    )


if __name__ == "__main__":
    main()
