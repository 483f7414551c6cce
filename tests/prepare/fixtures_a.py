"""Tiny copies of the official layouts of MTG-Jamendo and GTZAN.

Each builder writes the dataset's real folder structure and annotation formats (quirks
included) under a folder, with short generated noise as audio (mp3 where the dataset
ships mp3), and returns what a correct preparation must find there.
"""

from __future__ import annotations

from pathlib import Path

from .fixtures_common import CLIP_SECONDS, write_noise


# --- MTG-Jamendo ---------------------------------------------------------------------
JAMENDO_TRACKS = {  # track number -> tags over all categories
    948: ["genre---rock", "genre---pop", "instrument---guitar", "mood/theme---energetic"],
    1012: ["genre---electronic", "instrument---synthesizer"],
    1100: ["genre---classical", "instrument---piano", "mood/theme---calm"],
    2205: ["genre---jazz", "instrument---saxophone"],
    3319: ["genre---pop", "mood/theme---happy", "instrument---voice"],
    4401: ["genre---ambient", "mood/theme---relaxing"],
    5586: ["genre---rock", "instrument---drums", "instrument---bass"],
    6650: ["genre---folk", "instrument---acousticguitar", "mood/theme---sad"],
    7701: ["genre---hiphop", "mood/theme---dark"],
    8899: ["genre---soundtrack", "instrument---strings", "mood/theme---epic"],
}
JAMENDO_SPLITS = {"train": [948, 1012, 1100, 2205, 3319, 4401], "validation": [5586, 6650], "test": [7701, 8899]}
JAMENDO_PREFIXES = {"top50tags": "", "genre": "genre---", "moodtheme": "mood/theme---", "instrument": "instrument---"}


def jamendo_track_id(number: int) -> str:
    return f"track_{number:07d}"


def build_mtg_jamendo(root: Path, low_quality: bool = False) -> dict:
    """``data/splits/split-0/autotagging_<task>-<split>.tsv`` and the audio download.

    Rows carry their tags as extra tab-separated fields after ``DURATION`` (longer than
    the header), as in the official files; a track without a tag of a task is absent
    from that task's files.
    """
    splits_folder = root / "data" / "splits" / "split-0"
    splits_folder.mkdir(parents=True)
    expected = {}
    for task, prefix in JAMENDO_PREFIXES.items():
        for split, numbers in JAMENDO_SPLITS.items():
            lines = ["TRACK_ID\tARTIST_ID\tALBUM_ID\tPATH\tDURATION\tTAGS"]
            chosen = {}
            for number in numbers:
                tags = [tag for tag in JAMENDO_TRACKS[number] if tag.startswith(prefix)]
                if tags:
                    chosen[jamendo_track_id(number)] = ";".join(tags)
                    lines.append("\t".join([jamendo_track_id(number), f"artist_{number:06d}", f"album_{number:06d}",
                                            f"{number % 100:02d}/{number}.mp3", "212.7", *tags]))
            (splits_folder / f"autotagging_{task}-{split}.tsv").write_text("\n".join(lines) + "\n")
            expected[f"{'valid' if split == 'validation' else split}_{task}"] = chosen
    audio_folder = root / ("audio-low" if low_quality else "audio")
    for index, number in enumerate(JAMENDO_TRACKS):
        name = f"{number}.low.mp3" if low_quality else f"{number}.mp3"
        write_noise(audio_folder / f"{number % 100:02d}" / name, 44100, seed=index, channels=2)
    return expected


# --- GTZAN ---------------------------------------------------------------------------
GTZAN_GENRES = ["blues", "classical", "country", "disco", "hiphop", "jazz", "metal", "pop", "reggae", "rock"]


def build_gtzan(root: Path, clips_per_genre: int = 100, folder: str = "genres", extension: str = ".wav",
                seconds: float = CLIP_SECONDS) -> Path:
    """``<folder>/<genre>/<genre>.000NN<extension>`` for every genre; returns ``root``.

    One noise file per genre is written and its bytes copied to the genre's other
    clips, which keeps the full 1000-clip layout fast to build.
    """
    for genre_index, genre in enumerate(GTZAN_GENRES):
        first = write_noise(root / folder / genre / f"{genre}.00000{extension}", 22050, seed=genre_index, seconds=seconds)
        audio = first.read_bytes()
        for number in range(1, clips_per_genre):
            (first.parent / f"{genre}.{number:05d}{extension}").write_bytes(audio)
    return root


def write_gtzan_split_lists(folder: Path, splits: dict[str, list[str]]) -> Path:
    """``<split>_filtered.txt`` files with one ``<genre>/<name>.wav`` per line."""
    folder.mkdir(parents=True, exist_ok=True)
    for split, names in splits.items():
        (folder / f"{split}_filtered.txt").write_text("".join(f"{name.split('.')[0]}/{name}.wav\n" for name in names))
    return folder
