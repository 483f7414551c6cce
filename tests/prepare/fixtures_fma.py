"""A tiny copy of the Free Music Archive as ``fma_metadata.zip`` and ``fma_<subset>.zip`` unzip.

``fma_metadata/tracks.csv`` is pandas' ``to_csv`` of a table with a two-level column
index and the index named ``track_id`` (``creation.ipynb`` of github.com/mdeff/fma sorts
both axes and writes it; ``utils.load`` reads it back with ``header=[0, 1]``,
``index_col=0``): three header rows, LF line endings, quotes only where a cell needs
them (multi-line HTML biographies, commas). The 52 columns are the real ones, in the
real order (album 13, artist 17, set 2, track 20, as ``usage.ipynb`` displays them);
the cell values are made up. Audio: ``fma_<subset>/<first 3 digits>/<6-digit id>.mp3``
(``utils.get_audio_path``); one file does not decode and one holds no audio, as
099134 of fma_small does (mdeff/fma issues 41 and 44).
"""

from __future__ import annotations

import csv
from pathlib import Path

from .fixtures_common import write_noise, write_undecodable

FMA_COLUMNS = (
    [("album", name) for name in (
        "comments", "date_created", "date_released", "engineer", "favorites", "id", "information", "listens",
        "producer", "tags", "title", "tracks", "type")]
    + [("artist", name) for name in (
        "active_year_begin", "active_year_end", "associated_labels", "bio", "comments", "date_created", "favorites",
        "id", "latitude", "location", "longitude", "members", "name", "related_projects", "tags", "website",
        "wikipedia_page")]
    + [("set", "split"), ("set", "subset")]
    + [("track", name) for name in (
        "bit_rate", "comments", "composer", "date_created", "date_recorded", "duration", "favorites", "genre_top",
        "genres", "genres_all", "information", "interest", "language_code", "license", "listens", "lyricist", "number",
        "publisher", "tags", "title")]
)
FMA_TRACKS = {  # track id -> (split, subset)
    2: ("training", "small"),
    5: ("training", "small"),
    10: ("training", "small"),
    99134: ("training", "small"),
    140: ("validation", "medium"),
    1486: ("test", "medium"),
    3000: ("training", "large"),
    155066: ("test", "medium"),
}
FMA_UNDECODABLE = 1486
FMA_EMPTY = 99134


def fma_name(track_id: int) -> str:
    return f"{track_id:06d}"


def _metadata_row(track_id: int, split: str, subset: str) -> list[str]:
    values = {
        ("album", "title"): f"Album {track_id}", ("album", "type"): "Album", ("album", "tags"): "[]",
        ("album", "id"): str(track_id // 10), ("album", "information"): "<p></p>",
        ("artist", "name"): f"Artist {track_id}", ("artist", "id"): str(track_id // 100), ("artist", "tags"): "[]",
        ("artist", "bio"): "<p>A collective from New York,</p>\n<p>second paragraph</p>" if track_id == 2 else "",
        ("artist", "associated_labels"): "Mexican Summer, Woodsist" if track_id == 10 else "",
        ("set", "split"): split, ("set", "subset"): subset,
        ("track", "bit_rate"): "256000", ("track", "duration"): "168", ("track", "genre_top"): "Hip-Hop",
        ("track", "genres"): "[21]", ("track", "genres_all"): "[21]", ("track", "tags"): "[]",
        ("track", "date_created"): "2008-11-26 01:48:12", ("track", "language_code"): "en",
        ("track", "license"): "Attribution-NonCommercial-ShareAlike 3.0 International",
        ("track", "title"): f"Track {track_id}", ("track", "number"): "3",
    }
    return [str(track_id), *(values.get(column, "") for column in FMA_COLUMNS)]


def build_fma(root: Path, archives: tuple[str, ...] = ("medium",)) -> Path:
    """``fma_metadata/tracks.csv`` and the audio archives ``fma_<archive>/``; returns ``root``."""
    (root / "fma_metadata").mkdir(parents=True)
    with open(root / "fma_metadata" / "tracks.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["", *(level_1 for level_1, _ in FMA_COLUMNS)])
        writer.writerow(["", *(level_2 for _, level_2 in FMA_COLUMNS)])
        writer.writerow(["track_id", *([""] * len(FMA_COLUMNS))])
        for track_id, (split, subset) in sorted(FMA_TRACKS.items()):
            writer.writerow(_metadata_row(track_id, split, subset))
    members = {"small": {"small"}, "medium": {"small", "medium"}, "large": {"small", "medium", "large"}}
    for archive in archives:
        for index, (track_id, (_, subset)) in enumerate(FMA_TRACKS.items()):
            if subset not in members[archive]:
                continue
            path = root / f"fma_{archive}" / fma_name(track_id)[:3] / f"{fma_name(track_id)}.mp3"
            if track_id == FMA_UNDECODABLE:
                write_undecodable(path)
            elif track_id == FMA_EMPTY:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(b"")
            else:
                write_noise(path, 44100, seed=index, channels=2)
    return root
