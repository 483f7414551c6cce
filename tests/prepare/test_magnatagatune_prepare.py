"""MagnaTagATune preparation: folder splits, top-50 selection, multi-word tags, dropped clips, errors."""

import logging

import pytest

from semisupcon_recipe.manifest import read_manifest
from semisupcon_recipe.preparation import DatasetLayoutError

from .fixtures_common import CLIP_SECONDS, load_prepare_module
from .fixtures_magnatagatune import MTAT_TAGS, build_magnatagatune

mtat = load_prepare_module("recipes/MagnaTagATune/magnatagatune_prepare.py")


@pytest.fixture(params=["\r\n", "\n"], ids=["crlf", "lf"])
def dataset(tmp_path, request):
    expected = build_magnatagatune(tmp_path / "mtat", line_ending=request.param)
    return tmp_path / "mtat", tmp_path / "manifests", expected


def test_writes_top50_and_all_tag_manifests(dataset, caplog):
    data_folder, save_folder, expected = dataset
    with caplog.at_level(logging.INFO):
        manifests = mtat.prepare_magnatagatune(data_folder, save_folder)
    assert set(manifests) == set(expected["manifests"])
    for name, path in manifests.items():
        assert path.read_text().splitlines()[0] == "ID,duration,wav,labels"
        rows = read_manifest(path)
        assert {clip: row["labels"] for clip, row in rows.items()} == expected["manifests"][name], name
        for clip, row in rows.items():
            assert row["wav"] == str(data_folder / expected["clip_paths"][clip])
            assert row["duration"] == pytest.approx(CLIP_SECONDS, abs=0.06)
    sizes = {name: len(read_manifest(path)) for name, path in manifests.items()}
    assert sizes == {"train_top50": 24, "valid_top50": 2, "test_top50": 6, "train_all": 24, "valid_all": 3, "test_all": 6}
    assert (save_folder / "tags_top50.txt").read_text().splitlines() == expected["top50"]
    assert (save_folder / "tags_all.txt").read_text().splitlines() == MTAT_TAGS
    assert f"clip ids: {expected['broken']}" in caplog.text
    assert "1 clip(s) without any of its 55 tags left out" in caplog.text


def test_multi_word_tags_stay_one_tag(dataset):
    data_folder, save_folder, _ = dataset
    manifests = mtat.prepare_magnatagatune(data_folder, save_folder)
    cells = [row["labels"] for path in manifests.values() for row in read_manifest(path).values()]
    tags = {tag for cell in cells for tag in cell.split(";")}
    assert {"no vocals", "male vocal", "new age", "female voice", "no voice"} <= tags
    assert all(tag in MTAT_TAGS for tag in tags)
    assert "new" not in tags and "age" not in tags
    rows = read_manifest(manifests["train_all"])
    assert rows["22"]["labels"] == "drums;new age"


def test_excluded_clips_leave_every_manifest_but_still_count_for_the_tag_selection(dataset, tmp_path, caplog):
    data_folder, save_folder, expected = dataset
    exclude = tmp_path / "exclude.txt"
    exclude.write_text("2\n\n086\n")
    with caplog.at_level(logging.INFO):
        manifests = mtat.prepare_magnatagatune(data_folder, save_folder, exclude_file=exclude)
    assert "2 clip(s) left out by" in caplog.text
    assert (save_folder / "tags_top50.txt").read_text().splitlines() == expected["top50"]
    for name, path in manifests.items():
        assert set(read_manifest(path)) == set(expected["manifests"][name]) - {"2", "86"}, name
    exclude.write_text("2\n99999\n")
    with pytest.raises(DatasetLayoutError, match=r"exclude\.txt: clip id\(s\) \[99999\] are not in annotations_final\.csv"):
        mtat.prepare_magnatagatune(data_folder, tmp_path / "other", exclude_file=exclude)


def test_wrong_layout_names_the_expected_and_the_found_layout(dataset, tmp_path):
    data_folder, save_folder, _ = dataset
    (tmp_path / "download").mkdir()
    data_folder.rename(tmp_path / "download" / "mtat")
    with pytest.raises(DatasetLayoutError, match=r"expected annotations_final\.csv beside the mp3 folders .*; found mtat/$"):
        mtat.prepare_magnatagatune(tmp_path / "download", save_folder)


def test_top_tags_rank_by_count_and_break_ties_by_column_order():
    clips = [mtat.TaggedClip(str(i), "0/x.mp3", tags) for i, tags in enumerate([("b", "c"), ("c",), ("a",), ("d",)])]
    assert mtat.select_top_tags(["a", "b", "c", "d"], clips, 3) == ["c", "a", "b"]
    with pytest.raises(ValueError, match="only 4 tag columns"):
        mtat.select_top_tags(["a", "b", "c", "d"], clips, 5)


def test_second_run_skips_and_changed_options_rerun(dataset, caplog):
    data_folder, save_folder, _ = dataset
    mtat.prepare_magnatagatune(data_folder, save_folder)
    before = (save_folder / "train_top50.csv").stat().st_mtime_ns
    with caplog.at_level(logging.INFO):
        mtat.prepare_magnatagatune(data_folder, save_folder)
    assert "skipping preparation" in caplog.text
    assert (save_folder / "train_top50.csv").stat().st_mtime_ns == before
    manifests = mtat.prepare_magnatagatune(data_folder, save_folder, top_k=10)
    assert (save_folder / "tags_top10.txt").read_text().count("\n") == 10
    assert set(read_manifest(manifests["train_top10"])) < set(read_manifest(manifests["train_all"]))


def test_missing_mp3_names_the_file(dataset):
    data_folder, save_folder, expected = dataset
    missing = data_folder / expected["clip_paths"]["2"]
    missing.unlink()
    with pytest.raises(DatasetLayoutError, match=str(missing)):
        mtat.prepare_magnatagatune(data_folder, save_folder)


def test_annotations_without_mp3_path_column_name_the_file(dataset):
    data_folder, save_folder, _ = dataset
    annotations = data_folder / "annotations_final.csv"
    lines = annotations.read_text().splitlines()
    annotations.write_text("\n".join(line.rsplit("\t", 1)[0] for line in lines) + "\n")
    with pytest.raises(DatasetLayoutError, match=r"annotations_final\.csv, line 1: .*'mp3_path'"):
        mtat.prepare_magnatagatune(data_folder, save_folder)


def test_bad_tag_cell_names_the_line(dataset):
    data_folder, save_folder, _ = dataset
    annotations = data_folder / "annotations_final.csv"
    lines = annotations.read_text().splitlines()
    lines[3] = lines[3].replace('"0"', '"yes"', 1)
    annotations.write_text("\n".join(lines) + "\n")
    with pytest.raises(DatasetLayoutError, match=r"annotations_final\.csv, line 4 .*'yes'"):
        mtat.prepare_magnatagatune(data_folder, save_folder)


def test_command_line(dataset):
    data_folder, save_folder, _ = dataset
    mtat.main(["--data_folder", str(data_folder), "--save_folder", str(save_folder), "--top_k", "5"])
    assert len((save_folder / "tags_top5.txt").read_text().splitlines()) == 5
    with pytest.raises(SystemExit, match="annotations_final.csv"):
        mtat.main(["--data_folder", str(save_folder), "--save_folder", str(save_folder / "other")])
