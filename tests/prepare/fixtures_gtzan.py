"""A tiny GTZAN, laid out as its two common downloads unpack.

``genres.tar.gz`` (opihi.cs.uvic.ca, the archive torchaudio and JukeMIR download)
unpacks to ``genres/<genre>/<genre>.000NN.wav``; older copies carry ``.au`` files.
Kaggle's "GTZAN Dataset - Music Genre Classification" unpacks to
``Data/genres_original/<genre>/<genre>.000NN.wav`` beside ``Data/images_original/``,
and its ``jazz.00054.wav`` does not decode (written here as 4 KB of zeros).
"""

from __future__ import annotations

from pathlib import Path

from .fixtures_common import CLIP_SECONDS, write_noise

GTZAN_GENRES = ["blues", "classical", "country", "disco", "hiphop", "jazz", "metal", "pop", "reggae", "rock"]
# Layout -> (folder of the genre folders below the extraction root, audio extension).
GTZAN_LAYOUTS = {
    "genres.tar.gz": ("genres", ".wav"),
    "genres.tar.gz (au)": ("genres", ".au"),
    "kaggle": ("Data/genres_original", ".wav"),
}
KAGGLE_UNDECODABLE = "jazz.00054"


def build_gtzan(root: Path, clips_per_genre: int = 100, layout: str = "genres.tar.gz",
                seconds: float = CLIP_SECONDS) -> Path:
    """Write ``clips_per_genre`` clips of every genre under ``root`` in ``layout``; return the genre folders' parent.

    One noise file per genre is written and its bytes copied to the genre's other
    clips, which keeps the full 1000-clip layout fast to build.
    """
    folder, extension = GTZAN_LAYOUTS[layout]
    genres_folder = root / folder
    for genre_index, genre in enumerate(GTZAN_GENRES):
        first = write_noise(genres_folder / genre / f"{genre}.00000{extension}", 22050, seed=genre_index, seconds=seconds)
        audio = first.read_bytes()
        for number in range(1, clips_per_genre):
            (first.parent / f"{genre}.{number:05d}{extension}").write_bytes(audio)
    if layout == "kaggle":
        (root / "Data" / "images_original").mkdir()
        broken = genres_folder / "jazz" / f"{KAGGLE_UNDECODABLE}.wav"
        if broken.exists():
            broken.write_bytes(b"\0" * 4096)
    return genres_folder


def write_gtzan_split_lists(folder: Path, splits: dict[str, list[str]]) -> Path:
    """``<split>_filtered.txt`` files with one ``<genre>/<name>.wav`` per line."""
    folder.mkdir(parents=True, exist_ok=True)
    for split, names in splits.items():
        (folder / f"{split}_filtered.txt").write_text("".join(f"{name.split('.')[0]}/{name}.wav\n" for name in names))
    return folder
