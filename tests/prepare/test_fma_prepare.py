"""FMA preparation: subsets from the real tracks.csv format, unreadable mp3s skipped and listed, exclusions, errors."""

import logging

import pytest

from semisupcon_recipe.manifest import read_manifest
from semisupcon_recipe.preparation import DatasetLayoutError

from .fixtures_common import CLIP_SECONDS, load_prepare_module
from .fixtures_fma import FMA_EMPTY, FMA_UNDECODABLE, build_fma, fma_name

fma = load_prepare_module("recipes/FMA/fma_prepare.py")
MEDIUM_READABLE = {"000002", "000005", "000010", "000140", "155066"}


@pytest.fixture
def dataset(tmp_path):
    return build_fma(tmp_path / "fma"), tmp_path / "manifests"


def test_medium_subset_is_unlabeled_and_skips_unreadable_files(dataset, caplog):
    data_folder, save_folder = dataset
    with caplog.at_level(logging.INFO):
        manifests = fma.prepare_fma(data_folder, save_folder)
    assert "FMA medium: 5 tracks" in caplog.text and "official split: training 3, validation 1, test 1" in caplog.text
    assert list(manifests) == ["unlabeled"]
    assert manifests["unlabeled"].read_text().splitlines()[0] == "ID,duration,wav,labels"
    rows = read_manifest(manifests["unlabeled"])
    assert set(rows) == MEDIUM_READABLE
    assert all(row["labels"] == "" for row in rows.values())
    assert all(row["duration"] == pytest.approx(CLIP_SECONDS, abs=0.06) for row in rows.values())
    assert rows["155066"]["wav"] == str(data_folder / "fma_medium" / "155" / "155066.mp3")
    assert f"skipped 2 unreadable mp3 file(s), track ids: {fma_name(FMA_UNDECODABLE)}, {fma_name(FMA_EMPTY)}" in caplog.text


def test_large_subset_and_exclusion_list(tmp_path):
    data_folder = build_fma(tmp_path / "fma", archives=("small", "large"))
    exclude = tmp_path / "broken.txt"
    exclude.write_text("001486\n99134\n\n000010\n")
    rows = read_manifest(fma.prepare_fma(data_folder, tmp_path / "large", subset="large", exclude_file=exclude)["unlabeled"])
    assert set(rows) == (MEDIUM_READABLE - {"000010"}) | {"003000"}
    rows = read_manifest(fma.prepare_fma(data_folder, tmp_path / "small", subset="small")["unlabeled"])
    assert set(rows) == {"000002", "000005", "000010"}


def test_second_run_skips_and_new_exclusions_rerun(dataset, tmp_path, caplog):
    data_folder, save_folder = dataset
    fma.prepare_fma(data_folder, save_folder)
    with caplog.at_level(logging.INFO):
        fma.prepare_fma(data_folder, save_folder)
    assert "skipping preparation" in caplog.text
    exclude = tmp_path / "exclude.txt"
    exclude.write_text("2\n")
    manifests = fma.prepare_fma(data_folder, save_folder, exclude_file=exclude)
    assert set(read_manifest(manifests["unlabeled"])) == MEDIUM_READABLE - {"000002"}


def test_missing_mp3_names_the_file(dataset):
    data_folder, save_folder = dataset
    missing = data_folder / "fma_medium" / "000" / "000140.mp3"
    missing.unlink()
    with pytest.raises(DatasetLayoutError, match=f"{missing}.*track 000140 of the medium subset"):
        fma.prepare_fma(data_folder, save_folder)
    with pytest.raises(DatasetLayoutError, match="fma_large"):
        fma.prepare_fma(data_folder, save_folder, subset="large")


def test_malformed_metadata_names_the_file(dataset):
    data_folder, save_folder = dataset
    tracks = data_folder / "fma_metadata" / "tracks.csv"
    text = tracks.read_text()
    tracks.write_text(text.replace(",subset,", ",subsets,", 1))
    with pytest.raises(DatasetLayoutError, match=r"tracks\.csv, lines 1-3: .*\('set', 'subset'\)"):
        fma.prepare_fma(data_folder, save_folder)
    tracks.write_text(text + "12a,broken row\n")
    with pytest.raises(DatasetLayoutError, match=r"tracks\.csv, line 13: expected a numeric track id"):
        fma.prepare_fma(data_folder, save_folder)
    tracks.write_text(text.replace(",validation,medium,", ",validation,mediun,", 1))
    with pytest.raises(DatasetLayoutError, match=r"tracks\.csv, line \d+ \(track 140\): expected a subset in .* found 'mediun'"):
        fma.prepare_fma(data_folder, save_folder)
    tracks.write_text(text.replace(",split,subset,", ",splits,subset,", 1))
    with pytest.raises(DatasetLayoutError, match=r"tracks\.csv, lines 1-3: .*\('set', 'split'\)"):
        fma.prepare_fma(data_folder, save_folder)
    bad_exclusions = data_folder / "exclude.txt"
    bad_exclusions.write_text("000002\nfoo\n")
    with pytest.raises(DatasetLayoutError, match=r"exclude\.txt, line 2: 'foo'"):
        fma.prepare_fma(data_folder, save_folder, exclude_file=bad_exclusions)


def test_tracks_csv_has_the_real_three_row_header_and_52_columns(dataset):
    data_folder, _ = dataset
    lines = (data_folder / "fma_metadata" / "tracks.csv").read_text().split("\n")
    assert lines[0].startswith(",album,album,") and lines[0].count(",") == 52
    assert lines[1].startswith(",comments,date_created,date_released,") and ",split,subset,bit_rate," in lines[1]
    assert lines[2] == "track_id" + "," * 52


def test_wrong_layout_names_the_expected_and_the_found_layout(dataset, tmp_path):
    data_folder, save_folder = dataset
    with pytest.raises(DatasetLayoutError, match=r"expected fma_metadata/tracks\.csv and fma_medium/.*; found 000/, 001/, 099/"):
        fma.prepare_fma(data_folder / "fma_medium", save_folder)
    (data_folder / "fma_metadata" / "tracks.csv").rename(data_folder / "tracks.csv")
    with pytest.raises(DatasetLayoutError, match=r"found fma_medium/, fma_metadata/, tracks\.csv"):
        fma.prepare_fma(data_folder, save_folder)


def test_command_line(dataset):
    data_folder, save_folder = dataset
    fma.main(["--data_folder", str(data_folder), "--save_folder", str(save_folder), "--subset", "medium"])
    assert set(read_manifest(save_folder / "unlabeled.csv")) == MEDIUM_READABLE
    with pytest.raises(SystemExit, match="fma_small"):
        fma.main(["--data_folder", str(data_folder / "fma_medium"), "--save_folder", str(save_folder / "x"), "--subset", "small"])
