"""EmoMusic preparation: the archives' layouts, MediaEval 2013 split, arousal;valence labels, quirks, errors."""

import doctest
import logging
import shutil

import pytest

from semisupcon_recipe.manifest import LabelVocabulary, read_manifest
from semisupcon_recipe.preparation import DatasetLayoutError

from .fixtures_common import CLIP_SECONDS, load_prepare_module
from .fixtures_emomusic import EMOMUSIC_LAYOUTS, EMOMUSIC_SONGS, build_emomusic

emomusic = load_prepare_module("recipes/EmoMusic/emomusic_prepare.py")


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    root = tmp_path_factory.mktemp("emomusic")
    return root, build_emomusic(root)


@pytest.fixture
def dataset(pristine, tmp_path):
    """A fresh copy of the module's fixture dataset (tests may damage it)."""
    shutil.copytree(pristine[0], tmp_path / "data")
    return tmp_path / "data", tmp_path / "manifests", pristine[1]


def append_line(path, line):
    path.write_bytes(path.read_bytes() + f"{line}\r\n".encode())


def ids_of(song_set):
    return {str(song) for song, (_, _, name) in EMOMUSIC_SONGS.items() if name == song_set}


@pytest.mark.parametrize("layout", sorted(EMOMUSIC_LAYOUTS))
def test_every_way_of_extracting_the_archives_gives_the_mediaeval_split(tmp_path, layout):
    expected = build_emomusic(tmp_path / "data", layout=layout)
    manifests = emomusic.prepare_emomusic(tmp_path / "data", tmp_path / "manifests")
    rows = {split: read_manifest(path) for split, path in manifests.items()}
    assert {split: len(rows[split]) for split in rows} == expected
    assert manifests["test"].read_text().splitlines()[0] == "ID,duration,wav,labels"
    assert set(rows["test"]) == ids_of("evaluation")
    assert set(rows["train"]) | set(rows["valid"]) == ids_of("development")
    assert not set(rows["train"]) & set(rows["valid"])
    for split_rows in rows.values():
        for song_id, row in split_rows.items():
            arousal, valence, _ = EMOMUSIC_SONGS[int(song_id)]
            assert [float(value) for value in row["labels"].split(";")] == pytest.approx([arousal, valence])
            assert row["wav"] == str(tmp_path / "data" / "clips_45seconds" / f"{song_id}.mp3")
            assert row["duration"] == pytest.approx(CLIP_SECONDS, abs=0.06)
    vocabulary = LabelVocabulary.from_cells("regression", [row["labels"] for row in rows["train"].values()])
    assert vocabulary.size == 2
    assert vocabulary.encode(rows["test"]["1005"]["labels"]).tolist() == [4.5, 6.25]


def test_audio_archive_extracted_into_a_folder_of_its_name_is_found(dataset):
    data_folder, save_folder, expected = dataset
    (data_folder / "clips_45sec").mkdir()
    (data_folder / "clips_45seconds").rename(data_folder / "clips_45sec" / "clips_45seconds")
    rows = read_manifest(emomusic.prepare_emomusic(data_folder, save_folder)["test"])
    assert len(rows) == expected["test"]
    assert rows["1001"]["wav"] == str(data_folder / "clips_45sec" / "clips_45seconds" / "1001.mp3")


def test_songs_without_annotations_are_ignored_and_counted(dataset, caplog):
    data_folder, save_folder, _ = dataset
    for song_id in (3, 5):
        append_line(data_folder / "songs_info.csv", f"{song_id},{song_id}.mp3,Someone,Removed,0.00,0.45,Pop,development")
    with caplog.at_level(logging.INFO):
        manifests = emomusic.prepare_emomusic(data_folder, save_folder)
    every_id = [song for path in manifests.values() for song in read_manifest(path)]
    assert "3" not in every_id and "5" not in every_id
    assert len(every_id) == len(set(every_id)) == len(EMOMUSIC_SONGS)
    assert "ignoring 2 songs of songs_info.csv without static annotations" in caplog.text


def test_repeated_annotation_keeps_the_first_and_warns_when_values_differ(dataset, caplog):
    data_folder, save_folder, _ = dataset
    append_line(data_folder / "static_annotations.csv", "1005,4.5,0.94,6.25,0.63")
    append_line(data_folder / "static_annotations.csv", "1005,9.0,0.1,1.0,0.1")
    with caplog.at_level(logging.WARNING):
        manifests = emomusic.prepare_emomusic(data_folder, save_folder)
    assert read_manifest(manifests["test"])["1005"]["labels"] == "4.5;6.25"
    assert "annotated twice with different values" in caplog.text and "1005" in caplog.text


def test_annotated_song_without_split_is_dropped(dataset, caplog):
    data_folder, save_folder, _ = dataset
    info = data_folder / "songs_info.csv"
    info.write_bytes(b"".join(line for line in info.read_bytes().splitlines(keepends=True) if not line.startswith(b"1013,")))
    with caplog.at_level(logging.WARNING):
        manifests = emomusic.prepare_emomusic(data_folder, save_folder)
    assert len(read_manifest(manifests["test"])) == 3
    assert "missing from songs_info.csv" in caplog.text and "1013" in caplog.text


def test_validation_hold_out_is_seeded(dataset, tmp_path):
    data_folder, _, _ = dataset
    first = read_manifest(emomusic.prepare_emomusic(data_folder, tmp_path / "a", valid_fraction=0.25, seed=3)["valid"])
    again = read_manifest(emomusic.prepare_emomusic(data_folder, tmp_path / "b", valid_fraction=0.25, seed=3)["valid"])
    assert len(first) == 5 and list(first) == list(again)


def test_second_run_skips(dataset, caplog):
    data_folder, save_folder, _ = dataset
    manifests = emomusic.prepare_emomusic(data_folder, save_folder)
    stamps = {split: path.stat().st_mtime_ns for split, path in manifests.items()}
    with caplog.at_level(logging.INFO):
        emomusic.prepare_emomusic(data_folder, save_folder)
    assert "skipping preparation" in caplog.text
    assert {split: path.stat().st_mtime_ns for split, path in manifests.items()} == stamps


def test_missing_audio_names_the_file(dataset):
    data_folder, save_folder, _ = dataset
    (data_folder / "clips_45seconds" / "1010.mp3").unlink()
    with pytest.raises(DatasetLayoutError, match=r"missing audio file .*clips_45seconds/1010\.mp3"):
        emomusic.prepare_emomusic(data_folder, save_folder)


@pytest.mark.parametrize(
    "file_name, bad_line, message",
    [
        ("static_annotations.csv", "8,high,0.9,4.0,0.5", r"static_annotations\.csv, line 26: mean_arousal 'high'"),
        ("static_annotations.csv", "eight,3.0,0.9,4.0,0.5", r"static_annotations\.csv, line 26: song_id 'eight'"),
        ("songs_info.csv", "8,8.mp3,A,B,0.1,0.5,Pop,training", r"songs_info\.csv, line 26: 'Mediaeval 2013 set' is 'training'"),
    ],
)
def test_malformed_annotation_names_file_and_line(dataset, file_name, bad_line, message):
    data_folder, save_folder, _ = dataset
    append_line(data_folder / file_name, bad_line)
    with pytest.raises(DatasetLayoutError, match=message):
        emomusic.prepare_emomusic(data_folder, save_folder)


def test_wrong_header_is_named(dataset):
    data_folder, save_folder, _ = dataset
    path = data_folder / "static_annotations.csv"
    path.write_bytes(path.read_bytes().replace(b"mean_valence", b"valence", 1))
    with pytest.raises(DatasetLayoutError, match=r"static_annotations\.csv: missing column\(s\) \['mean_valence'\]"):
        emomusic.prepare_emomusic(data_folder, save_folder)


def test_wrong_layout_names_the_expected_layout_and_what_was_found(dataset):
    data_folder, save_folder, _ = dataset
    (data_folder / "static_annotations.csv").rename(data_folder / "static_annotations.txt")
    with pytest.raises(DatasetLayoutError) as error:
        emomusic.prepare_emomusic(data_folder, save_folder)
    message = str(error.value)
    assert "expected clips_45seconds/<song_id>.mp3" in message and "in annotations/" in message
    assert "found clips_45seconds/, songs_info.csv, static_annotations.txt" in message
    assert message.endswith("(missing: static_annotations.csv)")


def test_command_line(dataset):
    data_folder, save_folder, _ = dataset
    emomusic.main(["--data_folder", str(data_folder), "--save_folder", str(save_folder), "--valid_fraction", "0.5"])
    assert len(read_manifest(save_folder / "valid.csv")) == 10


def test_docstring_examples_run():
    assert doctest.testmod(emomusic, optionflags=doctest.ELLIPSIS).failed == 0


def test_command_line_reports_a_bad_layout_as_an_error_line(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(SystemExit, match=f"^error: {empty} does not have the expected layout: .*; found an empty folder"):
        emomusic.main(["--data_folder", str(empty), "--save_folder", str(tmp_path / "out")])
