"""MedleyDB preparation: the V1/V2 archive layout, the instrument tag set, an artist-disjoint split, errors."""

import logging
import re
import unicodedata

import pytest

from semisupcon_recipe.manifest import read_manifest
from semisupcon_recipe.preparation import DatasetLayoutError

from .fixtures_common import CLIP_SECONDS, load_prepare_module
from .fixtures_medleydb import (
    MEDLEYDB_METADATA_BESIDE_MIX, MEDLEYDB_NO_TAG_SET_INSTRUMENT, MEDLEYDB_NON_INSTRUMENTS, MEDLEYDB_SAME_ARTIST,
    MEDLEYDB_TRACKS, build_medleydb, medleydb_labels, medleydb_stem_counts,
)

medleydb = load_prepare_module("recipes/MedleyDB/medleydb_prepare.py")
# The six instruments with the most stems in the fixture; "Main System" (6 stems) is not an instrument.
TOP_6 = ["drum set", "electric bass", "piano", "female singer", "male singer", "tenor saxophone"]


@pytest.fixture
def dataset(tmp_path):
    return build_medleydb(tmp_path / "MedleyDB"), tmp_path / "manifests"


def split_of_each_track(save_folder):
    return {track: split for split in ("train", "valid", "test") for track in read_manifest(save_folder / f"{split}.csv")}


def artists_named(credit):
    """The test's own normalisation: lower case, letters and digits only, no "Multitracks", "&" splits a credit."""
    names = []
    for member in credit.split("&"):
        text = unicodedata.normalize("NFKC", member).lower().replace("multitracks", "")
        names.append(re.sub(r"[\W_]", "", text))
    return names


def test_reads_v1_and_v2_folders_and_tags_each_mix_with_its_instruments(dataset):
    data_folder, save_folder = dataset
    manifests = medleydb.prepare_medleydb(data_folder, save_folder)
    assert list(manifests) == ["train", "valid", "test"]
    assert manifests["train"].read_text().splitlines()[0] == "ID,duration,wav,labels"
    instruments = set(medleydb_stem_counts()) - MEDLEYDB_NON_INSTRUMENTS
    tag_set = (save_folder / "instruments.txt").read_text().splitlines()
    assert set(tag_set) == instruments and tag_set[0] == "drum set"
    rows = {track: row for manifest in manifests.values() for track, row in read_manifest(manifest).items()}
    assert sorted(rows) == sorted(MEDLEYDB_TRACKS)
    for track, row in rows.items():
        version = MEDLEYDB_TRACKS[track][0]
        assert row["wav"] == str(data_folder / version / track / f"{track}_MIX.wav")
        assert row["labels"] == medleydb_labels(track, instruments)
        assert row["duration"] == pytest.approx(CLIP_SECONDS, abs=1e-3)
        assert not MEDLEYDB_NON_INSTRUMENTS & set(row["labels"].split(";"))
    assert rows["AimeeNorwich_Flying"]["labels"] == "cello;drum set;piano;synthesizer"
    assert rows["AClassicEducation_NightOwl"]["labels"] == "clean electric guitar;drum set;electric bass;male singer"
    assert (data_folder / "V1" / MEDLEYDB_METADATA_BESIDE_MIX / f"{MEDLEYDB_METADATA_BESIDE_MIX}_METADATA.yaml").is_file()


def test_tag_set_is_the_most_frequent_instruments_by_stem_count(dataset, caplog):
    data_folder, save_folder = dataset
    with caplog.at_level(logging.INFO):
        manifests = medleydb.prepare_medleydb(data_folder, save_folder, top_k=6)
    assert (save_folder / "instruments.txt").read_text().splitlines() == TOP_6
    rows = {track: row for manifest in manifests.values() for track, row in read_manifest(manifest).items()}
    assert sorted(rows) == sorted(set(MEDLEYDB_TRACKS) - {MEDLEYDB_NO_TAG_SET_INSTRUMENT})
    assert f"1 track(s) without a tag-set instrument left out: {MEDLEYDB_NO_TAG_SET_INSTRUMENT}" in caplog.text
    for track, row in rows.items():
        assert row["labels"] == medleydb_labels(track, set(TOP_6))
    assert medleydb.select_instruments(["Main System"] * 3 + ["viola", "tabla", "tabla"], 5) == ["tabla", "viola"]


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4, 1234])
def test_no_normalised_artist_lands_in_two_splits(dataset, seed):
    data_folder, save_folder = dataset
    medleydb.prepare_medleydb(data_folder, save_folder, seed=seed)
    split_of = split_of_each_track(save_folder)
    splits_of_artist = {}
    for track, split in split_of.items():
        for artist in artists_named(MEDLEYDB_TRACKS[track][1]):
            splits_of_artist.setdefault(artist, set()).add(split)
    assert {artist: splits for artist, splits in splits_of_artist.items() if len(splits) > 1} == {}
    for tracks in MEDLEYDB_SAME_ARTIST:
        assert len({split_of[track] for track in tracks}) == 1, tracks
    assert set(split_of.values()) == {"train", "valid", "test"}


def test_artist_keys_join_the_real_double_spellings():
    key = medleydb.artist_key
    assert key("Music Delta Multitracks") == key("Music Delta")
    assert key("Declare A String") == key("Declare a String")
    assert key("Hops 'n Vinyl") == key("Hops \u2019n Vinyl")
    assert key("SWEAT") == key("Sweat")
    assert key("Liz Nelson") != key("Liz Nelson & Jennifer Davies")
    assert len({key(name) for name in ("Sweat", "Sweet Lights", "Music Delta", "Declare A String")}) == 4


def test_instruments_only_in_test_are_reported(dataset, caplog):
    data_folder, save_folder = dataset
    music_delta_in_test = False
    for seed in range(40):
        caplog.clear()
        with caplog.at_level(logging.INFO):
            medleydb.prepare_medleydb(data_folder, save_folder / str(seed), seed=seed)
        if split_of_each_track(save_folder / str(seed))["MusicDelta_ChineseDrama"] == "test":
            music_delta_in_test = True
            break
    assert music_delta_in_test
    assert re.search(r"in test but never in train: .*erhu", caplog.text)


def test_merged_audio_folder_and_a_separate_metadata_folder(tmp_path):
    data_folder = build_medleydb(tmp_path / "MedleyDB", merged_audio=True)
    (data_folder / "Metadata").rename(tmp_path / "medleydb_metadata")
    with pytest.raises(DatasetLayoutError, match="metadata YAML of track AClassicEducation_NightOwl"):
        medleydb.prepare_medleydb(data_folder, tmp_path / "manifests")
    manifests = medleydb.prepare_medleydb(data_folder, tmp_path / "manifests", metadata_folder=tmp_path / "medleydb_metadata")
    rows = {track: row for manifest in manifests.values() for track, row in read_manifest(manifest).items()}
    assert sorted(rows) == sorted(MEDLEYDB_TRACKS)
    assert rows["Sweat_Tact"]["wav"] == str(data_folder / "Audio" / "Sweat_Tact" / "Sweat_Tact_MIX.wav")


def test_wrong_layout_names_the_expected_and_the_found_layout(dataset):
    data_folder, save_folder = dataset
    with pytest.raises(DatasetLayoutError, match=r"expected V1/<Track>/<Track>_MIX\.wav .*; found MedleyDB/$"):
        medleydb.prepare_medleydb(data_folder.parent, save_folder)
    with pytest.raises(DatasetLayoutError, match=r"found AClassicEducation_NightOwl/, AimeeNorwich_Child/"):
        medleydb.prepare_medleydb(data_folder / "V1", save_folder)


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
    missing = data_folder / "V2" / "Sweat_Tact" / "Sweat_Tact_MIX.wav"
    missing.unlink()
    with pytest.raises(DatasetLayoutError, match=str(missing)):
        medleydb.prepare_medleydb(data_folder, save_folder)


def test_malformed_metadata_names_the_file(dataset):
    data_folder, save_folder = dataset
    metadata = data_folder / "V1" / "AimeeNorwich_Child" / "AimeeNorwich_Child_METADATA.yaml"
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
    medleydb.main(["--data_folder", str(data_folder), "--save_folder", str(save_folder),
                   "--split_ratios", "0.5", "0.2", "0.3", "--top_k", "6"])
    sizes = [len(read_manifest(save_folder / f"{split}.csv")) for split in ("train", "valid", "test")]
    assert sum(sizes) == len(MEDLEYDB_TRACKS) - 1 and min(sizes) > 0
    with pytest.raises(SystemExit, match="summing to 1"):
        medleydb.main(["--data_folder", str(data_folder), "--save_folder", str(save_folder / "x"),
                       "--split_ratios", "1", "1", "1"])
    with pytest.raises(SystemExit, match="expected V1/<Track>"):
        medleydb.main(["--data_folder", str(save_folder), "--save_folder", str(save_folder / "y")])
