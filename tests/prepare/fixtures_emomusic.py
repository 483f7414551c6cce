"""A tiny EmoMusic download, laid out as its two archives unpack.

``annotations.tar.gz`` holds ``songs_info.csv`` and ``static_annotations.csv`` (and the
dynamic annotations, which the prepare script does not read) without a folder;
``clips_45sec.tar.gz`` holds ``clips_45seconds/<song_id>.mp3``. The header names are
the real ones (JukeMIR's and SemiSupCon's loaders index the rows by them). The line
ends are CRLF as in the reconstruction of the real files, and some text values end in
a tab: a public loader strips tabs from ``file_name``, ``Artist``, ``Song title`` and
``Genre`` ("Remove tabs from strings").
"""

from __future__ import annotations

from pathlib import Path

from .fixtures_common import write_noise

SONGS_INFO_HEADER = ("song_id,file_name,Artist,Song title,start of the segment (min.sec),"
                     "end of the segment (min.sec),Genre,Mediaeval 2013 set")
STATIC_ANNOTATIONS_HEADER = "song_id,mean_arousal,std_arousal,mean_valence,std_valence"
# song id -> (mean_arousal, mean_valence, Mediaeval 2013 set); ids have gaps where the
# authors removed duplicates, as the real list does.
EMOMUSIC_SONGS = {
    **{song_id: (3.0 + song_id / 100, 5.0 - song_id / 100, "development") for song_id in range(2, 42, 2)},
    **{song_id: (4.5, 6.25, "evaluation") for song_id in (1001, 1005, 1010, 1013)},
}
# Where each layout puts the two CSV files: (songs_info.csv, static_annotations.csv).
EMOMUSIC_LAYOUTS = {
    "archives": (".", "."),  # both archives extracted into one folder (the real layout)
    "annotations_folder": ("annotations", "annotations"),  # annotations.tar.gz extracted into annotations/
    "legacy": (".", "annotations"),  # the layout older versions of the script required
}


def build_emomusic(root: Path, layout: str = "archives") -> dict:
    """Write the dataset under ``root`` in one of ``EMOMUSIC_LAYOUTS``; return the split sizes."""
    info_folder, annotation_folder = (root / name for name in EMOMUSIC_LAYOUTS[layout])
    annotation_lines = [STATIC_ANNOTATIONS_HEADER]
    info_lines = [SONGS_INFO_HEADER]
    mp3 = None
    for song_id, (arousal, valence, song_set) in EMOMUSIC_SONGS.items():
        annotation_lines.append(f"{song_id},{arousal:g},0.94,{valence:g},0.63")
        padding = "\t" if song_id % 4 == 0 else ""
        info_lines.append(f"{song_id},{song_id}.mp3{padding},Artist {song_id}{padding},Title {song_id}{padding},"
                          f"0.45,1.30,Rock{padding},{song_set}")
        path = root / "clips_45seconds" / f"{song_id}.mp3"
        if mp3 is None:
            mp3 = write_noise(path, 44100, seed=0).read_bytes()  # encoded once, copied: fast
        else:
            path.write_bytes(mp3)
    for folder, name, lines in ((info_folder, "songs_info.csv", info_lines),
                                (annotation_folder, "static_annotations.csv", annotation_lines)):
        folder.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes("".join(f"{line}\r\n" for line in lines).encode("utf-8"))
    return {"train": 18, "valid": 2, "test": 4}
