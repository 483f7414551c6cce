"""MTG-Jamendo preparation: four tasks from the official split files, low-quality audio, skipping, errors."""

import logging
import shutil

import pytest

from semisupcon_recipe.manifest import read_manifest
from semisupcon_recipe.preparation import DatasetLayoutError

from .fixtures_mtg_jamendo import build_mtg_jamendo
from .fixtures_common import CLIP_SECONDS, load_prepare_module

jamendo = load_prepare_module("recipes/MTG-Jamendo/mtg_jamendo_prepare.py")


@pytest.fixture
def dataset(tmp_path):
    expected = build_mtg_jamendo(tmp_path / "mtg-jamendo-dataset")
    return tmp_path / "mtg-jamendo-dataset", tmp_path / "manifests", expected


def test_writes_every_task_and_split(dataset):
    data_folder, save_folder, expected = dataset
    manifests = jamendo.prepare_mtg_jamendo(data_folder, save_folder)
    assert set(manifests) == set(expected)
    for name, path in manifests.items():
        assert path.read_text().splitlines()[0] == "ID,duration,wav,labels"
        rows = read_manifest(path)
        assert {track: row["labels"] for track, row in rows.items()} == expected[name], name
        for row in rows.values():
            assert row["duration"] == pytest.approx(CLIP_SECONDS, abs=0.06)  # from the audio, not DURATION
    row = read_manifest(manifests["train_top50tags"])["track_0000241"]
    assert row["wav"] == str(data_folder / "audio" / "41" / "241.mp3")
    assert row["labels"] == "genre---rock;genre---pop;instrument---guitar;mood/theme---energetic"
    sizes = {name: len(read_manifest(path)) for name, path in manifests.items()}
    assert sizes["train_top50tags"] == 6 and sizes["valid_genre"] == 2 and sizes["test_instrument"] == 1
    assert sizes["train_moodtheme"] == 4


def test_low_quality_audio_and_task_subset(tmp_path):
    data_folder = tmp_path / "repo"
    expected = build_mtg_jamendo(data_folder, low_quality=True)
    manifests = jamendo.prepare_mtg_jamendo(data_folder, tmp_path / "out", tasks=["genre"], low_quality=True)
    assert sorted(manifests) == ["test_genre", "train_genre", "valid_genre"]
    rows = read_manifest(manifests["valid_genre"])
    assert {track: row["labels"] for track, row in rows.items()} == expected["valid_genre"]
    assert rows["track_1091506"]["wav"] == str(data_folder / "audio-low" / "06" / "1091506.low.mp3")


def test_second_run_skips(dataset, caplog):
    data_folder, save_folder, _ = dataset
    jamendo.prepare_mtg_jamendo(data_folder, save_folder)
    for path in (data_folder / "audio").rglob("*.mp3"):
        path.unlink()
    with caplog.at_level(logging.INFO):
        jamendo.prepare_mtg_jamendo(data_folder, save_folder)
    assert "skipping preparation" in caplog.text


def test_undecodable_mp3_is_skipped_and_logged(dataset, caplog):
    data_folder, save_folder, _ = dataset
    (data_folder / "audio" / "07" / "1420607.mp3").write_bytes(b"\0" * 100)
    with caplog.at_level(logging.WARNING):
        manifests = jamendo.prepare_mtg_jamendo(data_folder, save_folder)
    assert "tracks: track_1420607" in caplog.text
    assert set(read_manifest(manifests["test_genre"])) == {"track_1180905"}


def test_missing_audio_names_the_file(dataset):
    data_folder, save_folder, _ = dataset
    missing = data_folder / "audio" / "59" / "8559.mp3"
    missing.unlink()
    with pytest.raises(DatasetLayoutError, match=f"{missing}.*track_0008559"):
        jamendo.prepare_mtg_jamendo(data_folder, save_folder)


def test_malformed_split_files_name_the_file(dataset):
    data_folder, save_folder, _ = dataset
    split_file = data_folder / "data" / "splits" / "split-0" / "autotagging_genre-validation.tsv"
    lines = split_file.read_text().splitlines()
    split_file.write_text("\r\n".join([lines[0].replace("PATH", "FILE"), *lines[1:]]) + "\r\n")
    with pytest.raises(DatasetLayoutError, match=r"autotagging_genre-validation\.tsv, line 1: expected the header"):
        jamendo.prepare_mtg_jamendo(data_folder, save_folder)
    split_file.write_text("\r\n".join([lines[0], lines[1].rsplit("\t", 1)[0]]) + "\r\n")
    with pytest.raises(DatasetLayoutError, match=r"validation\.tsv, line 2: track 'track_0519491' has no tags"):
        jamendo.prepare_mtg_jamendo(data_folder, save_folder)
    split_file.unlink()
    with pytest.raises(DatasetLayoutError, match=str(split_file)):
        jamendo.prepare_mtg_jamendo(data_folder, save_folder)


def test_split_files_keep_the_real_crlf_line_endings(dataset):
    data_folder, _, _ = dataset
    raw = (data_folder / "data" / "splits" / "split-0" / "autotagging_top50tags-train.tsv").read_bytes()
    assert raw.startswith(b"TRACK_ID\tARTIST_ID\tALBUM_ID\tPATH\tDURATION\tTAGS\r\n") and raw.count(b"\n") == raw.count(b"\r\n")


def test_data_folder_without_the_split_files_names_expected_and_found(dataset):
    data_folder, save_folder, _ = dataset
    with pytest.raises(DatasetLayoutError, match=r"expected data/splits/split-0/autotagging_<task>.*; found 05/, 06/, 07/, 41/"):
        jamendo.prepare_mtg_jamendo(data_folder / "audio", save_folder)


def test_audio_download_not_unpacked_names_expected_and_found(dataset):
    data_folder, save_folder, _ = dataset
    shutil.rmtree(data_folder / "audio")
    (data_folder / "audio").mkdir()
    (data_folder / "audio" / "raw_30s_audio-00.tar").write_bytes(b"")
    with pytest.raises(DatasetLayoutError, match=r"expected the unpacked audio download, folders 00/ \.\. 99/.*found raw_30s_audio-00\.tar"):
        jamendo.prepare_mtg_jamendo(data_folder, save_folder)


def test_command_line(dataset):
    data_folder, save_folder, expected = dataset
    jamendo.main(["--data_folder", str(data_folder), "--save_folder", str(save_folder), "--tasks", "moodtheme", "instrument"])
    assert sorted(path.name for path in save_folder.glob("*.csv")) == sorted(
        f"{name}.csv" for name in expected if name.endswith(("moodtheme", "instrument"))
    )
