"""The label-cell rule (``;`` is the only separator) on real tag vocabularies, and manifest errors that name the line."""

import numpy as np
import pytest

from semisupcon_recipe.manifest import LabelVocabulary, ManifestError, read_manifest, split_tags, write_manifest
from semisupcon_recipe.sampling import select_labeled_subset

# Representative tags of the real vocabularies, spelled as the datasets spell them.
MAGNATAGATUNE = [  # annotations_final.csv columns of the top-50 tags (multi-word ones included)
    "guitar", "classical", "slow", "techno", "strings", "drums", "electronic", "rock", "piano", "ambient",
    "beat", "vocal", "female", "male", "new age", "male vocal", "female vocal", "no vocals", "no vocal",
    "no voice", "male voice", "female voice", "hard rock", "harpsichord", "sitar", "choir", "opera",
]
MEDLEYDB = [  # instrument names of MedleyDB stems
    "acoustic guitar", "electric bass", "drum set", "clean electric guitar", "distorted electric guitar",
    "male singer", "female singer", "double bass", "fx/processed sound", "auxiliary percussion", "drum machine",
    "violin section", "tenor saxophone", "piano", "flute",
]
MTG_JAMENDO = [  # autotagging_top50tags tags
    "genre---hiphop", "genre---electronic", "genre---poprock", "genre---easylistening", "instrument---piano",
    "instrument---acousticguitar", "instrument---electricguitar", "mood/theme---happy", "mood/theme---film",
]


@pytest.mark.parametrize("vocabulary", [MAGNATAGATUNE, MEDLEYDB, MTG_JAMENDO], ids=["mtat", "medleydb", "jamendo"])
def test_any_tag_set_of_a_real_vocabulary_survives_write_read_encode(tmp_path, vocabulary):
    rng = np.random.default_rng(0)
    draws = [sorted(rng.choice(vocabulary, size=rng.integers(1, 5), replace=False).tolist()) for _ in range(200)]
    draws += [[tag] for tag in vocabulary]  # every tag alone, multi-word ones included
    write_manifest(tmp_path / "m.csv", [
        {"ID": f"clip {index}", "duration": 1.0, "wav": f"{index}.wav", "labels": tags} for index, tags in enumerate(draws)
    ])
    rows = read_manifest(tmp_path / "m.csv")
    fixed = LabelVocabulary("multilabel", list(vocabulary))  # as from a label_names_file
    built = LabelVocabulary.from_cells("multilabel", [row["labels"] for row in rows.values()])
    assert sorted(built.names) == sorted(vocabulary)
    for index, tags in enumerate(draws):
        cell = rows[f"clip {index}"]["labels"]
        assert split_tags(cell) == tags
        for vocab in (fixed, built):
            active = [vocab.names[i] for i in vocab.encode(cell, where=f"clip {index}").nonzero().flatten().tolist()]
            assert sorted(active) == tags


def test_a_single_multi_word_tag_is_one_tag():
    vocab = LabelVocabulary("multilabel", ["new age", "male vocal", "age", "new", "vocal"])
    assert vocab.encode("new age").tolist() == [1.0, 0.0, 0.0, 0.0, 0.0]
    assert vocab.encode(" male vocal ; new age").tolist() == [1.0, 1.0, 0.0, 0.0, 0.0]
    assert LabelVocabulary.from_cells("multilabel", ["male vocal", "new age;piano"]).names == ["male vocal", "new age", "piano"]


@pytest.mark.parametrize("cell", ["rock;;pop", ";rock", "rock;", " ; "])
def test_an_empty_tag_is_an_error_naming_file_line_and_fix(tmp_path, cell):
    (tmp_path / "m.csv").write_text(f"ID,duration,wav,labels\na,1,a.wav,rock\nb,1,b.wav,{cell}\n", encoding="utf-8")
    with pytest.raises(ManifestError, match=r"m\.csv, line 3 \(ID 'b'\).*empty tag.*remove the extra ';'"):
        read_manifest(tmp_path / "m.csv")


def test_write_manifest_refuses_tags_it_could_not_read_back(tmp_path):
    with pytest.raises(ManifestError, match=r"row 1 \(ID 'a'\).*'rock;pop'"):
        write_manifest(tmp_path / "m.csv", [{"ID": "a", "duration": 1, "wav": "a.wav", "labels": ["rock;pop"]}])
    with pytest.raises(ManifestError, match="empty tag"):
        write_manifest(tmp_path / "m.csv", [{"ID": "a", "duration": 1, "wav": "a.wav", "labels": "rock;"}])


def test_a_multiclass_cell_with_several_names_is_refused():
    with pytest.raises(ManifestError, match=r"row 4: multi-class label 'jazz;rock' holds 2 names"):
        LabelVocabulary("multiclass", ["jazz", "rock"]).encode("jazz;rock", where="row 4")


@pytest.mark.parametrize(
    "text, message",
    [
        ("ID,duration,wav,labels\na,1,a.wav,rock\nb,1,b.wav\n", r"line 3: 3 field\(s\) where the header has 4"),
        ("ID,duration,wav,labels\na,1,a.wav,rock,pop\n", r"line 2: 5 field\(s\) where the header has 4.*quote"),
        ("ID,duration,wav\n,1,a.wav\n", r"line 2 \(ID ''\): empty ID"),
    ],
)
def test_rows_with_wrong_field_counts_or_no_id_name_the_line(tmp_path, text, message):
    (tmp_path / "m.csv").write_text(text, encoding="utf-8")
    with pytest.raises(ManifestError, match=message):
        read_manifest(tmp_path / "m.csv")


def test_non_utf8_bytes_name_the_line_and_the_fix(tmp_path):
    (tmp_path / "m.csv").write_bytes("ID,duration,wav,labels\na,1,a.wav,rock\nb,1,b.wav,Beyonc".encode() + b"\xe9\n")
    with pytest.raises(ManifestError, match=r"m\.csv, line 3: byte b'\\xe9' is not UTF-8.*save the file as UTF-8"):
        read_manifest(tmp_path / "m.csv")


def test_a_utf8_byte_order_mark_is_accepted(tmp_path):
    (tmp_path / "m.csv").write_text("ID,duration,wav,labels\nbjörk,1,a.wav,new age\n", encoding="utf-8-sig")
    assert read_manifest(tmp_path / "m.csv") == {"björk": {"duration": 1.0, "wav": "a.wav", "labels": "new age"}}


def test_ids_with_spaces_survive_the_recorded_labeled_subset(tmp_path):
    ids = ["Artist - Song 1", "Artist - Song 2", " leading", "plain"]
    record = tmp_path / "labeled_subset.txt"
    first = select_labeled_subset(ids, 0.5, seed=0, record=record)
    assert select_labeled_subset(ids, 0.5, seed=0, record=record) == first
    assert all(item in ids for item in first)


def test_write_manifest_refuses_an_empty_id(tmp_path):
    with pytest.raises(ManifestError, match=r"row 2 \(ID ''\): empty ID"):
        write_manifest(tmp_path / "m.csv", [{"ID": "a", "duration": 1, "wav": "a.wav"}, {"ID": "", "duration": 1, "wav": "b.wav"}])
