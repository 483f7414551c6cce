"""MedleyDB preparation: stem instruments as tags, an artist-conditional seeded split, skipping, errors."""

import logging

import pytest

from semisupcon_recipe.manifest import read_manifest
from semisupcon_recipe.preparation import DatasetLayoutError

from .fixtures_a import MEDLEYDB_METADATA_IN_ROOT, MEDLEYDB_TRACKS, build_medleydb, medleydb_labels
from .fixtures_common import CLIP_SECONDS, load_prepare_module

medleydb = load_prepare_module("recipes/MedleyDB/medleydb_prepare.py")


@pytest.fixture
def dataset(tmp_path):
    return build_medleydb(tmp_path / "MedleyDB"), tmp_path / "manifests"


def test_writes_artist_disjoint_splits_with_instrument_tags(dataset):
    data_folder, save_folder = dataset
    manifests = medleydb.prepare_medleydb(data_folder, save_folder)
    rows = {split: read_manifest(path) for split, path in manifests.items()}
    assert list(rows) == ["train", "valid", "test"]
    assert manifests["train"].read_text().splitlines()[0] == "ID,duration,wav,labels"
    every_track = [track for split_rows in rows.values() for track in split_rows]
    assert sorted(every_track) == sorted(MEDLEYDB_TRACKS)
    artists = {split: {MEDLEYDB_TRACKS[track][0] for track in split_rows} for split, split_rows in rows.items()}
    assert not artists["train"] & artists["valid"] and not artists["train"] & artists["test"]
    assert not artists["valid"] & artists["test"]
    assert all(split_rows for split_rows in rows.values())
    largest_artist = 2
    for split, ratio in zip(rows, medleydb.DEFAULT_SPLIT_RATIOS):
        assert abs(len(rows[split]) - ratio * len(MEDLEYDB_TRACKS)) <= largest_artist
    for split_rows in rows.values():
        for track, row in split_rows.items():
            assert row["labels"] == medleydb_labels(track)
            assert row["wav"] == str(data_folder / "Audio" / track / f"{track}_MIX.wav")
            assert row["duration"] == pytest.approx(CLIP_SECONDS, abs=1e-3)
    flying = next(split_rows["AimeeNorwich_Flying"] for split_rows in rows.values() if "AimeeNorwich_Flying" in split_rows)
    assert flying["labels"] == "drum set;fx/processed sound;piano;synthesizer"
    assert any(MEDLEYDB_METADATA_IN_ROOT in split_rows for split_rows in rows.values())


def test_split_is_deterministic_and_depends_on_the_seed():
    artists = {f"{artist}_{song}": artist for artist in "ABCDEFGHIJKL" for song in range(1 + ord(artist) % 3)}
    first = medleydb.artist_conditional_split(artists, (0.6, 0.2, 0.2), seed=3)
    assert first == medleydb.artist_conditional_split(dict(reversed(artists.items())), (0.6, 0.2, 0.2), seed=3)
    assert any(medleydb.artist_conditional_split(artists, (0.6, 0.2, 0.2), seed=seed) != first for seed in range(4, 8))
    for artist in "ABCDEFGHIJKL":
        assert len({first[track] for track in artists if artists[track] == artist}) == 1
    with pytest.raises(ValueError, match="summing to 1"):
        medleydb.artist_conditional_split(artists, (0.6, 0.2, 0.3))


def test_second_run_skips_and_new_seed_reruns(dataset, caplog):
    data_folder, save_folder = dataset
    medleydb.prepare_medleydb(data_folder, save_folder)
    with caplog.at_level(logging.INFO):
        medleydb.prepare_medleydb(data_folder, save_folder)
    assert "skipping preparation" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.INFO):
        medleydb.prepare_medleydb(data_folder, save_folder, seed=7)
    assert "skipping preparation" not in caplog.text and "preparing them again" in caplog.text


def test_missing_mix_names_the_file(dataset):
    data_folder, save_folder = dataset
    missing = data_folder / "Audio" / "Auctioneer_OurFutureFaces" / "Auctioneer_OurFutureFaces_MIX.wav"
    missing.unlink()
    with pytest.raises(DatasetLayoutError, match=str(missing)):
        medleydb.prepare_medleydb(data_folder, save_folder)


def test_malformed_metadata_names_the_file(dataset):
    data_folder, save_folder = dataset
    metadata = data_folder / "Audio" / "AimeeNorwich_Child" / "AimeeNorwich_Child_METADATA.yaml"
    text = metadata.read_text()
    metadata.write_text(text.replace("instrument: piano", "instrument: ''", 1))
    with pytest.raises(DatasetLayoutError, match=r"AimeeNorwich_Child_METADATA\.yaml: stem S02 has no 'instrument'"):
        medleydb.prepare_medleydb(data_folder, save_folder)
    metadata.write_text(text.replace("stems:", "stemz:"))
    with pytest.raises(DatasetLayoutError, match=r"AimeeNorwich_Child_METADATA\.yaml: expected 'stems:"):
        medleydb.prepare_medleydb(data_folder, save_folder)
    metadata.write_text("artist: [unclosed\n")
    with pytest.raises(DatasetLayoutError, match=r"AimeeNorwich_Child_METADATA\.yaml: not valid YAML"):
        medleydb.prepare_medleydb(data_folder, save_folder)
    metadata.unlink()
    with pytest.raises(DatasetLayoutError, match="metadata YAML of track AimeeNorwich_Child"):
        medleydb.prepare_medleydb(data_folder, save_folder)


def test_command_line(dataset):
    data_folder, save_folder = dataset
    medleydb.main(["--data_folder", str(data_folder), "--save_folder", str(save_folder), "--split_ratios", "0.5", "0.2", "0.3"])
    sizes = [len(read_manifest(save_folder / f"{split}.csv")) for split in ("train", "valid", "test")]
    assert sum(sizes) == len(MEDLEYDB_TRACKS) and min(sizes) > 0
    with pytest.raises(SystemExit, match="summing to 1"):
        medleydb.main(["--data_folder", str(data_folder), "--save_folder", str(save_folder / "x"),
                       "--split_ratios", "1", "1", "1"])
