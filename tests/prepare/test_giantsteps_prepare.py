"""GiantSteps key preparation: splits, 24-class labels mir_eval accepts, skipping, errors."""

import doctest
import logging
import shutil

import mir_eval
import pytest

from semisupcon_recipe.manifest import read_manifest
from semisupcon_recipe.preparation import DatasetLayoutError

from .fixtures_b import GIANTSTEPS_MTG_KEPT, GIANTSTEPS_TEST_KEYS, build_giantsteps
from .fixtures_common import CLIP_SECONDS, load_prepare_module

giantsteps = load_prepare_module("recipes/GiantSteps/giantsteps_prepare.py")


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    root = tmp_path_factory.mktemp("giantsteps")
    return root, build_giantsteps(root)


@pytest.fixture
def dataset(pristine, tmp_path):
    """A fresh copy of the module's fixture dataset (tests may damage it)."""
    shutil.copytree(pristine[0], tmp_path / "data")
    return tmp_path / "data", tmp_path / "manifests", pristine[1]


def test_writes_the_protocol_splits(dataset):
    data_folder, save_folder, expected = dataset
    manifests = giantsteps.prepare_giantsteps(data_folder, save_folder)
    rows = {split: read_manifest(path) for split, path in manifests.items()}
    assert {split: len(rows[split]) for split in rows} == expected
    assert manifests["train"].read_text().splitlines()[0] == "ID,duration,wav,labels"
    assert {track: row["labels"] for track, row in rows["test"].items()} == {
        track: label for track, (_, label) in GIANTSTEPS_TEST_KEYS.items()
    }
    training = {**rows["train"], **rows["valid"]}
    assert set(training) == set(GIANTSTEPS_MTG_KEPT)
    assert not set(rows["train"]) & set(rows["valid"])
    for row in training.values():
        assert row["labels"] in giantsteps.KEY_VOCABULARY
        assert row["wav"].endswith(".LOFI.mp3") and "giantsteps-mtg-key-dataset" in row["wav"]
        mir_eval.key.validate_key(row["labels"])
        assert row["duration"] == pytest.approx(CLIP_SECONDS, abs=0.06)
    assert training["3000003"]["labels"] == "Gb major" and training["3000008"]["labels"] == "Db minor"


def test_vocabulary_is_24_keys_that_mir_eval_scores():
    assert len(set(giantsteps.KEY_VOCABULARY)) == 24
    assert mir_eval.key.weighted_score("Db minor", giantsteps.normalise_key("C# minor")) == 1.0


@pytest.mark.parametrize(
    "text, label",
    [("C# minor", "Db minor"), ("d#  MAJOR", "Eb major"), ("E# major", "F major"), ("Bb min", "Bb minor"), ("B♭ major", "Bb major")],
)
def test_normalise_key_spellings(text, label):
    assert giantsteps.normalise_key(text) == label


@pytest.mark.parametrize("text", ["-", "", "D dorian", "A minor / C major", "H major", "C"])
def test_normalise_key_refuses_non_keys(text):
    with pytest.raises(ValueError, match="not a single major or minor key"):
        giantsteps.normalise_key(text)


def test_validation_hold_out_is_seeded(dataset, tmp_path):
    data_folder, save_folder, _ = dataset
    first = read_manifest(giantsteps.prepare_giantsteps(data_folder, save_folder, seed=7)["valid"])
    again = read_manifest(giantsteps.prepare_giantsteps(data_folder, tmp_path / "again", seed=7)["valid"])
    assert list(first) == list(again)
    other_seeds = [
        list(read_manifest(giantsteps.prepare_giantsteps(data_folder, tmp_path / f"s{seed}", seed=seed)["valid"]))
        for seed in (1, 2, 3)
    ]
    assert any(ids != list(first) for ids in other_seeds)


def test_second_run_skips_and_changed_options_prepare_again(dataset, caplog):
    data_folder, save_folder, _ = dataset
    manifests = giantsteps.prepare_giantsteps(data_folder, save_folder)
    stamps = {split: path.stat().st_mtime_ns for split, path in manifests.items()}
    (data_folder / "giantsteps-key-dataset" / "audio" / "10089.LOFI.mp3").unlink()
    with caplog.at_level(logging.INFO):
        giantsteps.prepare_giantsteps(data_folder, save_folder)
    assert "skipping preparation" in caplog.text
    assert {split: path.stat().st_mtime_ns for split, path in manifests.items()} == stamps
    with pytest.raises(DatasetLayoutError, match="10089.LOFI.mp3"):
        giantsteps.prepare_giantsteps(data_folder, save_folder, min_confidence=1)


def test_skip_prep_touches_nothing(dataset):
    data_folder, save_folder, _ = dataset
    giantsteps.prepare_giantsteps(data_folder, save_folder, skip_prep=True)
    assert not save_folder.exists()


def test_missing_audio_names_the_file(dataset):
    data_folder, save_folder, _ = dataset
    (data_folder / "giantsteps-mtg-key-dataset" / "audio" / "3000004.LOFI.mp3").unlink()
    with pytest.raises(DatasetLayoutError, match=r"missing audio file .*3000004\.LOFI\.mp3"):
        giantsteps.prepare_giantsteps(data_folder, save_folder)


def test_malformed_test_key_names_the_file(dataset):
    data_folder, save_folder, _ = dataset
    (data_folder / "giantsteps-key-dataset" / "annotations" / "key" / "1058812.LOFI.key").write_text("A maj / F# min")
    with pytest.raises(DatasetLayoutError, match=r"1058812\.LOFI\.key: expected one key like"):
        giantsteps.prepare_giantsteps(data_folder, save_folder)


def test_malformed_training_line_names_file_and_line(dataset):
    data_folder, save_folder, _ = dataset
    annotations = data_folder / "giantsteps-mtg-key-dataset" / "annotations" / "annotations.txt"
    lines = annotations.read_text().splitlines()
    lines[3] = lines[3].replace("\t2\t", "\tsure\t")
    annotations.write_text("\n".join(lines))
    with pytest.raises(DatasetLayoutError, match=r"annotations\.txt, line 4: confidence 'sure'"):
        giantsteps.prepare_giantsteps(data_folder, save_folder)
    annotations.write_text("ID\tMANUAL KEY\tC\n3000000 C major 2\n")
    with pytest.raises(DatasetLayoutError, match=r"annotations\.txt, line 2: expected tab-separated"):
        giantsteps.prepare_giantsteps(data_folder, save_folder)


def test_missing_dataset_folder_is_named(tmp_path):
    with pytest.raises(DatasetLayoutError, match="giantsteps-key-dataset"):
        giantsteps.prepare_giantsteps(tmp_path, tmp_path / "manifests")


def test_command_line(dataset):
    data_folder, save_folder, expected = dataset
    giantsteps.main(["--data_folder", str(data_folder), "--save_folder", str(save_folder), "--valid_fraction", "0.2"])
    assert len(read_manifest(save_folder / "valid.csv")) == 4


def test_docstring_examples_run():
    assert doctest.testmod(giantsteps, optionflags=doctest.ELLIPSIS).failed == 0


def test_command_line_reports_a_bad_layout_as_an_error_line(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(SystemExit, match=f"^error: .*{empty}"):
        giantsteps.main(["--data_folder", str(empty), "--save_folder", str(tmp_path / "out")])
