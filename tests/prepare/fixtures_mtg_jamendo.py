"""A tiny MTG-Jamendo in the layout and formats of the official repository and audio download.

Split files as in ``MTG/mtg-jamendo-dataset`` ``data/splits/split-0/autotagging_<task>-<split>.tsv``:
CRLF line endings, the header ``TRACK_ID ARTIST_ID ALBUM_ID PATH DURATION TAGS``, ids
``track_0000241`` / ``artist_000005`` / ``album_000033``, ``PATH`` ``NN/<number>.mp3`` with
``NN`` the number modulo 100, and the tags as extra tab-separated fields. The audio
download (``scripts/download/download.py --unpack``) gives ``NN/<number>.mp3``, or
``NN/<number>.low.mp3`` for ``--type audio-low``.
"""

from __future__ import annotations

from pathlib import Path

from .fixtures_common import write_noise

# track number -> (artist number, album number, DURATION, tags over all categories)
JAMENDO_TRACKS = {
    241: (5, 33, "340.1", ["genre---rock", "genre---pop", "instrument---guitar", "mood/theme---energetic"]),
    1091: (159, 173, "138.1", ["genre---electronic", "instrument---synthesizer"]),
    1271: (209, 196, "116.5", ["genre---classical", "instrument---piano", "mood/theme---calm"]),
    8559: (1301, 1290, "247.1", ["genre---jazz", "instrument---saxophone"]),
    8560: (1301, 1290, "381.0", ["genre---pop", "mood/theme---happy", "instrument---voice"]),
    79751: (8094, 7291, "261.3", ["genre---ambient", "mood/theme---film"]),
    519491: (356877, 60731, "190.2", ["genre---rock", "instrument---drums", "instrument---bass"]),
    1091506: (469574, 129381, "203.9", ["genre---folk", "instrument---acousticguitar", "mood/theme---sad"]),
    1180905: (489011, 140009, "175.0", ["genre---hiphop", "mood/theme---dark"]),
    1420607: (505713, 167772, "224.6", ["genre---soundtrack", "instrument---strings", "mood/theme---epic"]),
}
JAMENDO_SPLITS = {"train": [241, 1091, 1271, 8559, 8560, 79751], "validation": [519491, 1091506], "test": [1180905, 1420607]}
JAMENDO_PREFIXES = {"top50tags": "", "genre": "genre---", "moodtheme": "mood/theme---", "instrument": "instrument---"}
JAMENDO_HEADER = "TRACK_ID\tARTIST_ID\tALBUM_ID\tPATH\tDURATION\tTAGS"


def jamendo_track_id(number: int) -> str:
    """``TRACK_ID`` of a track number, as the split files spell it (``track_0000241``)."""
    return f"track_{number:07d}"


def jamendo_audio_path(number: int, low_quality: bool = False) -> str:
    """Where the unpacked download puts a track, relative to the audio folder (``41/241.mp3``)."""
    return f"{number % 100:02d}/{number}{'.low' if low_quality else ''}.mp3"


def build_mtg_jamendo(root: Path, low_quality: bool = False) -> dict:
    """The repository's ``data/splits/split-0/`` files and the unpacked audio download in ``audio/`` (or ``audio-low/``).

    Returns ``{"<split>_<task>": {track id: ";"-joined tags}}``; a track without a tag of a
    task is absent from that task's files, as in the official ones.
    """
    splits_folder = root / "data" / "splits" / "split-0"
    splits_folder.mkdir(parents=True)
    expected = {}
    for task, prefix in JAMENDO_PREFIXES.items():
        for split, numbers in JAMENDO_SPLITS.items():
            lines = [JAMENDO_HEADER]
            chosen = {}
            for number in numbers:
                artist, album, duration, all_tags = JAMENDO_TRACKS[number]
                tags = [tag for tag in all_tags if tag.startswith(prefix)]
                if tags:
                    chosen[jamendo_track_id(number)] = ";".join(tags)
                    lines.append("\t".join([jamendo_track_id(number), f"artist_{artist:06d}", f"album_{album:06d}",
                                            jamendo_audio_path(number), duration, *tags]))
            (splits_folder / f"autotagging_{task}-{split}.tsv").write_bytes(("\r\n".join(lines) + "\r\n").encode("utf-8"))
            expected[f"{'valid' if split == 'validation' else split}_{task}"] = chosen
    audio_folder = root / ("audio-low" if low_quality else "audio")
    for index, number in enumerate(JAMENDO_TRACKS):
        write_noise(audio_folder / jamendo_audio_path(number, low_quality), 44100, seed=index, channels=2)
    return expected
