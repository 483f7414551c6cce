"""Manifests and label vocabularies: round trips and errors that name the row."""

import pytest

from semisupcon_recipe.manifest import LabelVocabulary, ManifestError, read_manifest, write_manifest


def test_round_trip_and_replacements(tmp_path):
    rows = [
        {"ID": "a", "duration": 3.0, "wav": "$root/a.wav", "labels": ["rock", "hard rock"]},
        {"ID": "b", "duration": 1.5, "wav": "$root/b.wav"},
    ]
    write_manifest(tmp_path / "m.csv", rows)
    data = read_manifest(tmp_path / "m.csv", {"root": "/data"})
    assert data["a"]["wav"] == "/data/a.wav"
    assert data["a"]["labels"] == "rock;hard rock"
    assert data["b"]["labels"] == ""
    assert data["b"]["duration"] == 1.5


@pytest.mark.parametrize(
    "text, message",
    [
        ("ID,wav\na,x.wav\n", "lacks column"),
        ("ID,duration,wav\na,abc,x.wav\n", "line 2"),
        ("ID,duration,wav\na,1,x.wav\na,2,y.wav\n", "Duplicate id"),
    ],
)
def test_malformed_manifest_names_the_problem(tmp_path, text, message):
    (tmp_path / "m.csv").write_text(text)
    with pytest.raises(ManifestError, match=message):
        read_manifest(tmp_path / "m.csv")


def test_missing_manifest_says_how_to_fix(tmp_path):
    with pytest.raises(ManifestError, match="prepare"):
        read_manifest(tmp_path / "nope.csv")


def test_unknown_label_names_the_row():
    vocab = LabelVocabulary.from_cells("multilabel", ["piano;drums"])
    with pytest.raises(ManifestError, match="row 7.*unknown label.*'banjo'"):
        vocab.encode("piano;banjo", where="row 7")


def test_regression_and_save_load(tmp_path):
    vocab = LabelVocabulary.from_cells("regression", ["0.5;0.1", "1;2"])
    assert vocab.size == 2
    assert vocab.encode("3;4").tolist() == [3.0, 4.0]
    with pytest.raises(ManifestError, match="not a number"):
        vocab.encode("x;1", where="row 2")
    vocab.save(tmp_path / "v.json")
    assert LabelVocabulary.load(tmp_path / "v.json") == vocab


def test_load_or_build_reuses_saved_vocabulary(tmp_path):
    path = tmp_path / "vocab.json"
    first = LabelVocabulary.load_or_build(path, "multiclass", ["a", "b"])
    second = LabelVocabulary.load_or_build(path, "multiclass", ["a", "b", "c"])
    assert first.names == second.names == ["a", "b"]


def test_load_or_build_with_fixed_names_keeps_their_order(tmp_path):
    vocab = LabelVocabulary.load_or_build(tmp_path / "v.json", "multilabel", ["b;a"], names=["rock", "b", "a"])
    assert vocab.names == ["rock", "b", "a"]
    assert vocab.encode("a;rock").tolist() == [1.0, 0.0, 1.0]
