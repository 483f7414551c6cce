"""A tiny copy of MagnaTagATune as its archive unpacks.

``mp3.zip.001`` .. ``.003`` joined and unzipped give the folders ``0`` .. ``9``,
``a`` .. ``f`` of ``<artist>-<album>-<track>-<title>-<start>-<end>.mp3`` clips;
``annotations_final.csv`` lies beside them: tab-separated, every field in double
quotes, header ``clip_id``, the tag names (real MagnaTagATune tags, multi-word ones
included), ``mp3_path``. Audio is short generated noise, one clip undecodable.
"""

from __future__ import annotations

import csv
from pathlib import Path

from .fixtures_common import write_noise, write_undecodable

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


def build_magnatagatune(root: Path, line_ending: str = "\r\n") -> dict:
    """``annotations_final.csv`` (tab-separated, every field quoted) and mp3 clips in folders 0..f.

    ``line_ending`` is the annotation file's line ending: the real one is not known
    (the public reconstruction guesses CRLF), so the tests try both.

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
        writer = csv.writer(handle, delimiter="\t", quoting=csv.QUOTE_ALL, lineterminator=line_ending)
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
