"""GTZAN preparation: the shipped fault-filtered split, other layouts, skipping, errors, command line."""

import logging

import pytest
from torchaudio.datasets import gtzan as torchaudio_gtzan

from semisupcon_recipe.manifest import read_manifest
from semisupcon_recipe.preparation import DatasetLayoutError

from .fixtures_a import GTZAN_GENRES, build_gtzan, write_gtzan_split_lists
from .fixtures_common import load_prepare_module

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


def test_full_dataset_with_the_shipped_split(tmp_path):
    data_folder = build_gtzan(tmp_path / "gtzan", seconds=0.05)
    manifests = gtzan.prepare_gtzan(data_folder, tmp_path / "manifests")
    rows = {split: read_manifest(path) for split, path in manifests.items()}
    assert {split: len(split_rows) for split, split_rows in rows.items()} == {"train": 443, "valid": 197, "test": 290}
    assert manifests["test"].read_text().splitlines()[0] == "ID,duration,wav,labels"
    row = rows["test"]["blues.00012"]
    assert row["labels"] == "blues" and row["wav"] == str(data_folder / "genres" / "blues" / "blues.00012.wav")
    assert row["duration"] == pytest.approx(0.05, abs=1e-3)
    assert all(row["labels"] == clip.split(".")[0] for split_rows in rows.values() for clip, row in split_rows.items())
    assert {row["labels"] for row in rows["train"].values()} == set(GTZAN_GENRES)


@pytest.fixture
def small_dataset(tmp_path):
    data_folder = build_gtzan(tmp_path / "gtzan", clips_per_genre=3)
    split_folder = write_gtzan_split_lists(tmp_path / "lists", SMALL_SPLITS)
    return data_folder, split_folder, tmp_path / "manifests"


def test_kaggle_folder_original_au_files_and_undecodable_clip(tmp_path, caplog):
    data_folder = build_gtzan(tmp_path / "Data", clips_per_genre=3, folder="genres_original")
    (data_folder / "genres_original" / "jazz" / "jazz.00002.wav").write_bytes(b"\0" * 64)
    build_gtzan(tmp_path / "au", clips_per_genre=3, extension=".au")
    split_folder = write_gtzan_split_lists(tmp_path / "lists", SMALL_SPLITS)
    with caplog.at_level(logging.WARNING):
        manifests = gtzan.prepare_gtzan(data_folder, tmp_path / "kaggle", split_folder=split_folder)
    assert "skipped 1 undecodable file(s): jazz.00002" in caplog.text
    assert set(read_manifest(manifests["test"])) == set(SMALL_SPLITS["test"]) - {"jazz.00002"}
    manifests = gtzan.prepare_gtzan(tmp_path / "au", tmp_path / "au_manifests", split_folder=split_folder)
    row = read_manifest(manifests["valid"])["blues.00002"]
    assert row["wav"].endswith(".au") and row["duration"] > 0


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
    with pytest.raises(DatasetLayoutError, match="genres"):
        gtzan.prepare_gtzan(split_folder, save_folder, split_folder=split_folder)


def test_command_line(small_dataset):
    data_folder, split_folder, save_folder = small_dataset
    arguments = ["--data_folder", str(data_folder), "--save_folder", str(save_folder), "--split_folder", str(split_folder)]
    gtzan.main(arguments)
    assert {path.name for path in save_folder.glob("*.csv")} == {"train.csv", "valid.csv", "test.csv"}
    assert len(read_manifest(save_folder / "test.csv")) == 5
    (split_folder / "train_filtered.txt").unlink()
    with pytest.raises(SystemExit, match="train_filtered.txt"):
        gtzan.main(arguments[:2] + ["--save_folder", str(save_folder / "again"), "--split_folder", str(split_folder)])
