"""A tiny VocalSet, laid out as the Zenodo archives of version 1.1 and 1.2 unpack.

Version 1.1 (``VocalSet11.zip``) has ``FULL/<singer>/<context>/<technique>/<file>.wav``
with ``__MACOSX/`` resource forks beside it; version 1.2 (``VocalSet1-2/``) has
``data_by_singer/`` with the same inner layout, ``data_by_technique/`` and no ``FULL/``.
Both ship ``test_singers_technique.txt`` and ``train_singers_technique.txt`` at their
root. Singer folders are ``female1``..``male11``; file names keep the short form
(``f1_arpeggios_breathy_a.wav``); male8 has the misspelt ``vibrado`` folder. These
names come from public code that ran on the real archives (see recipes/VocalSet/README.md).
"""

from __future__ import annotations

from pathlib import Path

from .fixtures_common import write_noise

# Technique folders per context: the 10-class techniques, plus variants that are not
# among them (fast_forte, messa) and so stay out of the technique task.
VOCALSET_FOLDERS = {
    "arpeggios": ["belt", "vibrato", "fast_forte", "lip_trill"],
    "long_tones": ["trill", "messa", "straight"],
    "excerpts": ["spoken", "breathy"],
}
# The archive's technique test singers, and the two train singers of the fixture.
VOCALSET_TEST_SINGERS = ("female2", "female8", "male3", "male5", "male10")
VOCALSET_TRAIN_SINGERS = ("female1", "male8")
VOCALSET_SINGERS = VOCALSET_TRAIN_SINGERS + VOCALSET_TEST_SINGERS
VOCALSET_VERSIONS = {"1.1": "FULL", "1.2": "data_by_singer"}


def short_name(singer: str) -> str:
    """``female2`` -> ``f2``, ``male10`` -> ``m10`` (the form file names use)."""
    return singer[0] + "".join(character for character in singer if character.isdigit())


def build_vocalset(root: Path, version: str = "1.2") -> dict:
    """Write the dataset under ``root`` as ``version`` unpacks; return what a preparation finds.

    The returned ``files`` maps each recording's ID to ``(singer, technique folder)``.
    """
    view = root / VOCALSET_VERSIONS[version]
    files = {}
    for index, singer in enumerate(VOCALSET_SINGERS):
        audio = None
        for context, techniques in VOCALSET_FOLDERS.items():
            for technique in techniques:
                folder_name = "vibrado" if singer == "male8" and technique == "vibrato" else technique
                name = f"{short_name(singer)}_{context}_{technique}_a"
                path = view / singer / context / folder_name / f"{name}.wav"
                if audio is None:
                    audio = write_noise(path, 44100, seed=index, seconds=0.1).read_bytes()
                else:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_bytes(audio)
                files[name] = (short_name(singer), folder_name)
    line_end = "\r\n" if version == "1.2" else "\n"  # the real files' line ends are unknown: both are read
    (root / "test_singers_technique.txt").write_text("".join(f"{singer}{line_end}" for singer in VOCALSET_TEST_SINGERS),
                                                     newline="")
    (root / "train_singers_technique.txt").write_text("".join(f"{singer}{line_end}" for singer in VOCALSET_TRAIN_SINGERS),
                                                      newline="")
    if version == "1.1":
        fork = root / "__MACOSX" / "FULL" / "female1" / "arpeggios" / "belt" / "._f1_arpeggios_belt_a.wav"
        fork.parent.mkdir(parents=True)
        fork.write_bytes(b"\0" * 16)
        (view / "female1" / "arpeggios" / "belt" / "._f1_arpeggios_belt_a.wav").write_bytes(b"\0" * 16)
    else:
        # The by-technique view repeats files of the singer view (inner layout unconfirmed); it must not be read.
        copy = root / "data_by_technique" / "belt" / "f1_arpeggios_belt_a.wav"
        copy.parent.mkdir(parents=True)
        copy.write_bytes((view / "female1" / "arpeggios" / "belt" / "f1_arpeggios_belt_a.wav").read_bytes())
    files_per_singer = sum(len(techniques) for techniques in VOCALSET_FOLDERS.values())
    return {"view": view, "files": files, "files_per_singer": files_per_singer,
            "technique_files_per_singer": files_per_singer - 2}
