"""A tiny copy of MedleyDB as its audio archives unpack, with metadata in the real format.

``MedleyDB_V1.tar.gz`` unpacks to ``V1/<Track>/<Track>_MIX.wav`` (plus ``_STEMS/`` and
``_RAW/``), the MedleyDB 2.0 archive to ``V2/<Track>/...``; the metadata YAML files come
from ``medleydb/data/Metadata/`` of github.com/marl/medleydb. The YAML is written as in
that repository: block style, keys sorted, non-ASCII characters escaped (PyYAML's
defaults). Track names, version folders and artist spellings are the real ones,
including the four artists the real metadata spells two ways and a joint credit
("Liz Nelson & Jennifer Davies" beside "Liz Nelson"); the stem lists are shortened.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from .fixtures_common import write_noise

# track -> (version folder, artist as spelled in its metadata, stem instruments; a list is one stem with several)
MEDLEYDB_TRACKS = {
    "AClassicEducation_NightOwl": ("V1", "A Classic Education",
                                   ["clean electric guitar", "drum set", "male singer", "electric bass", "fx/processed sound"]),
    "AimeeNorwich_Child": ("V1", "Aimee Norwich", ["female singer", "piano", "electric bass", "drum set"]),
    "AimeeNorwich_Flying": ("V1", "Aimee Norwich", ["piano", "drum set", ["synthesizer", "fx/processed sound"], "cello"]),
    "AlexanderRoss_GoodbyeBolero": ("V1", "Alexander Ross", ["acoustic guitar", "male singer"]),
    "BigTroubles_Phantom": ("V1", "Big Troubles", ["distorted electric guitar", "drum set", "electric bass", "male singer"]),
    "CelestialShore_DieForUs": ("V1", "Celestial Shore", ["clean electric guitar", "drum set", "female singer"]),
    "LizNelson_Coldwar": ("V1", "Liz Nelson & Jennifer Davies", ["acoustic guitar", "female singer", "female singer"]),
    "LizNelson_ImComingHome": ("V1", "Liz Nelson", ["female singer"]),
    "MusicDelta_80sRock": ("V1", "Music Delta Multitracks",
                           ["distorted electric guitar", "drum set", "electric bass", "male singer"]),
    "MusicDelta_BebopJazz": ("V1", "Music Delta", ["double bass", "drum set", "piano", "tenor saxophone", "trumpet"]),
    "MusicDelta_ChineseDrama": ("V1", "Music Delta", ["erhu", "auxiliary percussion"]),
    "DeclareAString_MendelssohnPianoTrio1Movement1": ("V2", "Declare A String", ["Main System", "cello", "piano", "violin"]),
    "DeclareAString_MendelssohnPianoTrio1Movement2": ("V2", "Declare a String", ["Main System", "cello", "piano", "violin"]),
    "HopsNVinyl_ChickenFriedSteak": ("V2", "Hops 'n Vinyl",
                                     ["Main System", "double bass", "drum set", "tenor saxophone", "vibraphone"]),
    "HopsNVinyl_HoneyBrown": ("V2", "Hops \u2019n Vinyl",
                              ["vibraphone", "drum set", "double bass", "tenor saxophone", "Main System"]),
    "Sweat_Tact": ("V2", "SWEAT", ["Main System", "clean electric guitar", "drum set", "piano", "tenor saxophone"]),
    "Sweat_Sn1572": ("V2", "Sweat", ["Main System", "distorted electric guitar", "drum set", "electric bass"]),
    "TheDistricts_Vermont": ("V1", "The Districts", ["drum set", "electric bass", "male singer", "violin"]),
}
# Artists spelled two ways in the real metadata, and the joint credit: tracks that must share a split.
MEDLEYDB_SAME_ARTIST = [
    ("MusicDelta_80sRock", "MusicDelta_BebopJazz", "MusicDelta_ChineseDrama"),
    ("DeclareAString_MendelssohnPianoTrio1Movement1", "DeclareAString_MendelssohnPianoTrio1Movement2"),
    ("HopsNVinyl_ChickenFriedSteak", "HopsNVinyl_HoneyBrown"),
    ("Sweat_Tact", "Sweat_Sn1572"),
    ("LizNelson_Coldwar", "LizNelson_ImComingHome"),
]
MEDLEYDB_NON_INSTRUMENTS = {"Main System", "fx/processed sound", "auxiliary percussion"}
MEDLEYDB_METADATA_BESIDE_MIX = "AimeeNorwich_Child"  # the other tracks' metadata lie in Metadata/
MEDLEYDB_NO_TAG_SET_INSTRUMENT = "MusicDelta_ChineseDrama"  # erhu (one stem) drops out of a top-k tag set


def medleydb_stem_counts() -> dict[str, int]:
    """Number of stems of each instrument name over the fixture (a list stem counts once per name)."""
    counts: dict[str, int] = {}
    for _, _, stems in MEDLEYDB_TRACKS.values():
        for stem in stems:
            for name in [stem] if isinstance(stem, str) else stem:
                counts[name] = counts.get(name, 0) + 1
    return counts


def medleydb_labels(track: str, tag_set: set[str]) -> str:
    """The ``labels`` cell a track must get: its distinct tag-set instruments, sorted, ``;``-joined."""
    names = set()
    for stem in MEDLEYDB_TRACKS[track][2]:
        names.update([stem] if isinstance(stem, str) else stem)
    return ";".join(sorted(names & tag_set))


def build_medleydb(root: Path, merged_audio: bool = False) -> Path:
    """``V1/`` and ``V2/`` track folders (or one merged ``Audio/``) and ``Metadata/``; returns ``root``."""
    for index, (track, (version, artist, instruments)) in enumerate(MEDLEYDB_TRACKS.items()):
        folder = root / ("Audio" if merged_audio else version) / track
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
        metadata_folder = folder if track == MEDLEYDB_METADATA_BESIDE_MIX else root / "Metadata"
        metadata_folder.mkdir(parents=True, exist_ok=True)
        (metadata_folder / f"{track}_METADATA.yaml").write_text(yaml.safe_dump(metadata, default_flow_style=False))
    return root
