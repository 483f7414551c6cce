"""GTZAN preparation: the shipped fault-filtered split, the genres.tar.gz and Kaggle layouts, skipping, errors."""

import doctest
import logging

import pytest
from torchaudio.datasets import gtzan as torchaudio_gtzan

from semisupcon_recipe.manifest import read_manifest
from semisupcon_recipe.preparation import DatasetLayoutError

from .fixtures_common import load_prepare_module
from .fixtures_gtzan import GTZAN_GENRES, GTZAN_LAYOUTS, KAGGLE_UNDECODABLE, build_gtzan, write_gtzan_split_lists

gtzan = load_prepare_module("recipes/GTZAN/gtzan_prepare.py")
SMALL_SPLITS = {
    "train": [f"{genre}.0000{number}" for genre in GTZAN_GENRES for number in (0, 1)],
    "valid": [f"{genre}.00002" for genre in GTZAN_GENRES[:5]],
    "test": [f"{genre}.00002" for genre in GTZAN_GENRES[5:]],
}


def test_shipped_lists_are_the_fault_filtered_split():
    lists = {split: gtzan.read_split_list(gtzan.DEFAULT_SPLIT_FOLDER / name) for split, name in gtzan.SPLIT_LISTS.items()}
    assert {split: len(names) for split, names in lists.items()} == {"train": 443, "valid": 197, "test": 290}
    assert lists["train"] == torchaudio_gtzan.filtered_train
    assert lists["valid"] == torchaudio_gtzan.filtered_valid
    assert lists["test"] == torchaudio_gtzan.filtered_test
    assert len(set(lists["train"]) | set(lists["valid"]) | set(lists["test"])) == 930


@pytest.mark.parametrize("layout, train_size", [("genres.tar.gz", 443), ("kaggle", 442)])
def test_full_dataset_from_the_extraction_root_gives_the_shipped_split(tmp_path, caplog, layout, train_size):
    root = tmp_path / "download"
    genres_folder = build_gtzan(root, layout=layout, seconds=0.05)
    with caplog.at_level(logging.INFO):
        manifests = gtzan.prepare_gtzan(root, tmp_path / "manifests")
    rows = {split: read_manifest(path) for split, path in manifests.items()}
    assert {split: len(split_rows) for split, split_rows in rows.items()} == {"train": train_size, "valid": 197, "test": 290}
    assert f"GTZAN clips in {genres_folder}" in caplog.text
    assert manifests["test"].read_text().splitlines()[0] == "ID,duration,wav,labels"
    row = rows["test"]["blues.00012"]
    assert row["labels"] == "blues" and row["wav"] == str(genres_folder / "blues" / "blues.00012.wav")
    assert row["duration"] == pytest.approx(0.05, abs=1e-3)
    assert all(row["labels"] == clip.split(".")[0] for split_rows in rows.values() for clip, row in split_rows.items())
    assert {row["labels"] for row in rows["train"].values()} == set(GTZAN_GENRES)
    if layout == "kaggle":
        assert KAGGLE_UNDECODABLE not in rows["train"]
        assert f"skipped 1 undecodable file(s): {KAGGLE_UNDECODABLE}" in caplog.text


@pytest.fixture
def small_dataset(tmp_path):
    build_gtzan(tmp_path / "gtzan", clips_per_genre=3)
    split_folder = write_gtzan_split_lists(tmp_path / "lists", SMALL_SPLITS)
    return tmp_path / "gtzan", split_folder, tmp_path / "manifests"


@pytest.mark.parametrize("layout", sorted(GTZAN_LAYOUTS))
@pytest.mark.parametrize("levels_above", [0, 1, 2])
def test_genre_folders_are_found_at_or_below_data_folder(tmp_path, layout, levels_above):
    root = tmp_path / "downloads" / "music" / "gtzan"
    genres_folder = build_gtzan(root, clips_per_genre=3, layout=layout)
    # A macOS resource-fork copy at the same depth would make the search ambiguous if it were not skipped.
    (root.parent / "__MACOSX" / "gtzan" / GTZAN_LAYOUTS[layout][0] / "blues").mkdir(parents=True)
    split_folder = write_gtzan_split_lists(tmp_path / "lists", SMALL_SPLITS)
    data_folder = genres_folder.parents[levels_above]
    manifests = gtzan.prepare_gtzan(data_folder, tmp_path / "manifests", split_folder=split_folder)
    row = read_manifest(manifests["valid"])["blues.00002"]
    assert row["wav"] == str(genres_folder / "blues" / f"blues.00002{GTZAN_LAYOUTS[layout][1]}")
    assert row["duration"] > 0


def test_the_shallowest_copy_wins_and_two_at_one_depth_are_refused(tmp_path):
    build_gtzan(tmp_path / "a", clips_per_genre=1)
    build_gtzan(tmp_path / "b", clips_per_genre=1, layout="kaggle")
    assert gtzan.find_genres_folder(tmp_path) == tmp_path / "a" / "genres"
    build_gtzan(tmp_path / "c", clips_per_genre=1)
    with pytest.raises(DatasetLayoutError, match=r"holds several GTZAN copies \(.*/a/genres, .*/c/genres\)"):
        gtzan.find_genres_folder(tmp_path)


def test_wrong_layout_names_the_expected_layout_and_what_was_found(small_dataset):
    data_folder, split_folder, save_folder = small_dataset
    (data_folder / "genres").rename(data_folder / "music")
    with pytest.raises(DatasetLayoutError) as error:
        gtzan.prepare_gtzan(data_folder, save_folder, split_folder=split_folder)
    message = str(error.value)
    assert message.startswith(f"{data_folder} does not have the expected layout: expected genres/<genre>/<genre>.000NN.wav")
    assert "genres_original/<genre>/" in message and "(Kaggle: Data/genres_original/)" in message
    assert message.endswith("; found music/")


def test_second_run_skips_and_other_lists_rerun(small_dataset, caplog):
    data_folder, split_folder, save_folder = small_dataset
    gtzan.prepare_gtzan(data_folder, save_folder, split_folder=split_folder)
    with caplog.at_level(logging.INFO):
        gtzan.prepare_gtzan(data_folder, save_folder, split_folder=split_folder)
    assert "skipping preparation" in caplog.text
    other = write_gtzan_split_lists(split_folder.parent / "other", {**SMALL_SPLITS, "train": SMALL_SPLITS["train"][:4]})
    manifests = gtzan.prepare_gtzan(data_folder, save_folder, split_folder=other)
    assert len(read_manifest(manifests["train"])) == 4


def test_missing_clip_names_the_file(small_dataset):
    data_folder, split_folder, save_folder = small_dataset
    missing = data_folder / "genres" / "rock" / "rock.00002.wav"
    missing.unlink()
    with pytest.raises(DatasetLayoutError, match=f"{missing}.*rock.00002"):
        gtzan.prepare_gtzan(data_folder, save_folder, split_folder=split_folder)


def test_malformed_and_overlapping_lists_name_the_file(small_dataset):
    data_folder, split_folder, save_folder = small_dataset
    valid_list = split_folder / "valid_filtered.txt"
    valid_list.write_text("blues/blues.00002.wav\npolka/polka.00001.wav\n")
    with pytest.raises(DatasetLayoutError, match=r"valid_filtered\.txt, line 2: 'polka/polka.00001.wav'"):
        gtzan.prepare_gtzan(data_folder, save_folder, split_folder=split_folder)
    valid_list.write_text("blues/blues.00001.wav\n")
    with pytest.raises(DatasetLayoutError, match="blues.00001 is listed in both train_filtered.txt and valid_filtered.txt"):
        gtzan.prepare_gtzan(data_folder, save_folder, split_folder=split_folder)


def test_command_line(small_dataset):
    data_folder, split_folder, save_folder = small_dataset
    arguments = ["--data_folder", str(data_folder), "--save_folder", str(save_folder), "--split_folder", str(split_folder)]
    gtzan.main(arguments)
    assert {path.name for path in save_folder.glob("*.csv")} == {"train.csv", "valid.csv", "test.csv"}
    assert len(read_manifest(save_folder / "test.csv")) == 5
    (split_folder / "train_filtered.txt").unlink()
    with pytest.raises(SystemExit, match="train_filtered.txt"):
        gtzan.main(arguments[:2] + ["--save_folder", str(save_folder / "again"), "--split_folder", str(split_folder)])


def test_command_line_reports_a_bad_layout_as_an_error_line(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(SystemExit, match=f"^error: {empty} does not have the expected layout: .*; found an empty folder"):
        gtzan.main(["--data_folder", str(empty), "--save_folder", str(tmp_path / "out")])


def test_docstring_examples_run():
    assert doctest.testmod(gtzan, optionflags=doctest.ELLIPSIS).failed == 0
