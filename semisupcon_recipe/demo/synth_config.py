"""What the demo's synthesizer draws from: the label vocabularies and :class:`SynthConfig`.

The label vocabularies (24 keys, 9 pitched instrument families plus drums) are what
the demo dataset's labels are made of; :class:`SynthConfig` says how much the music
and its recording vary between clips. The score (:mod:`.score`), the instruments
(:mod:`.instruments`) and the production (:mod:`.production`) read it.
"""

from __future__ import annotations

from dataclasses import dataclass

TONICS = ("C", "Db", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
MODES = ("major", "minor")
KEY_NAMES = tuple(f"{tonic} {mode}" for mode in MODES for tonic in TONICS)
PITCHED_FAMILIES = ("piano", "organ", "guitar", "strings", "brass", "reed", "flute", "mallet", "bass")
DRUMS = "drums"
INSTRUMENT_LABELS = PITCHED_FAMILIES + (DRUMS,)


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

    Example
    -------
    >>> SynthConfig(instruments_per_clip=(2, 3)).instruments_per_clip
    (2, 3)
    >>> SynthConfig(families=("piano", "kazoo"))
    Traceback (most recent call last):
    ...
    ValueError: SynthConfig.families has unknown families ['kazoo']; choose from ('piano', 'organ', 'guitar', 'strings', 'brass', 'reed', 'flute', 'mallet', 'bass')
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
