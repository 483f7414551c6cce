"""Tiny copies of the official layouts of MagnaTagATune, FMA and MedleyDB.

Each builder writes the dataset's real folder structure and annotation formats (quirks
included) under a folder, with short generated noise as audio (mp3 where the dataset
ships mp3), and returns what a correct preparation must find there.
"""

from __future__ import annotations

import csv
from pathlib import Path

import yaml

from .fixtures_common import write_noise, write_undecodable


# --- MagnaTagATune -------------------------------------------------------------------
# Columns: 4 never-active tags first (a count-based selection must skip them), 50 tags
# that are active, and one tag as frequent as many others but last in column order (the
# tie-break must drop it from the top 50).
MTAT_NEVER_ACTIVE = ["world", "duet", "plucking", "hard rock"]
MTAT_ACTIVE = [
    "guitar", "classical", "slow", "techno", "strings", "drums", "electronic", "rock", "fast", "piano",
    "ambient", "beat", "violin", "vocal", "synth", "female", "indian", "opera", "male", "singing",
    "vocals", "no vocals", "harpsichord", "loud", "quiet", "flute", "woman", "male vocal", "no vocal", "pop",
    "soft", "sitar", "solo", "man", "classic", "choir", "voice", "new age", "dance", "male voice",
    "female vocal", "beats", "harp", "cello", "no voice", "weird", "country", "metal", "female voice", "choral",
]
MTAT_TIED_LAST = "jazz"
MTAT_TAGS = MTAT_NEVER_ACTIVE + MTAT_ACTIVE + [MTAT_TIED_LAST]
MTAT_FOLDERS = "0123456789abcdef"


def build_magnatagatune(root: Path) -> dict:
    """``annotations_final.csv`` (tab-separated, quoted) and mp3 clips in folders 0..f.

    Clip ``k`` (0..31) sits in folder ``k // 2`` with tags ``ACTIVE[k]`` and
    ``ACTIVE[32 + k % 18]``; one clip in ``c`` has only the tied-last tag, one in ``d``
    has no tag, one in ``e`` has an undecodable mp3.
    """
    clips = []  # (clip_id, mp3_path, tags)
    for k in range(32):
        clips.append((str(2 + 4 * k), f"{MTAT_FOLDERS[k // 2]}/artist_{k}-album_{k}-01-song_{k}-30-59.mp3",
                      {MTAT_ACTIVE[k], MTAT_ACTIVE[32 + k % 18]}))
    tied_only = ("200", "c/artist_t-album_t-02-tied-0-29.mp3", {MTAT_TIED_LAST})
    untagged = ("204", "d/artist_u-album_u-03-untagged-0-29.mp3", set())
    broken = ("208", "e/artist_b-album_b-04-broken-0-29.mp3", {MTAT_ACTIVE[0]})
    clips += [tied_only, untagged, broken]
    root.mkdir(parents=True, exist_ok=True)
    with open(root / "annotations_final.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, delimiter="\t", quoting=csv.QUOTE_ALL, lineterminator="\n")
        writer.writerow(["clip_id", *MTAT_TAGS, "mp3_path"])
        for clip_id, mp3_path, tags in clips:
            writer.writerow([clip_id, *("1" if tag in tags else "0" for tag in MTAT_TAGS), mp3_path])
    mp3 = write_noise(root / "noise.mp3", 16000, seed=0).read_bytes()  # encoded once, copied: fast
    (root / "noise.mp3").unlink()
    for clip_id, mp3_path, _ in clips:
        (root / mp3_path).parent.mkdir(exist_ok=True)
        if clip_id == broken[0]:
            write_undecodable(root / mp3_path)
        else:
            (root / mp3_path).write_bytes(mp3)

    def labels(tags, selected):
        return ";".join(tag for tag in MTAT_TAGS if tag in tags and tag in selected)

    # Counts over the whole file (the broken clip included): ACTIVE[0] and ACTIVE[32..45]
    # twice, the other 35 active tags and the tied-last tag once.
    top50 = MTAT_ACTIVE[:1] + MTAT_ACTIVE[32:46] + MTAT_ACTIVE[1:32] + MTAT_ACTIVE[46:]
    split_of = {**{folder: "train" for folder in "0123456789ab"}, "c": "valid", **{folder: "test" for folder in "def"}}
    expected = {}
    for task, selected in (("top50", set(top50)), ("all", set(MTAT_TAGS))):
        for split in ("train", "valid", "test"):
            expected[f"{split}_{task}"] = {
                clip_id: labels(tags, selected) for clip_id, mp3_path, tags in clips
                if split_of[mp3_path[0]] == split and labels(tags, selected) and clip_id != broken[0]
            }
    return {"manifests": expected, "top50": top50, "broken": broken[0], "clip_paths": {c[0]: c[1] for c in clips}}


# --- FMA -----------------------------------------------------------------------------
FMA_COLUMNS = [("album", "title"), ("artist", "name"), ("set", "split"), ("set", "subset"),
               ("track", "genre_top"), ("track", "information"), ("track", "title")]
FMA_TRACKS = {  # track id -> (split, subset)
    2: ("training", "small"),
    5: ("training", "small"),
    10: ("training", "small"),
    140: ("validation", "medium"),
    1486: ("test", "medium"),
    5574: ("training", "medium"),
    3000: ("training", "large"),
    155066: ("test", "medium"),
}
FMA_UNDECODABLE = 1486
FMA_EMPTY = 5574


def fma_name(track_id: int) -> str:
    return f"{track_id:06d}"


def build_fma(root: Path, archives: tuple[str, ...] = ("medium",)) -> Path:
    """``fma_metadata/tracks.csv`` (three-row header, a multi-line quoted cell) and audio archives."""
    (root / "fma_metadata").mkdir(parents=True)
    with open(root / "fma_metadata" / "tracks.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["", *(level_1 for level_1, _ in FMA_COLUMNS)])
        writer.writerow(["", *(level_2 for _, level_2 in FMA_COLUMNS)])
        writer.writerow(["track_id", *([""] * len(FMA_COLUMNS))])
        for track_id, (split, subset) in FMA_TRACKS.items():
            information = "<p>Recorded live,\nsecond line</p>" if track_id == 2 else ""
            writer.writerow([track_id, f"Album {track_id}", f"Artist {track_id}", split, subset, "Hip-Hop",
                             information, f"Track {track_id}"])
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


# --- MedleyDB ------------------------------------------------------------------------
MEDLEYDB_TRACKS = {  # track -> (artist, stem instruments; a list is one stem with several)
    "AClassicEducation_NightOwl": ("AClassicEducation", ["clean electric guitar", "drum set", "male singer", "electric bass"]),
    "AimeeNorwich_Child": ("AimeeNorwich", ["female singer", "piano", "electric bass", "drum set"]),
    "AimeeNorwich_Flying": ("AimeeNorwich", ["piano", "drum set", ["synthesizer", "fx/processed sound"]]),
    "AlexanderRoss_GoodbyeBolero": ("AlexanderRoss", ["acoustic guitar", "male singer"]),
    "AlexanderRoss_VelvetCurtain": ("AlexanderRoss", ["acoustic guitar", "male singer", "violin"]),
    "Auctioneer_OurFutureFaces": ("Auctioneer", ["distorted electric guitar", "drum set", "male singer"]),
    "BigTroubles_Phantom": ("BigTroubles", ["distorted electric guitar", "drum set", "electric bass"]),
    "BrandonWebster_DontHearAThing": ("BrandonWebster", ["piano", "male singer"]),
    "BrandonWebster_YesSirICanFly": ("BrandonWebster", ["piano", "male singer", "cello"]),
    "CelestialShore_DieForUs": ("CelestialShore", ["clean electric guitar", "drum set", "female singer"]),
}
MEDLEYDB_METADATA_IN_ROOT = "BigTroubles_Phantom"  # metadata in Metadata/ as in the medleydb package


def medleydb_labels(track: str) -> str:
    names = set()
    for instrument in MEDLEYDB_TRACKS[track][1]:
        names.update([instrument] if isinstance(instrument, str) else instrument)
    return ";".join(sorted(names))


def build_medleydb(root: Path) -> Path:
    """``Audio/<Track>/<Track>_MIX.wav`` and ``<Track>_METADATA.yaml`` in MedleyDB's format."""
    for index, (track, (artist, instruments)) in enumerate(MEDLEYDB_TRACKS.items()):
        folder = root / "Audio" / track
        write_noise(folder / f"{track}_MIX.wav", 44100, seed=index, channels=2)
        stems = {
            f"S{number:02d}": {
                "component": "melody" if number == 1 else "",
                "filename": f"{track}_STEM_{number:02d}.wav",
                "instrument": instrument,
                "raw": {"R01": {"filename": f"{track}_RAW_{number:02d}_01.wav", "instrument": instrument}},
            }
            for number, instrument in enumerate(instruments, start=1)
        }
        metadata = {
            "album": "", "artist": artist, "composer": [artist], "excerpt": "no", "genre": "Singer/Songwriter",
            "has_bleed": "no", "instrumental": "no", "mix_filename": f"{track}_MIX.wav", "origin": "Dolan Studio",
            "producer": ["Rachel Bittner"], "raw_dir": f"{track}_RAW", "stem_dir": f"{track}_STEMS",
            "stems": stems, "title": track.split("_", 1)[1], "version": 1.2, "website": [],
        }
        metadata_folder = root / "Metadata" if track == MEDLEYDB_METADATA_IN_ROOT else folder
        metadata_folder.mkdir(parents=True, exist_ok=True)
        (metadata_folder / f"{track}_METADATA.yaml").write_text(yaml.safe_dump(metadata, sort_keys=False))
    return root
