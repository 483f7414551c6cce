"""A tiny GiantSteps in the layout of the two official repositories, with their real formats.

Formats follow ``GiantSteps/giantsteps-key-dataset`` (``annotations/key/<id>.LOFI.key``:
one flat-spelt key, no newline) and ``GiantSteps/giantsteps-mtg-key-dataset``
(``annotations/annotations.txt``: header ``ID<TAB>MANUAL KEY<TAB>C``, LF, sharp
spellings, ``-`` for no key, several keys joined by ``/``, a stray space before a tab;
``annotations/beatport_metadata.txt``: header ``ID ARTIST SONG TITLE MIX LABEL BP GENRE
BP BPM BP KEY``, comma-separated artists). Audio is ``audio/<id>.LOFI.mp3`` in both, as
their ``audio_dl.sh`` writes it.
"""

from __future__ import annotations

from pathlib import Path

from .fixtures_common import write_noise

# GiantSteps Key (test): track id -> key file content (flat spellings only, as the real files).
GIANTSTEPS_TEST_KEYS = {
    "10089": "Eb minor",
    "1030011": "Gb minor",
    "1058812": "A major",
    "1084996": "Db major",
    "1120005": "Bb minor",
    "1139571": "G minor",
}

# GiantSteps-MTG-key: id -> (MANUAL KEY cell, C, ARTIST cell, expected split, expected label).
# The "DJ Fixture n" names are chosen for JukeMIR's artist draw (SHA-1 of the lower-cased name
# modulo 116): 4, 8 and 10 fall in the validation buckets, the others in the train buckets.
GIANTSTEPS_MTG_TRACKS = {
    "10001": ("D# minor", 2, "DJ Fixture 0", "train", "Eb minor"),
    "10002": ("A major", 2, "DJ Fixture 1, DJ Fixture 2", "train", "A major"),
    "10003": ("F# major", 2, "DJ Fixture 2", "train", "Gb major"),
    "10004": ("C# minor", 2, "DJ Fixture 9", "train", "Db minor"),
    "10005": ("B major ", 2, "DJ Fixture 12", "train", "B major"),
    "10006": ("G# minor", 2, "Zoë Fixture", "train", "Ab minor"),
    "10007": ("A# major", 2, "DJ Fixture 13", "train", "Bb major"),
    "10008": ("E minor", 2, "DJ Fixture 14", "train", "E minor"),
    "10009": ("C major", 2, "DJ Fixture 15", "train", "C major"),
    "20001": ("F minor", 2, "DJ Fixture 4", "valid", "F minor"),  # drawn to validation
    "20002": ("G major", 2, "DJ Fixture 8, DJ Fixture 3", "valid", "G major"),  # 3 joins 8 in validation
    "20003": ("D minor", 2, "DJ Fixture 3", "valid", "D minor"),  # one collaboration away
    "20004": ("A minor", 2, "DJ Fixture 3, DJ Fixture 5", "valid", "A minor"),
    "20005": ("E major", 2, "DJ Fixture 5", "valid", "E major"),  # two collaborations away
    "20006": ("B minor", 2, "DJ Fixture 6", "valid", "B minor"),  # linked through a dropped track
    "30001": ("-", 0, "DJ Fixture 7", None, None),
    "30002": ("C# major / C# minor", 2, "DJ Fixture 7", None, None),
    "30003": ("G minor/major", 2, "DJ Fixture 7", None, None),
    "30004": ("E minor", 1, "DJ Fixture 10, DJ Fixture 6", None, None),
    "30005": ("A# minor", 0, "DJ Fixture 7", None, None),
}
BEATPORT_HEADER = ["ID", "ARTIST", "SONG TITLE", "MIX", "LABEL", "BP GENRE", "BP BPM", "BP KEY"]


def giantsteps_expected_labels(split: str) -> dict[str, str]:
    """``{track id: label}`` a correct preparation writes to ``split`` (train, valid or test)."""
    if split == "test":
        return dict(GIANTSTEPS_TEST_KEYS)
    return {track: label for track, (*_, expected, label) in GIANTSTEPS_MTG_TRACKS.items() if expected == split}


def build_giantsteps(root: Path) -> dict:
    """``giantsteps-key-dataset/`` (test) and ``giantsteps-mtg-key-dataset/`` (train) side by side."""
    key_dataset = root / "giantsteps-key-dataset"
    (key_dataset / "annotations" / "key").mkdir(parents=True)
    for index, (track_id, key) in enumerate(GIANTSTEPS_TEST_KEYS.items()):
        (key_dataset / "annotations" / "key" / f"{track_id}.LOFI.key").write_text(key)
        write_noise(key_dataset / "audio" / f"{track_id}.LOFI.mp3", 44100, seed=index)
    mtg = root / "giantsteps-mtg-key-dataset"
    (mtg / "annotations").mkdir(parents=True)
    annotations = ["ID\tMANUAL KEY\tC"]
    beatport = ["\t".join(BEATPORT_HEADER)]
    for index, (track_id, (key, confidence, artists, _, _)) in enumerate(GIANTSTEPS_MTG_TRACKS.items()):
        annotations.append(f"{track_id}\t{key}\t{confidence}")
        beatport.append("\t".join([track_id, artists, f"Title {index}", "Original Mix", "Fixture Records", "Techno", "128",
                                   "A minor"]))
        write_noise(mtg / "audio" / f"{track_id}.LOFI.mp3", 44100, seed=100 + index)
    (mtg / "annotations" / "annotations.txt").write_text("\n".join(annotations) + "\n")
    (mtg / "annotations" / "beatport_metadata.txt").write_text("\n".join(beatport) + "\n", encoding="utf-8")
    return {split: len(giantsteps_expected_labels(split)) for split in ("train", "valid", "test")}
