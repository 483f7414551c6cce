"""VocalSet preparation: v1.1 and v1.2 layouts, singer split per singer, technique split by singer, errors."""

import doctest
import logging
import shutil
from collections import Counter

import pytest

from semisupcon_recipe.manifest import read_manifest
from semisupcon_recipe.preparation import DatasetLayoutError

from .fixtures_common import load_prepare_module
from .fixtures_vocalset import (
    VOCALSET_SINGERS, VOCALSET_TEST_SINGERS, VOCALSET_TRAIN_SINGERS, VOCALSET_VERSIONS, build_vocalset, short_name,
)

vocalset = load_prepare_module("recipes/VocalSet/vocalset_prepare.py")
SHORT_SINGERS = {short_name(singer) for singer in VOCALSET_SINGERS}


@pytest.fixture(scope="module", params=sorted(VOCALSET_VERSIONS))
def pristine(request, tmp_path_factory):
    root = tmp_path_factory.mktemp(f"vocalset{request.param}")
    return root, build_vocalset(root, version=request.param)


@pytest.fixture
def dataset(pristine, tmp_path):
    """A fresh copy of the module's fixture dataset, version 1.1 or 1.2 (tests may damage it)."""
    shutil.copytree(pristine[0], tmp_path / "data")
    expected = {**pristine[1], "view": tmp_path / "data" / pristine[1]["view"].name}
    return tmp_path / "data", tmp_path / "manifests", expected


def read_all(manifests):
    return {name: read_manifest(path) for name, path in manifests.items()}


def singers_of(rows):
    return {item.split("_")[0] for item in rows}


def test_singer_task_splits_every_singer_files(dataset):
    data_folder, save_folder, expected = dataset
    rows = read_all(vocalset.prepare_vocalset(data_folder, save_folder, tasks=["singer"], valid_fraction=0.25))
    assert sorted(rows) == ["singer_test", "singer_train", "singer_valid"]
    per_split = {name: Counter(row["labels"] for row in split.values()) for name, split in rows.items()}
    assert per_split["singer_test"] == {singer: 1 for singer in SHORT_SINGERS}
    assert per_split["singer_valid"] == {singer: 2 for singer in SHORT_SINGERS}
    assert per_split["singer_train"] == {singer: expected["files_per_singer"] - 3 for singer in SHORT_SINGERS}
    every_row = {item: row for split in rows.values() for item, row in split.items()}
    assert sorted(every_row) == sorted(expected["files"])
    assert all(row["labels"] == expected["files"][item][0] for item, row in every_row.items())
    assert all(row["duration"] == pytest.approx(0.1) for row in every_row.values())
    view = expected["view"]
    assert every_row["f1_arpeggios_belt_a"]["wav"] == str(view / "female1" / "arpeggios" / "belt" / "f1_arpeggios_belt_a.wav")
    assert (save_folder / "singer_train.csv").read_text().splitlines()[0] == "ID,duration,wav,labels"


def test_technique_task_holds_out_the_archive_test_singers(dataset, caplog):
    data_folder, save_folder, expected = dataset
    with caplog.at_level(logging.INFO):
        rows = read_all(vocalset.prepare_vocalset(data_folder, save_folder, tasks=["technique"], valid_fraction=0.25))
    assert f"from {data_folder / 'test_singers_technique.txt'}" in caplog.text
    assert singers_of(rows["technique_test"]) == {short_name(singer) for singer in VOCALSET_TEST_SINGERS}
    assert singers_of(rows["technique_train"]) == singers_of(rows["technique_valid"]) == {"f1", "m8"}
    per_singer = expected["technique_files_per_singer"]
    assert len(rows["technique_test"]) == len(VOCALSET_TEST_SINGERS) * per_singer
    assert len(rows["technique_train"]) + len(rows["technique_valid"]) == len(VOCALSET_TRAIN_SINGERS) * per_singer
    assert len(rows["technique_valid"]) == 7
    labels = {row["labels"] for split in rows.values() for row in split.values()}
    assert labels == {"belt", "vibrato", "lip_trill", "trill", "straight", "spoken", "breathy"}
    every_row = {item: row for split in rows.values() for item, row in split.items()}
    assert every_row["m8_arpeggios_vibrato_a"]["labels"] == "vibrato"
    assert every_row["m8_arpeggios_vibrato_a"]["wav"].endswith("/male8/arpeggios/vibrado/m8_arpeggios_vibrato_a.wav")
    assert not any("fast_forte" in item or "messa" in item for item in every_row)


def test_built_in_test_singers_are_the_archive_list(dataset, caplog):
    data_folder, save_folder, _ = dataset
    (data_folder / "test_singers_technique.txt").unlink()
    assert vocalset.DEFAULT_TEST_SINGERS == tuple(short_name(singer) for singer in VOCALSET_TEST_SINGERS)
    with caplog.at_level(logging.INFO):
        rows = read_all(vocalset.prepare_vocalset(data_folder, save_folder, tasks=["technique"]))
    assert "(from DEFAULT_TEST_SINGERS)" in caplog.text
    assert singers_of(rows["technique_test"]) == {"f2", "f8", "m3", "m5", "m10"}


def test_test_singers_argument_wins_over_the_archive_list(dataset):
    data_folder, save_folder, _ = dataset
    rows = read_all(vocalset.prepare_vocalset(data_folder, save_folder, tasks=["technique"], test_singers=["female1", "m8"]))
    assert singers_of(rows["technique_test"]) == {"f1", "m8"}


def test_test_singers_must_have_a_folder(dataset):
    data_folder, save_folder, expected = dataset
    shutil.rmtree(expected["view"] / "male5")
    with pytest.raises(DatasetLayoutError, match=r"test singer\(s\) \['m5'\] \(from .*test_singers_technique\.txt\) "
                                                 r"have no folder under .*; found singers"):
        vocalset.prepare_vocalset(data_folder, save_folder)


def test_malformed_test_singer_file_names_file_and_line(dataset):
    data_folder, save_folder, _ = dataset
    (data_folder / "test_singers_technique.txt").write_text("female2\nsoprano 3\n")
    with pytest.raises(DatasetLayoutError, match=r"test_singers_technique\.txt, line 2: 'soprano 3' is not a VocalSet singer"):
        vocalset.prepare_vocalset(data_folder, save_folder)


def test_archive_unzipped_into_its_own_folder_is_found(dataset, tmp_path):
    data_folder, save_folder, expected = dataset
    parent = tmp_path / "downloads"
    parent.mkdir()
    data_folder.rename(parent / "VocalSet1-2")
    (parent / "__MACOSX" / "VocalSet1-2" / expected["view"].name).mkdir(parents=True)
    rows = read_all(vocalset.prepare_vocalset(parent, save_folder, tasks=["technique"]))
    assert singers_of(rows["technique_test"]) == {short_name(singer) for singer in VOCALSET_TEST_SINGERS}
    assert all(f"/VocalSet1-2/{expected['view'].name}/" in row["wav"] for row in rows["technique_train"].values())


def test_two_copies_below_data_folder_are_refused(tmp_path):
    build_vocalset(tmp_path / "VocalSet11", version="1.1")
    build_vocalset(tmp_path / "VocalSet1-2", version="1.2")
    with pytest.raises(DatasetLayoutError, match=r"holds several VocalSet copies \(.*VocalSet1-2/data_by_singer, "
                                                 r".*VocalSet11/FULL\); point data_folder at one of them"):
        vocalset.prepare_vocalset(tmp_path, tmp_path / "manifests")


def test_wrong_layout_names_the_expected_layout_and_what_was_found(dataset):
    data_folder, save_folder, expected = dataset
    expected["view"].rename(data_folder / "singers")
    with pytest.raises(DatasetLayoutError) as error:
        vocalset.prepare_vocalset(data_folder, save_folder)
    message = str(error.value)
    assert message.startswith(f"{data_folder} does not have the expected layout: expected FULL/<singer>/")
    assert "data_by_singer/<singer>/<context>/<technique>/*.wav (VocalSet 1.2)" in message
    assert "; found " in message and "singers/, test_singers_technique.txt" in message


def test_singer_view_without_singer_folders_is_named(dataset):
    data_folder, save_folder, expected = dataset
    for singer in VOCALSET_SINGERS:
        (expected["view"] / singer).rename(expected["view"] / f"singer_{singer}")
    with pytest.raises(DatasetLayoutError, match=r"expected singer folders female1\.\.female9 and male1\.\.male11 .*"
                                                 r"found singer_female1/"):
        vocalset.prepare_vocalset(data_folder, save_folder)


def test_splits_are_seeded(dataset, tmp_path):
    data_folder, _, _ = dataset
    options = dict(valid_fraction=0.25, seed=11)
    first = read_all(vocalset.prepare_vocalset(data_folder, tmp_path / "a", **options))
    again = read_all(vocalset.prepare_vocalset(data_folder, tmp_path / "b", **options))
    assert {name: list(rows) for name, rows in first.items()} == {name: list(rows) for name, rows in again.items()}


def test_second_run_skips(dataset, caplog):
    data_folder, save_folder, _ = dataset
    manifests = vocalset.prepare_vocalset(data_folder, save_folder)
    stamps = {name: path.stat().st_mtime_ns for name, path in manifests.items()}
    with caplog.at_level(logging.INFO):
        vocalset.prepare_vocalset(data_folder, save_folder)
    assert "skipping preparation" in caplog.text
    assert {name: path.stat().st_mtime_ns for name, path in manifests.items()} == stamps


def test_unreadable_audio_names_the_file(dataset):
    data_folder, save_folder, expected = dataset
    broken = expected["view"] / "male8" / "arpeggios" / "belt" / "m8_arpeggios_belt_a.wav"
    broken.write_bytes(b"RIFF not really a wave file")
    with pytest.raises(DatasetLayoutError, match=r"m8_arpeggios_belt_a\.wav"):
        vocalset.prepare_vocalset(data_folder, save_folder)


def test_command_line(dataset):
    data_folder, save_folder, _ = dataset
    vocalset.main(["--data_folder", str(data_folder), "--save_folder", str(save_folder), "--test_singers", "f1", "male3"])
    assert len(list(save_folder.glob("*.csv"))) == 6
    assert singers_of(read_manifest(save_folder / "technique_test.csv")) == {"f1", "m3"}


def test_docstring_examples_run():
    assert doctest.testmod(vocalset, optionflags=doctest.ELLIPSIS).failed == 0


def test_command_line_reports_a_bad_layout_as_an_error_line(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(SystemExit, match=f"^error: {empty} does not have the expected layout: .*; found an empty folder"):
        vocalset.main(["--data_folder", str(empty), "--save_folder", str(tmp_path / "out")])
