"""VocalSet preparation: singer split per singer, technique split by singer, folder quirks, errors."""

import doctest
import logging
import shutil
from collections import Counter

import pytest

from semisupcon_recipe.manifest import read_manifest
from semisupcon_recipe.preparation import DatasetLayoutError

from .fixtures_b import VOCALSET_SINGERS, build_vocalset
from .fixtures_common import load_prepare_module

vocalset = load_prepare_module("recipes/VocalSet/vocalset_prepare.py")


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    root = tmp_path_factory.mktemp("vocalset")
    return root, build_vocalset(root)


@pytest.fixture
def dataset(pristine, tmp_path):
    """A fresh copy of the module's fixture dataset (tests may damage it)."""
    shutil.copytree(pristine[0], tmp_path / "data")
    return tmp_path / "data", tmp_path / "manifests", pristine[1]


def read_all(manifests):
    return {name: read_manifest(path) for name, path in manifests.items()}


def test_singer_task_splits_every_singer_files(dataset):
    data_folder, save_folder, expected = dataset
    rows = read_all(vocalset.prepare_vocalset(data_folder, save_folder, tasks=["singer"], valid_fraction=0.25))
    assert sorted(rows) == ["singer_test", "singer_train", "singer_valid"]
    per_split = {name: Counter(row["labels"] for row in split.values()) for name, split in rows.items()}
    assert per_split["singer_test"] == {singer: 1 for singer in VOCALSET_SINGERS}
    assert per_split["singer_valid"] == {singer: 3 for singer in VOCALSET_SINGERS}
    assert per_split["singer_train"] == {singer: expected["files_per_singer"] - 4 for singer in VOCALSET_SINGERS}
    every_id = [item for split in rows.values() for item in split]
    assert len(every_id) == len(set(every_id)) == expected["files_per_singer"] * len(VOCALSET_SINGERS)
    assert all(not item.startswith("._") for item in every_id)
    assert all(row["duration"] == pytest.approx(0.1) for split in rows.values() for row in split.values())
    assert all(f"/FULL/{row['labels']}/" in row["wav"] for split in rows.values() for row in split.values())
    assert (save_folder / "singer_train.csv").read_text().splitlines()[0] == "ID,duration,wav,labels"


def test_technique_task_holds_out_the_test_singers(dataset):
    data_folder, save_folder, expected = dataset
    rows = read_all(vocalset.prepare_vocalset(data_folder, save_folder, tasks=["technique"], test_singers=["female2", "m3"],
                                              valid_fraction=0.25))
    test_singers = {item.split("_")[0] for item in rows["technique_test"]}
    assert test_singers == {"f2", "m3"}
    for name in ("technique_train", "technique_valid"):
        assert {item.split("_")[0] for item in rows[name]} == {"f1", "m8"}
    assert len(rows["technique_test"]) == 2 * expected["technique_files_per_singer"]
    assert len(rows["technique_train"]) + len(rows["technique_valid"]) == 2 * expected["technique_files_per_singer"]
    assert len(rows["technique_valid"]) == 7
    labels = {row["labels"] for split in rows.values() for row in split.values()}
    assert labels == {"belt", "vibrato", "lip_trill", "trill", "straight", "spoken", "breathy"}
    assert labels <= set(vocalset.TECHNIQUES)
    assert rows["technique_test"]["f2_long_tones_vibrado_a"]["labels"] == "vibrato"
    assert not any("fast_forte" in item or "messa" in item for split in rows.values() for item in split)


def test_official_test_singer_file_is_used_when_present(dataset):
    data_folder, save_folder, _ = dataset
    (data_folder / "test_singers_technique.txt").write_text("female1\nmale8\n")
    rows = read_all(vocalset.prepare_vocalset(data_folder, save_folder, tasks=["technique"]))
    assert {item.split("_")[0] for item in rows["technique_test"]} == {"f1", "m8"}


def test_default_test_singers_must_exist(dataset):
    data_folder, save_folder, _ = dataset
    with pytest.raises(DatasetLayoutError, match=r"test singer\(s\) \['f8', 'm6', 'm10'\] \(from DEFAULT_TEST_SINGERS\)"):
        vocalset.prepare_vocalset(data_folder, save_folder)


def test_malformed_test_singer_file_names_file_and_line(dataset):
    data_folder, save_folder, _ = dataset
    (data_folder / "test_singers_technique.txt").write_text("female2\nsoprano 3\n")
    with pytest.raises(DatasetLayoutError, match=r"test_singers_technique\.txt, line 2: 'soprano 3' is not a VocalSet singer"):
        vocalset.prepare_vocalset(data_folder, save_folder)


def test_splits_are_seeded(dataset, tmp_path):
    data_folder, _, _ = dataset
    options = dict(test_singers=["f2", "m3"], valid_fraction=0.25, seed=11)
    first = read_all(vocalset.prepare_vocalset(data_folder, tmp_path / "a", **options))
    again = read_all(vocalset.prepare_vocalset(data_folder, tmp_path / "b", **options))
    assert {name: list(rows) for name, rows in first.items()} == {name: list(rows) for name, rows in again.items()}


def test_second_run_skips(dataset, caplog):
    data_folder, save_folder, _ = dataset
    manifests = vocalset.prepare_vocalset(data_folder, save_folder, test_singers=["f2", "m3"])
    stamps = {name: path.stat().st_mtime_ns for name, path in manifests.items()}
    with caplog.at_level(logging.INFO):
        vocalset.prepare_vocalset(data_folder, save_folder, test_singers=["f2", "m3"])
    assert "skipping preparation" in caplog.text
    assert {name: path.stat().st_mtime_ns for name, path in manifests.items()} == stamps


def test_unreadable_audio_names_the_file(dataset):
    data_folder, save_folder, _ = dataset
    broken = data_folder / "FULL" / "m8" / "arpeggios" / "belt" / "m8_arpeggios_belt_a.wav"
    broken.write_bytes(b"RIFF not really a wave file")
    with pytest.raises(DatasetLayoutError, match=r"m8_arpeggios_belt_a\.wav"):
        vocalset.prepare_vocalset(data_folder, save_folder, test_singers=["f2"])


def test_missing_full_folder_is_named(tmp_path):
    with pytest.raises(DatasetLayoutError, match=r"missing folder .*FULL"):
        vocalset.prepare_vocalset(tmp_path, tmp_path / "manifests", test_singers=["f2"])


def test_command_line(dataset):
    data_folder, save_folder, _ = dataset
    vocalset.main(["--data_folder", str(data_folder), "--save_folder", str(save_folder), "--test_singers", "f1", "m3"])
    assert len(list(save_folder.glob("*.csv"))) == 6
    assert {item.split("_")[0] for item in read_manifest(save_folder / "technique_test.csv")} == {"f1", "m3"}


def test_docstring_examples_run():
    assert doctest.testmod(vocalset, optionflags=doctest.ELLIPSIS).failed == 0


def test_command_line_reports_a_bad_layout_as_an_error_line(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(SystemExit, match=f"^error: .*{empty}"):
        vocalset.main(["--data_folder", str(empty), "--save_folder", str(tmp_path / "out")])
