"""GiantSteps key preparation: JukeMIR's artist split, 24-class labels mir_eval accepts, skipping, errors."""

import doctest
import logging
import shutil

import mir_eval
import pytest

from semisupcon_recipe.manifest import read_manifest
from semisupcon_recipe.preparation import DatasetLayoutError

from .fixtures_giantsteps import GIANTSTEPS_MTG_TRACKS, build_giantsteps, giantsteps_expected_labels
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
    for split in rows:
        assert {track: row["labels"] for track, row in rows[split].items()} == giantsteps_expected_labels(split), split
    for split in ("train", "valid"):
        for row in rows[split].values():
            assert row["labels"] in giantsteps.KEY_VOCABULARY
            assert row["wav"].endswith(".LOFI.mp3") and "giantsteps-mtg-key-dataset" in row["wav"]
            mir_eval.key.validate_key(row["labels"])
            assert row["duration"] == pytest.approx(CLIP_SECONDS, abs=0.06)


def test_no_artist_is_credited_in_both_train_and_valid(dataset):
    data_folder, save_folder, _ = dataset
    manifests = giantsteps.prepare_giantsteps(data_folder, save_folder)
    artists = {
        split: {name.strip() for track in read_manifest(manifests[split]) for name in GIANTSTEPS_MTG_TRACKS[track][2].split(",")}
        for split in ("train", "valid")
    }
    assert artists["valid"] >= {"DJ Fixture 3", "DJ Fixture 5", "DJ Fixture 6"}  # collaborators of drawn artists
    assert not artists["train"] & artists["valid"]


def test_artist_draw_matches_jukemir_for_real_artists():
    # Track splits in JukeMIR's metadata/giantsteps_clips.json.gz: 5061 and 33961 train, 33846 and
    # 60661 valid; 58167 valid although Miika Kuisma is drawn to train (Kenjido Okiru is not).
    assert not giantsteps.artist_bucket_is_validation("Philippe Van Mullem")
    assert not giantsteps.artist_bucket_is_validation("Paul Kalkbrenner")
    assert giantsteps.artist_bucket_is_validation("Pole Folder") and giantsteps.artist_bucket_is_validation("Jan Jelinek")
    assert not giantsteps.artist_bucket_is_validation("Miika Kuisma")
    assert giantsteps.validation_artists({"58167": ("Miika Kuisma", "Kenjido Okiru")}) == {"Miika Kuisma", "Kenjido Okiru"}


def test_a_training_track_without_an_artist_row_is_named(dataset):
    data_folder, save_folder, _ = dataset
    metadata = data_folder / "giantsteps-mtg-key-dataset" / "annotations" / "beatport_metadata.txt"
    metadata.write_text("".join(line for line in metadata.read_text().splitlines(keepends=True)
                                if not line.startswith("10004\t")))
    with pytest.raises(DatasetLayoutError, match=r"beatport_metadata\.txt: no ARTIST row for track\(s\) \['10004'\]"):
        giantsteps.prepare_giantsteps(data_folder, save_folder)
    metadata.write_text("ID\tARTISTS\n10004\tDJ Fixture 9\n")
    with pytest.raises(DatasetLayoutError, match=r"beatport_metadata\.txt, line 1: expected a header with the columns ID and ARTIST"):
        giantsteps.prepare_giantsteps(data_folder, save_folder)


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


def test_lower_confidence_threshold_keeps_more_tracks(dataset):
    data_folder, save_folder, expected = dataset
    manifests = giantsteps.prepare_giantsteps(data_folder, save_folder, min_confidence=1)
    training = {**read_manifest(manifests["train"]), **read_manifest(manifests["valid"])}
    assert len(training) == expected["train"] + expected["valid"] + 1
    assert training["30004"]["labels"] == "E minor" and "30004" in read_manifest(manifests["valid"])


def test_skip_prep_touches_nothing(dataset):
    data_folder, save_folder, _ = dataset
    giantsteps.prepare_giantsteps(data_folder, save_folder, skip_prep=True)
    assert not save_folder.exists()


def test_missing_audio_names_the_file(dataset):
    data_folder, save_folder, _ = dataset
    (data_folder / "giantsteps-mtg-key-dataset" / "audio" / "10004.LOFI.mp3").unlink()
    with pytest.raises(DatasetLayoutError, match=r"missing audio file .*10004\.LOFI\.mp3"):
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
    lines[3] = lines[3].replace("\t2", "\tsure")
    annotations.write_text("\n".join(lines))
    with pytest.raises(DatasetLayoutError, match=r"annotations\.txt, line 4: confidence 'sure'"):
        giantsteps.prepare_giantsteps(data_folder, save_folder)
    annotations.write_text("ID\tMANUAL KEY\tC\n10001 C major 2\n")
    with pytest.raises(DatasetLayoutError, match=r"annotations\.txt, line 2: expected tab-separated"):
        giantsteps.prepare_giantsteps(data_folder, save_folder)


def test_wrong_layout_names_the_expected_and_the_found_folders(tmp_path):
    (tmp_path / "giantsteps-key-dataset-master").mkdir()
    with pytest.raises(DatasetLayoutError, match=r"expected giantsteps-key-dataset/ .* found giantsteps-key-dataset-master/"):
        giantsteps.prepare_giantsteps(tmp_path, tmp_path / "manifests")


def test_command_line(dataset):
    data_folder, save_folder, expected = dataset
    giantsteps.main(["--data_folder", str(data_folder), "--save_folder", str(save_folder), "--min_confidence", "1"])
    assert len(read_manifest(save_folder / "valid.csv")) == expected["valid"] + 1


def test_docstring_examples_run():
    assert doctest.testmod(giantsteps, optionflags=doctest.ELLIPSIS).failed == 0


def test_command_line_reports_a_bad_layout_as_an_error_line(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(SystemExit, match=f"^error: .*{empty}"):
        giantsteps.main(["--data_folder", str(empty), "--save_folder", str(tmp_path / "out")])
