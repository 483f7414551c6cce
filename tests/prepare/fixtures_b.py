"""Tiny copies of the official layouts of GiantSteps, NSynth, EmoMusic and VocalSet.

Each builder writes the dataset's real folder structure and annotation formats
(quirks included) under a folder, with short generated noise as audio, and returns
what a correct preparation must find there.
"""

from __future__ import annotations

import json
from pathlib import Path

from .fixtures_common import write_noise


# GiantSteps: test keys spelt as the dataset does (sharps and flats mixed), with the
# normalised label each must become.
GIANTSTEPS_TEST_KEYS = {
    "10089": ("Eb minor", "Eb minor"),
    "1030011": ("F# minor", "Gb minor"),
    "1058812": ("A major", "A major"),
    "1084996": ("C# major", "Db major"),
    "1120005": ("Bb minor", "Bb minor"),
    "1139571": ("G minor", "G minor"),
}
# MTG-key: 20 usable tracks, plus ones the protocol drops.
GIANTSTEPS_MTG_KEPT = {str(3000000 + index): key for index, key in enumerate(
    ["C major", "A minor", "D# minor", "Gb major", "E minor", "B major", "F minor", "Ab major", "C# minor", "G major",
     "D minor", "Eb major", "A# minor", "E major", "F# major", "C minor", "B minor", "D major", "G# minor", "F major"]
)}
GIANTSTEPS_MTG_DROPPED = {
    "4000001": ("-", 2),
    "4000002": ("D dorian", 2),
    "4000003": ("A minor / C major", 2),
    "4000004": ("E minor", 1),
    "4000005": ("Bb major", 0),
}


def build_giantsteps(root: Path) -> dict:
    """GiantSteps Key (test) and GiantSteps-MTG-key (train) repositories side by side."""
    key_dataset = root / "giantsteps-key-dataset"
    (key_dataset / "annotations" / "key").mkdir(parents=True)
    for index, (track_id, (text, _)) in enumerate(GIANTSTEPS_TEST_KEYS.items()):
        (key_dataset / "annotations" / "key" / f"{track_id}.LOFI.key").write_text(text)
        write_noise(key_dataset / "audio" / f"{track_id}.LOFI.mp3", 44100, seed=index)
    mtg = root / "giantsteps-mtg-key-dataset"
    (mtg / "annotations").mkdir(parents=True)
    lines = ["ID\tMANUAL KEY\tC\tGLOBAL KEY"]
    lines += [f"{track_id}\t{key}\t2\t{key}" for track_id, key in GIANTSTEPS_MTG_KEPT.items()]
    lines += [f"{track_id}\t{key}\t{confidence}\t-" for track_id, (key, confidence) in GIANTSTEPS_MTG_DROPPED.items()]
    (mtg / "annotations" / "annotations.txt").write_text("\n".join(lines) + "\n")
    for index, track_id in enumerate([*GIANTSTEPS_MTG_KEPT, *GIANTSTEPS_MTG_DROPPED]):
        write_noise(mtg / "audio" / f"{track_id}.LOFI.mp3", 44100, seed=100 + index)
    return {"train": 18, "valid": 2, "test": len(GIANTSTEPS_TEST_KEYS)}


# NSynth: (instrument family, source, instrument number, pitch, velocity) per split;
# pitches 9 and 120 lie outside the piano range and leave the pitch task only.
NSYNTH_NOTES = {
    "train": [("bass", "synthetic", 33, 9, 100), ("bass", "synthetic", 33, 40, 50), ("keyboard", "acoustic", 1, 60, 75),
              ("reed", "acoustic", 4, 72, 127), ("synth_lead", "synthetic", 2, 84, 25), ("mallet", "electronic", 7, 120, 50),
              ("guitar", "acoustic", 3, 21, 100), ("organ", "electronic", 5, 108, 100)],
    "valid": [("bass", "synthetic", 34, 40, 100), ("reed", "acoustic", 6, 60, 50), ("mallet", "electronic", 8, 9, 25)],
    "test": [("keyboard", "acoustic", 9, 60, 100), ("guitar", "acoustic", 10, 72, 100), ("vocal", "synthetic", 11, 48, 50),
             ("organ", "electronic", 12, 36, 127)],
}
NSYNTH_FAMILIES = ["bass", "brass", "flute", "guitar", "keyboard", "mallet", "organ", "reed", "string", "synth_lead", "vocal"]
NSYNTH_SOURCES = ["acoustic", "electronic", "synthetic"]


def nsynth_entry(family: str, source: str, number: int, pitch: int, velocity: int) -> dict:
    """One ``examples.json`` entry with every field of the official metadata."""
    instrument_str = f"{family}_{source}_{number:03d}"
    return {
        "note": number * 1000 + pitch,
        "note_str": f"{instrument_str}-{pitch:03d}-{velocity:03d}",
        "instrument": number,
        "instrument_str": instrument_str,
        "pitch": pitch,
        "velocity": velocity,
        "sample_rate": 16000,
        "qualities": [0, 1, 0, 0, 0, 0, 0, 0, 0, 0],
        "qualities_str": ["dark"],
        "instrument_family": NSYNTH_FAMILIES.index(family),
        "instrument_family_str": family,
        "instrument_source": NSYNTH_SOURCES.index(source),
        "instrument_source_str": source,
    }


def build_nsynth(root: Path) -> dict:
    """``nsynth-{train,valid,test}/examples.json`` and ``audio/<note_str>.wav``."""
    expected = {}
    for split, notes in NSYNTH_NOTES.items():
        entries = [nsynth_entry(*note) for note in notes]
        folder = root / f"nsynth-{split}"
        folder.mkdir(parents=True)
        (folder / "examples.json").write_text(json.dumps({entry["note_str"]: entry for entry in entries}, indent=4))
        for index, entry in enumerate(entries):
            write_noise(folder / "audio" / f"{entry['note_str']}.wav", 16000, seed=index)
        expected[f"pitch_{split}"] = {entry["note_str"]: str(entry["pitch"]) for entry in entries if 21 <= entry["pitch"] <= 108}
        expected[f"instrument_family_{split}"] = {entry["note_str"]: entry["instrument_family_str"] for entry in entries}
    return expected
