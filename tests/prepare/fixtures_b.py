"""Tiny copies of the official layouts of EmoMusic and VocalSet.

Each builder writes the dataset's real folder structure and annotation formats
(quirks included) under a folder, with short generated noise as audio, and returns
what a correct preparation must find there.
"""

from __future__ import annotations

from pathlib import Path

from .fixtures_common import write_noise


# EmoMusic: song id -> (mean_arousal, mean_valence, MediaEval 2013 set); ids skip the
# removed duplicates as the real list does.
EMOMUSIC_SONGS = {
    **{song_id: (3.0 + song_id / 100, 5.0 - song_id / 100, "development") for song_id in range(2, 42, 2)},
    **{song_id: (4.5, 6.25, "evaluation") for song_id in (1001, 1005, 1010, 1013)},
}
EMOMUSIC_REMOVED = (3, 5)


def build_emomusic(root: Path) -> dict:
    """``clips_45seconds/``, ``annotations/static_annotations.csv`` and ``songs_info.csv``."""
    (root / "annotations").mkdir(parents=True)
    annotation_lines = ["song_id, mean_arousal, std_arousal, mean_valence, std_valence"]
    info_lines = ['song_id,file_name,Artist,Song title,start of the segment (min.sec),'
                  'end of the segment (min.sec),Genre,Mediaeval 2013 set']
    for song_id, (arousal, valence, song_set) in EMOMUSIC_SONGS.items():
        annotation_lines.append(f"{song_id},{arousal},0.94,{valence},0.63")
        info_lines.append(f'{song_id},{song_id}.mp3,"Artist {song_id}, the band","Title {song_id}",0.45,1.30,Rock,{song_set}')
        write_noise(root / "clips_45seconds" / f"{song_id}.mp3", 44100, seed=song_id)
    annotation_lines.append(annotation_lines[1])  # the same song annotated twice
    for song_id in EMOMUSIC_REMOVED:
        info_lines.append(f'{song_id},{song_id}.mp3,"Someone","Removed {song_id}",0.00,0.45,Pop,development')
    (root / "annotations" / "static_annotations.csv").write_text("\n".join(annotation_lines) + "\n")
    (root / "songs_info.csv").write_text("\n".join(info_lines) + "\n")
    return {"train": 18, "valid": 2, "test": 4}


# VocalSet: technique folders per context, with the real quirks (``vibrado``) and the
# variants that are not among the 10 techniques.
VOCALSET_FOLDERS = {
    "arpeggios": ["belt", "vibrato", "fast_forte", "lip_trill"],
    "long_tones": ["vibrado", "trill", "messa", "straight"],
    "excerpts": ["spoken", "breathy"],
}
VOCALSET_SINGERS = ("f1", "f2", "m3", "m8")


def build_vocalset(root: Path) -> dict:
    """``FULL/<singer>/<context>/<technique>/<singer>_<context>_<technique>_a.wav``, plus macOS litter."""
    for index, singer in enumerate(VOCALSET_SINGERS):
        for context, techniques in VOCALSET_FOLDERS.items():
            for technique in techniques:
                folder = root / "FULL" / singer / context / technique
                write_noise(folder / f"{singer}_{context}_{technique}_a.wav", 44100, seed=index, seconds=0.1)
    (root / "FULL" / "f1" / "arpeggios" / "belt" / "._f1_arpeggios_belt_a.wav").write_bytes(b"\0" * 16)
    (root / "FULL" / "__MACOSX").mkdir()
    files_per_singer = sum(len(techniques) for techniques in VOCALSET_FOLDERS.values())
    return {"singers": VOCALSET_SINGERS, "files_per_singer": files_per_singer, "technique_files_per_singer": files_per_singer - 2}
