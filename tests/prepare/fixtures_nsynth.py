"""A tiny NSynth in the layout the official ``nsynth-<split>.jsonwav.tar.gz`` archives unpack to.

``nsynth-<split>/examples.json`` and ``nsynth-<split>/audio/<note_str>.wav``. The json
follows the real file's style: an object keyed by ``note_str``, indent 4, ``", "`` item
separators (so lines end in a space after the comma), no final newline, and each entry's
13 fields in the real order, with the global ``instrument`` and ``note`` numbers.
"""

from __future__ import annotations

import json
from pathlib import Path

from .fixtures_common import write_noise

# (instrument family, source, instrument number within family and source, pitch, velocity) per split;
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
NSYNTH_QUALITIES = ["bright", "dark", "distortion", "fast_decay", "long_release", "multiphonic", "nonlinear_env",
                    "percussive", "reverb", "tempo-synced"]  # the order of the "qualities" vector


def nsynth_entry(family: str, source: str, number: int, pitch: int, velocity: int) -> dict:
    """One ``examples.json`` entry: every field of the official metadata, in the real file's order."""
    instrument_str = f"{family}_{source}_{number:03d}"
    qualities_str = [NSYNTH_QUALITIES[(number + pitch) % len(NSYNTH_QUALITIES)]] if pitch % 2 else []
    instrument = 37 * NSYNTH_FAMILIES.index(family) + 7 * number  # a global instrument id, as in the real file
    return {
        "qualities": [int(name in qualities_str) for name in NSYNTH_QUALITIES],
        "pitch": pitch,
        "note": 1000 * instrument + 3 * pitch + velocity,  # a global note id
        "instrument_source_str": source,
        "velocity": velocity,
        "instrument_str": instrument_str,
        "instrument": instrument,
        "sample_rate": 16000,
        "qualities_str": qualities_str,
        "instrument_source": NSYNTH_SOURCES.index(source),
        "note_str": f"{instrument_str}-{pitch:03d}-{velocity:03d}",
        "instrument_family": NSYNTH_FAMILIES.index(family),
        "instrument_family_str": family,
    }


def write_examples_json(path: Path, entries: list[dict]) -> None:
    """``examples.json`` in the real file's style (indent 4, ``", "`` separators, no final newline)."""
    path.write_text(json.dumps({entry["note_str"]: entry for entry in entries}, indent=4, separators=(", ", ": ")))


def build_nsynth(root: Path) -> dict:
    """``nsynth-{train,valid,test}/examples.json`` and ``audio/<note_str>.wav`` under ``root``.

    Returns ``{"<task>_<split>": {note_str: label}}`` for the pitch (MIDI 21..108) and
    instrument-family tasks.
    """
    expected = {}
    for split, notes in NSYNTH_NOTES.items():
        entries = [nsynth_entry(*note) for note in notes]
        folder = root / f"nsynth-{split}"
        folder.mkdir(parents=True)
        write_examples_json(folder / "examples.json", entries)
        for index, entry in enumerate(entries):
            write_noise(folder / "audio" / f"{entry['note_str']}.wav", 16000, seed=index)
        expected[f"pitch_{split}"] = {entry["note_str"]: str(entry["pitch"]) for entry in entries if 21 <= entry["pitch"] <= 108}
        expected[f"instrument_family_{split}"] = {entry["note_str"]: entry["instrument_family_str"] for entry in entries}
    return expected
