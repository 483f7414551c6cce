"""NSynth preparation: official splits, piano-range pitch filter, family labels, subsets, errors."""

import doctest
import json
import logging
import shutil

import pytest

from semisupcon_recipe.manifest import read_manifest
from semisupcon_recipe.preparation import DatasetLayoutError

from .fixtures_nsynth import build_nsynth
from .fixtures_common import CLIP_SECONDS, load_prepare_module

nsynth = load_prepare_module("recipes/NSynth/nsynth_prepare.py")


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    root = tmp_path_factory.mktemp("nsynth")
    return root, build_nsynth(root)


@pytest.fixture
def dataset(pristine, tmp_path):
    """A fresh copy of the module's fixture dataset (tests may damage it)."""
    shutil.copytree(pristine[0], tmp_path / "data")
    return tmp_path / "data", tmp_path / "manifests", pristine[1]


def test_writes_both_tasks_for_the_official_splits(dataset):
    data_folder, save_folder, expected = dataset
    manifests = nsynth.prepare_nsynth(data_folder, save_folder)
    assert sorted(manifests) == sorted(expected)
    for name, path in manifests.items():
        rows = read_manifest(path)
        assert {note: row["labels"] for note, row in rows.items()} == expected[name], name
        assert path.read_text().splitlines()[0] == "ID,duration,wav,labels"
        split = name.rsplit("_", 1)[1]
        for note, row in rows.items():
            assert row["wav"].endswith(f"nsynth-{split}/audio/{note}.wav")
            assert row["duration"] == pytest.approx(CLIP_SECONDS)
    pitches = {int(row["labels"]) for name in manifests if name.startswith("pitch") for row in read_manifest(manifests[name]).values()}
    assert min(pitches) == 21 and max(pitches) == 108
    assert len(read_manifest(manifests["pitch_train"])) == 6 and len(read_manifest(manifests["instrument_family_train"])) == 8


def test_pitch_range_is_an_argument(dataset):
    data_folder, save_folder, _ = dataset
    manifests = nsynth.prepare_nsynth(data_folder, save_folder, tasks=["pitch"], min_pitch=40, max_pitch=72)
    assert sorted(manifests) == ["pitch_test", "pitch_train", "pitch_valid"]
    assert {row["labels"] for row in read_manifest(manifests["pitch_train"]).values()} == {"40", "60", "72"}


def test_max_per_split_is_a_seeded_subset(dataset, tmp_path):
    data_folder, _, expected = dataset
    first = nsynth.prepare_nsynth(data_folder, tmp_path / "a", max_per_split=3, seed=5)
    again = nsynth.prepare_nsynth(data_folder, tmp_path / "b", max_per_split=3, seed=5)
    for name in first:
        rows = read_manifest(first[name])
        assert len(rows) == min(3, len(expected[name]))
        assert set(rows) <= set(expected[name])
        assert list(rows) == list(read_manifest(again[name]))


def test_second_run_skips_unless_options_change(dataset, caplog):
    data_folder, save_folder, _ = dataset
    manifests = nsynth.prepare_nsynth(data_folder, save_folder, max_per_split=2)
    stamps = {name: path.stat().st_mtime_ns for name, path in manifests.items()}
    with caplog.at_level(logging.INFO):
        nsynth.prepare_nsynth(data_folder, save_folder, max_per_split=2)
    assert "skipping preparation" in caplog.text
    assert {name: path.stat().st_mtime_ns for name, path in manifests.items()} == stamps
    nsynth.prepare_nsynth(data_folder, save_folder)
    assert len(read_manifest(manifests["instrument_family_train"])) == 8


def test_missing_audio_names_the_file(dataset):
    data_folder, save_folder, _ = dataset
    (data_folder / "nsynth-valid" / "audio" / "reed_acoustic_006-060-050.wav").unlink()
    with pytest.raises(DatasetLayoutError, match=r"missing audio file .*reed_acoustic_006-060-050\.wav"):
        nsynth.prepare_nsynth(data_folder, save_folder)


def test_malformed_examples_json_names_file_and_note(dataset):
    data_folder, save_folder, _ = dataset
    examples_path = data_folder / "nsynth-test" / "examples.json"
    examples = json.loads(examples_path.read_text())
    del examples["vocal_synthetic_011-048-050"]["instrument_family_str"]
    examples_path.write_text(json.dumps(examples))
    with pytest.raises(DatasetLayoutError, match=r"nsynth-test/examples\.json, note 'vocal_synthetic_011-048-050': missing field"):
        nsynth.prepare_nsynth(data_folder, save_folder)
    examples_path.write_text('{"truncated": ')
    with pytest.raises(DatasetLayoutError, match=r"nsynth-test/examples\.json is not valid JSON"):
        nsynth.prepare_nsynth(data_folder, save_folder)


def test_missing_split_folder_names_expected_and_found(dataset):
    data_folder, save_folder, _ = dataset
    shutil.rmtree(data_folder / "nsynth-valid")
    (data_folder / "nsynth-valid.jsonwav.tar.gz").write_bytes(b"")
    with pytest.raises(DatasetLayoutError, match=r"expected nsynth-train/, nsynth-valid/ and nsynth-test/.*; "
                                                  r"found nsynth-test/, nsynth-train/, nsynth-valid\.jsonwav\.tar\.gz$"):
        nsynth.prepare_nsynth(data_folder, save_folder)


def test_examples_json_is_in_the_real_files_style(dataset):
    data_folder, _, _ = dataset
    text = (data_folder / "nsynth-test" / "examples.json").read_text()
    assert text.startswith('{\n    "keyboard_acoustic_009-060-100": {\n        "qualities": [\n            0, \n')
    assert text.endswith("    }\n}")
    entry = json.loads(text)["keyboard_acoustic_009-060-100"]
    assert list(entry) == ["qualities", "pitch", "note", "instrument_source_str", "velocity", "instrument_str", "instrument",
                           "sample_rate", "qualities_str", "instrument_source", "note_str", "instrument_family",
                           "instrument_family_str"]
    assert len(entry["qualities"]) == 10


def test_unknown_task_is_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown NSynth task"):
        nsynth.prepare_nsynth(tmp_path, tmp_path, tasks=["timbre"])


def test_command_line(dataset):
    data_folder, save_folder, _ = dataset
    nsynth.main(["--data_folder", str(data_folder), "--save_folder", str(save_folder), "--tasks", "instrument_family",
                 "--max_per_split", "2"])
    assert sorted(path.name for path in save_folder.glob("*.csv")) == [
        "instrument_family_test.csv", "instrument_family_train.csv", "instrument_family_valid.csv"]
    assert len(read_manifest(save_folder / "instrument_family_train.csv")) == 2


def test_docstring_examples_run():
    assert doctest.testmod(nsynth, optionflags=doctest.ELLIPSIS).failed == 0


def test_relative_data_folder_gives_absolute_audio_paths(dataset, monkeypatch):
    data_folder, save_folder, _ = dataset
    monkeypatch.chdir(data_folder.parent)
    manifests = nsynth.prepare_nsynth(data_folder.name, save_folder, tasks=["pitch"])
    assert all(row["wav"].startswith(str(data_folder)) for row in read_manifest(manifests["pitch_test"]).values())


def test_command_line_reports_a_bad_layout_as_an_error_line(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(SystemExit, match=f"^error: .*{empty}"):
        nsynth.main(["--data_folder", str(empty), "--save_folder", str(tmp_path / "out")])
