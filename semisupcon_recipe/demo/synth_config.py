"""What the demo's synthesizer draws from: the label vocabularies, the styles and :class:`SynthConfig`.

The label vocabularies (24 keys, 9 pitched instrument families plus drums, and the
opt-in styles) are what the demo dataset's labels are made of; :class:`SynthConfig`
says how much the music and its recording vary between clips, and :data:`STYLES` how
each style (:class:`Style`) plays: arrangement, rhythm and room together. The score
(:mod:`.score`), the instruments (:mod:`.instruments`) and the production
(:mod:`.production`) read them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

TONICS = ("C", "Db", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
MODES = ("major", "minor")
KEY_NAMES = tuple(f"{tonic} {mode}" for mode in MODES for tonic in TONICS)
PITCHED_FAMILIES = ("piano", "organ", "guitar", "strings", "brass", "reed", "flute", "mallet", "bass")
DRUMS = "drums"
INSTRUMENT_LABELS = PITCHED_FAMILIES + (DRUMS,)
# Drum grooves on a 16-step bar grid (16ths). The first four are the style-free draw's.
DRUM_GROOVES = {
    "backbeat": {"kick": (0, 8), "snare": (4, 12), "hat": (0, 2, 4, 6, 8, 10, 12, 14)},
    "four_on_the_floor": {"kick": (0, 4, 8, 12), "snare": (4, 12), "hat": (2, 6, 10, 14)},
    "half_time": {"kick": (0,), "snare": (8,), "hat": (0, 4, 8, 12)},
    "driving": {"kick": (0, 6, 8, 11), "snare": (4, 12), "hat": tuple(range(16))},
    "ride": {"kick": (0, 10), "snare": (14,), "hat": (0, 4, 6, 8, 12, 14)},
}


@dataclass(frozen=True)
class Style:
    """How one style plays a clip: arrangement, rhythm, tempo and room, drawn together.

    Parameters
    ----------
    family_weights : dict of str to float
        Relative chance of each pitched family (all positive); families are drawn
        without replacement with these weights.
    tempo_weights : dict of str to float
        Relative chance of each tempo class (by name; missing classes get 0).
    drum_grooves : tuple of str
        Grooves of :data:`DRUM_GROOVES` the drums play (one drawn per clip).
    accompaniment : tuple of str
        How chord instruments play: ``block``, ``stabs`` and/or ``arpeggio``.
    bass_lines : tuple of str
        How the bass plays: ``whole``, ``beats`` and/or ``eighths``.
    swing : float
        Delay of every off-beat eighth, as a fraction of an eighth (1/3: triplet swing).
    drums_probability, chord_seconds, humanize_seconds, reverb_room_size, reverb_wet
        Replace the :class:`SynthConfig` fields of the same names for this style's clips.

    Example
    -------
    >>> STYLES["jazz"].swing, STYLES["ballad"].drum_grooves
    (0.33, ('half_time',))
    >>> STYLES["rock"].apply(SynthConfig()).chord_seconds
    1.0
    """

    family_weights: dict[str, float]
    tempo_weights: dict[str, float]
    drum_grooves: tuple[str, ...]
    accompaniment: tuple[str, ...]
    bass_lines: tuple[str, ...]
    swing: float
    drums_probability: float
    chord_seconds: float
    humanize_seconds: float
    reverb_room_size: tuple[float, float]
    reverb_wet: tuple[float, float]

    def apply(self, config: "SynthConfig") -> "SynthConfig":
        """``config`` with this style's drums chance, harmonic rhythm, timing and room."""
        return replace(
            config, drums_probability=self.drums_probability, chord_seconds=self.chord_seconds,
            humanize_seconds=self.humanize_seconds, reverb_room_size=self.reverb_room_size, reverb_wet=self.reverb_wet,
        )

    def family_probabilities(self, families: tuple[str, ...]) -> list[float]:
        """Probabilities of ``families`` (normalised weights), in their order."""
        weights = [self.family_weights[name] for name in families]
        return [weight / sum(weights) for weight in weights]

    def tempo_probabilities(self, tempo_classes: tuple[tuple[str, float, float], ...]) -> list[float]:
        """Probabilities of ``tempo_classes`` (normalised weights, 0 for classes it lacks)."""
        weights = [self.tempo_weights.get(name, 0.0) for name, _, _ in tempo_classes]
        return [weight / sum(weights) for weight in weights]


def _weights(default: float, **chosen: float) -> dict[str, float]:
    return {name: chosen.get(name, default) for name in PITCHED_FAMILIES}


STYLES: dict[str, Style] = {
    "ballad": Style(
        _weights(0.5, piano=4.0, strings=3.0, flute=1.5, guitar=1.0, bass=2.0), {"slow": 0.8, "medium": 0.2},
        ("half_time",), ("arpeggio", "block"), ("whole",), 0.0, 0.3, 2.0, 0.015, (0.6, 0.9), (0.25, 0.4),
    ),
    "rock": Style(
        _weights(0.3, guitar=5.0, bass=4.0, organ=2.0, piano=1.0), {"medium": 0.5, "fast": 0.5},
        ("backbeat", "driving"), ("stabs", "block"), ("eighths",), 0.0, 0.95, 1.0, 0.01, (0.1, 0.5), (0.05, 0.25),
    ),
    "electronic": Style(
        _weights(0.3, mallet=3.0, organ=3.0, bass=4.0, brass=1.0, strings=1.0), {"medium": 0.6, "fast": 0.4},
        ("four_on_the_floor",), ("arpeggio", "stabs"), ("eighths",), 0.0, 1.0, 2.0, 0.0, (0.0, 0.3), (0.0, 0.15),
    ),
    "jazz": Style(
        _weights(0.3, piano=4.0, reed=4.0, brass=3.0, bass=4.0, guitar=1.5, mallet=1.0), {"slow": 0.3, "medium": 0.4, "fast": 0.3},
        ("ride",), ("stabs", "block"), ("beats",), 0.33, 0.8, 0.6, 0.012, (0.2, 0.6), (0.1, 0.3),
    ),
    "folk": Style(
        _weights(0.3, guitar=5.0, flute=3.0, strings=2.0, reed=1.0, mallet=1.0, piano=1.0, bass=1.0),
        {"slow": 0.3, "medium": 0.5, "fast": 0.2},
        ("half_time",), ("arpeggio",), ("beats", "whole"), 0.0, 0.2, 1.5, 0.02, (0.2, 0.6), (0.05, 0.25),
    ),
}
STYLE_NAMES = tuple(STYLES)


@dataclass(frozen=True)
class SynthConfig:
    """What varies between clips and by how much (all ranges are ``(low, high)``).

    Parameters
    ----------
    families : tuple of str
        Pitched instrument families to draw from (subset of ``PITCHED_FAMILIES``).
    instruments_per_clip : (int, int)
        Inclusive range of the number of pitched instruments in a clip.
    drums_probability : float
        Chance that a clip has drums (the ``drums`` instrument label).
    tempo_classes : tuple of (name, low_bpm, high_bpm)
        Tempo classes; a clip draws a class uniformly, then a tempo inside it.
    chord_seconds : float
        Target duration of one chord; the harmonic rhythm (1, 2 or 4 beats) closest
        to it is used, so short clips still pass through several chords.
    register_shifts : tuple of int
        Semitone shifts of melody and chords, one drawn per clip (a nuisance).
    rest_probability, humanize_seconds : float
        Chance of a melody rest (never on a chord's first note) and onset jitter
        (standard deviation, seconds).
    stem_gain_db, eq_gain_db, reverb_room_size, reverb_wet, hiss_snr_db,
    hum_level_db, peak_level_db : (float, float)
        The recording nuisances: per-instrument mix gain, low-shelf / peak /
        high-shelf EQ gains, reverb size and wet level, white-noise SNR, mains hum
        level relative to the music, and the final peak level in dBFS.
    hum_probability : float
        Chance that a clip has mains hum (50 or 60 Hz).
    styles : tuple of str
        Opt-in style label: each clip draws one of these :data:`STYLES` uniformly (from
        its own random stream), which then sets the family chances, tempo class, drum
        groove, accompaniment, bass line, swing, harmonic rhythm and room together. Empty
        (the default): no style, and every clip is exactly what it was without the knob.

    Example
    -------
    >>> SynthConfig(instruments_per_clip=(2, 3)).instruments_per_clip
    (2, 3)
    >>> SynthConfig(families=("piano", "kazoo"))
    Traceback (most recent call last):
    ...
    ValueError: SynthConfig.families has unknown families ['kazoo']; choose from ('piano', 'organ', 'guitar', 'strings', 'brass', 'reed', 'flute', 'mallet', 'bass')
    >>> SynthConfig(styles=("rock", "jazz")).styles
    ('rock', 'jazz')
    """

    families: tuple[str, ...] = PITCHED_FAMILIES
    instruments_per_clip: tuple[int, int] = (1, 4)
    drums_probability: float = 0.5
    tempo_classes: tuple[tuple[str, float, float], ...] = (
        ("slow", 60.0, 90.0),
        ("medium", 90.0, 130.0),
        ("fast", 130.0, 180.0),
    )
    chord_seconds: float = 1.0
    register_shifts: tuple[int, ...] = (-12, 0, 12)
    rest_probability: float = 0.1
    humanize_seconds: float = 0.01
    stem_gain_db: tuple[float, float] = (-6.0, 0.0)
    eq_gain_db: tuple[float, float] = (-9.0, 9.0)
    reverb_room_size: tuple[float, float] = (0.0, 0.9)
    reverb_wet: tuple[float, float] = (0.0, 0.4)
    hiss_snr_db: tuple[float, float] = (25.0, 60.0)
    hum_probability: float = 0.3
    hum_level_db: tuple[float, float] = (-40.0, -25.0)
    peak_level_db: tuple[float, float] = (-20.0, -1.0)
    styles: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        unknown = [name for name in self.families if name not in PITCHED_FAMILIES]
        if unknown:
            raise ValueError(f"SynthConfig.families has unknown families {unknown}; choose from {PITCHED_FAMILIES}")
        low, high = self.instruments_per_clip
        if not 1 <= low <= high <= len(self.families):
            raise ValueError(
                f"SynthConfig.instruments_per_clip={self.instruments_per_clip} must satisfy "
                f"1 <= low <= high <= {len(self.families)} (the number of families)"
            )
        if not self.tempo_classes or any(not 0 < lo <= hi for _, lo, hi in self.tempo_classes):
            raise ValueError(f"SynthConfig.tempo_classes={self.tempo_classes} needs (name, low, high) with 0 < low <= high")
        for name in ("stem_gain_db", "eq_gain_db", "reverb_room_size", "reverb_wet", "hiss_snr_db", "hum_level_db", "peak_level_db"):
            low, high = getattr(self, name)
            if low > high:
                raise ValueError(f"SynthConfig.{name}={(low, high)} is not a (low, high) range")
        if self.peak_level_db[1] > 0:
            raise ValueError(f"SynthConfig.peak_level_db={self.peak_level_db} must stay <= 0 dBFS to avoid clipping")
        unknown = [name for name in self.styles if name not in STYLES]
        if unknown or len(set(self.styles)) != len(self.styles):
            raise ValueError(f"SynthConfig.styles={self.styles} must be distinct names from {STYLE_NAMES}")
        for name in self.styles:
            if not sum(STYLES[name].tempo_weights.get(tempo, 0.0) for tempo, _, _ in self.tempo_classes) > 0:
                raise ValueError(
                    f"style {name!r} plays none of SynthConfig.tempo_classes {[tempo for tempo, _, _ in self.tempo_classes]}; "
                    f"it needs one of {sorted(STYLES[name].tempo_weights)}"
                )
