"""Prepare NSynth manifests for pitch and instrument-family classification.

NSynth (Engel et al. 2017) ships three splits, each a folder with ``examples.json``
(one entry per note, keyed by its ``note_str``) and ``audio/<note_str>.wav`` (4 s,
16 kHz). The official splits are used as they are. Two tasks:

- ``pitch``: multi-class MIDI pitch, restricted to the 88 piano keys (MIDI 21..108,
  ``min_pitch``/``max_pitch``) as in the SemiSupCon paper; notes outside the range are
  dropped. Labels are the MIDI numbers as text (``"60"``).
- ``instrument_family``: multi-class ``instrument_family_str`` (``bass``, ``brass``,
  ``flute``, ``guitar``, ``keyboard``, ``mallet``, ``organ``, ``reed``, ``string``,
  ``synth_lead``, ``vocal``; ``synth_lead`` has no valid/test notes), all pitches.

Expected layout (the three official archives ``nsynth-{train,valid,test}.jsonwav.tar.gz``
extracted side by side)::

    data_folder/
      nsynth-train/examples.json  nsynth-train/audio/<note_str>.wav
      nsynth-valid/examples.json  nsynth-valid/audio/<note_str>.wav
      nsynth-test/examples.json   nsynth-test/audio/<note_str>.wav

Writes ``<task>_<split>.csv`` (e.g. ``pitch_train.csv``, ``instrument_family_test.csv``).
``max_per_split`` keeps a seeded random subset of each task's split for quick runs.
Preparation is skipped when the manifests exist and were written with the same options.

Run::

    python recipes/NSynth/nsynth_prepare.py --data_folder /data/nsynth --save_folder results/NSynth/manifests
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import numpy as np

from semisupcon_recipe.manifest import SPLITS, write_manifest
from semisupcon_recipe.preparation import (
    DatasetLayoutError, audio_row, layout_mismatch, prepared_with, record_options, require_file, run_prepare_command,
)

logger = logging.getLogger(__name__)

OPTIONS_FILE = "nsynth_prepare_options.json"
TASKS = ("pitch", "instrument_family")
REQUIRED_FIELDS = ("note_str", "pitch", "instrument_family_str")
EXPECTED_LAYOUT = (
    "nsynth-train/, nsynth-valid/ and nsynth-test/, each with examples.json and audio/<note_str>.wav "
    "(the three nsynth-<split>.jsonwav.tar.gz archives extracted side by side in data_folder)"
)


def read_examples(split_folder: str | Path) -> dict[str, dict]:
    """Read and check a split's ``examples.json``: ``{note_str: metadata}``.

    Raises :class:`DatasetLayoutError` naming the file and the note if the JSON is
    malformed or an entry lacks ``note_str``, ``pitch`` or ``instrument_family_str``.

    Example
    -------
    >>> import tempfile, pathlib, json
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> note = {"note_str": "bass_synthetic_033-060-100", "pitch": 60, "instrument_family_str": "bass"}
    >>> _ = (root / "examples.json").write_text(json.dumps({note["note_str"]: note}))
    >>> read_examples(root)["bass_synthetic_033-060-100"]["pitch"]
    60
    """
    path = require_file(Path(split_folder) / "examples.json", "the NSynth note metadata (examples.json)")
    try:
        examples = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise DatasetLayoutError(f"{path} is not valid JSON ({error}); re-extract the NSynth archive") from None
    if not isinstance(examples, dict):
        raise DatasetLayoutError(f"{path}: expected a JSON object keyed by note_str, found {type(examples).__name__}")
    for note_str, note in examples.items():
        missing = [name for name in REQUIRED_FIELDS if not isinstance(note, dict) or name not in note]
        if missing:
            raise DatasetLayoutError(f"{path}, note {note_str!r}: missing field(s) {missing}; re-extract the NSynth archive")
        if not isinstance(note["pitch"], int) or isinstance(note["pitch"], bool):
            raise DatasetLayoutError(f"{path}, note {note_str!r}: pitch {note['pitch']!r} is not an integer MIDI number")
    return examples


def task_labels(examples: dict[str, dict], task: str, min_pitch: int, max_pitch: int) -> dict[str, str]:
    """Labels of one task for the notes of a split: ``{note_str: label}``.

    Example
    -------
    >>> notes = {"a": {"pitch": 20, "instrument_family_str": "bass"},
    ...          "b": {"pitch": 60, "instrument_family_str": "reed"}}
    >>> task_labels(notes, "pitch", 21, 108), task_labels(notes, "instrument_family", 21, 108)
    ({'b': '60'}, {'a': 'bass', 'b': 'reed'})
    """
    if task == "pitch":
        return {name: str(note["pitch"]) for name, note in examples.items() if min_pitch <= note["pitch"] <= max_pitch}
    if task == "instrument_family":
        return {name: str(note["instrument_family_str"]) for name, note in examples.items()}
    raise ValueError(f"unknown NSynth task {task!r}; use one of {TASKS}")


def prepare_nsynth(
    data_folder: str | Path,
    save_folder: str | Path,
    tasks: tuple[str, ...] | list[str] = TASKS,
    min_pitch: int = 21,
    max_pitch: int = 108,
    max_per_split: int | None = None,
    seed: int = 1234,
    skip_prep: bool = False,
) -> dict[str, Path]:
    """Write ``<task>_<split>.csv`` for the NSynth pitch and instrument-family tasks.

    Parameters
    ----------
    data_folder : str or Path
        Folder holding ``nsynth-train``, ``nsynth-valid`` and ``nsynth-test``.
    save_folder : str or Path
        Where the manifests go.
    tasks : sequence of str
        Any of ``"pitch"`` and ``"instrument_family"``.
    min_pitch, max_pitch : int
        Inclusive MIDI range of the pitch task (the 88 piano keys by default).
    max_per_split : int, optional
        Keep at most this many notes per task and split (seeded random subset).
    seed : int
        Seed of that subset.
    skip_prep : bool
        Do nothing (manifests prepared elsewhere).

    Returns
    -------
    dict
        ``{"<task>_<split>": manifest path}``.

    Example
    -------
    >>> sorted(prepare_nsynth("/nonexistent", "/tmp/unused", tasks=["pitch"], skip_prep=True))
    ['pitch_test', 'pitch_train', 'pitch_valid']
    """
    unknown = [task for task in tasks if task not in TASKS]
    if unknown:
        raise ValueError(f"unknown NSynth task(s) {unknown}; use any of {TASKS}")
    save_folder = Path(save_folder)
    manifests = {f"{task}_{split}": save_folder / f"{task}_{split}.csv" for task in tasks for split in SPLITS}
    if skip_prep:
        return manifests
    data_folder = Path(data_folder).expanduser().absolute()
    options = {"data_folder": str(data_folder), "tasks": list(tasks), "min_pitch": min_pitch,
               "max_pitch": max_pitch, "max_per_split": max_per_split, "seed": seed}
    if prepared_with(save_folder / OPTIONS_FILE, manifests.values(), options):
        logger.info("NSynth manifests already exist in %s, skipping preparation", save_folder)
        return manifests
    if not all((data_folder / f"nsynth-{split}").is_dir() for split in SPLITS):
        raise layout_mismatch(data_folder, EXPECTED_LAYOUT)
    for split in SPLITS:
        split_folder = data_folder / f"nsynth-{split}"
        examples = read_examples(split_folder)
        rows_by_note: dict[str, dict] = {}
        for task in tasks:
            labels = task_labels(examples, task, min_pitch, max_pitch)
            names = _subset(sorted(labels), max_per_split, seed)
            rows = []
            for name in names:
                if name not in rows_by_note:
                    rows_by_note[name] = audio_row(name, split_folder / "audio" / f"{name}.wav")
                rows.append({**rows_by_note[name], "labels": labels[name]})
            path = manifests[f"{task}_{split}"]
            write_manifest(path, rows)
            logger.info("wrote %s (%d of %d notes)", path, len(rows), len(labels))
    record_options(save_folder / OPTIONS_FILE, options)
    return manifests


def _subset(names: list[str], max_count: int | None, seed: int) -> list[str]:
    if max_count is None or len(names) <= max_count:
        return names
    chosen = np.random.default_rng(seed).choice(len(names), size=max_count, replace=False)
    return [names[index] for index in sorted(chosen)]


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point; see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data_folder", required=True, help="folder holding nsynth-train, nsynth-valid, nsynth-test")
    parser.add_argument("--save_folder", required=True, help="where <task>_<split>.csv go")
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), choices=TASKS)
    parser.add_argument("--min_pitch", type=int, default=21)
    parser.add_argument("--max_pitch", type=int, default=108)
    parser.add_argument("--max_per_split", type=int, default=None, help="seeded subset size per task and split")
    parser.add_argument("--seed", type=int, default=1234)
    args = parser.parse_args(argv)
    run_prepare_command(lambda: prepare_nsynth(**vars(args)))


if __name__ == "__main__":
    main()
