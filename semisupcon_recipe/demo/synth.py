"""Labeled music from pure numpy synthesis: keys, instrument families, tempo.

A clip is a short piece in one of 24 keys (12 tonics x major/minor): a chord
progression of that key with a melody, an accompaniment and a bass line drawn from
its scale, at a tempo, played by 1-4 synthetic instruments (families: the multi-label
target) with optional drums. On top of the music, every clip gets its own "recording":
mix balance, EQ colour, room reverb, hiss, mains hum and peak level. Those nuisances
are constant within a clip, so a contrastive model trained only to match two crops of
the same clip can latch onto them; the labels are what tells it to care about key and
instrumentation instead.

Everything is deterministic from ``(seed, stream, index)``: :func:`synthesize_clip`
derives its random generators from a :class:`numpy.random.SeedSequence`, so a clip
does not depend on which other clips are generated, nor in which order or process.

Pieces, in the order a clip is made: :func:`compose_phrase` (the score),
:func:`sample_timbre` + :class:`Instrument` (wavetable / additive voices),
:class:`DrumKit` (noise-burst drums), :func:`render_phrase` (one stem per instrument
label), :func:`produce` (mix and recording), :func:`synthesize_clip` (all of it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pedalboard

TONICS = ("C", "Db", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
MODES = ("major", "minor")
KEY_NAMES = tuple(f"{tonic} {mode}" for mode in MODES for tonic in TONICS)
PITCHED_FAMILIES = ("piano", "organ", "guitar", "strings", "brass", "reed", "flute", "mallet", "bass")
DRUMS = "drums"
INSTRUMENT_LABELS = PITCHED_FAMILIES + (DRUMS,)

SCALES = {"major": (0, 2, 4, 5, 7, 9, 11), "minor": (0, 2, 3, 5, 7, 8, 10)}
DEGREES_PER_OCTAVE = 7
DOMINANT_DEGREE = 4
LEADING_TONE_STEP = 6
# Chord roots as scale degrees (0 = tonic), shared by both modes. Every progression
# starts on the tonic and comes back to it or to the dominant, and in minor the
# dominant V takes the raised leading tone (harmonic minor): the tonal centre, not
# only the pitch-class set, is in the audio, even in a few seconds of it.
PROGRESSIONS = ((0, 3, 4, 0), (0, 4, 0, 3), (0, 3, 0, 4), (0, 5, 3, 4), (0, 1, 4, 0), (0, 4, 5, 0))
# MIDI pitch at or above which each role's tonic sits (before the clip's register shift).
ROLE_REGISTERS = {"melody": 60, "chords": 48, "bass": 28}
POLYPHONIC_FAMILIES = ("piano", "organ", "guitar", "strings", "mallet")
PERCUSSIVE_FAMILIES = ("piano", "guitar", "mallet")
CHORD_STYLES = {"percussive": ("block", "stabs", "arpeggio"), "sustained": ("block",)}
BASS_STYLES = ("whole", "beats", "eighths")
ARPEGGIO_ORDER = (0, 1, 2, 1)
MELODY_LENGTHS_EIGHTHS = (1, 2, 3, 4)
MELODY_LENGTH_WEIGHTS = (0.35, 0.4, 0.1, 0.15)
MELODY_STEPS = (-2, -1, 1, 2)
MELODY_STEP_WEIGHTS = (0.15, 0.35, 0.35, 0.15)
MELODY_DEGREE_RANGE = (-2, 9)
HARMONIC_RHYTHMS_BEATS = (1, 2, 4)
LEGATO = 0.9
STEPS_PER_BEAT = 4
STEPS_PER_BAR = 16
# Drum patterns on a 16-step bar grid.
DRUM_PATTERNS = (
    {"kick": (0, 8), "snare": (4, 12), "hat": (0, 2, 4, 6, 8, 10, 12, 14)},
    {"kick": (0, 4, 8, 12), "snare": (4, 12), "hat": (2, 6, 10, 14)},
    {"kick": (0,), "snare": (8,), "hat": (0, 4, 8, 12)},
    {"kick": (0, 6, 8, 11), "snare": (4, 12), "hat": tuple(range(STEPS_PER_BAR))},
)

MAX_HARMONICS = 32
HARMONIC_COUNTS = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32)  # band-limited wavetables kept per instrument
TABLE_SIZE = 2048
NYQUIST_FRACTION = 0.9
RELEASE_TIME_CONSTANTS = 4.0
VIBRATO_ONSET_SECONDS = 0.2
DRUM_SECONDS = 0.4
NOISE_BUFFER_SECONDS = 2.0
# Corner / centre frequency ranges (Hz) of the recording EQ; gains come from SynthConfig.
LOW_SHELF_HZ, PEAK_HZ, HIGH_SHELF_HZ = (100.0, 400.0), (300.0, 3000.0), (2000.0, 6000.0)
TWO_PI = 2.0 * math.pi
A4_MIDI, A4_HZ = 69, 440.0


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


# ----------------------------------------------------------------------------- score


@dataclass(frozen=True)
class Note:
    """One pitched note: onset and duration in seconds, MIDI pitch, velocity in (0, 1]."""

    onset: float
    duration: float
    pitch: int
    velocity: float
    family: str


@dataclass(frozen=True)
class DrumHit:
    """One drum hit: onset in seconds, ``kick``/``snare``/``hat``, velocity in (0, 1]."""

    onset: float
    drum: str
    velocity: float


@dataclass(frozen=True)
class Phrase:
    """The score of one clip and its musical labels."""

    key: str
    tempo_bpm: float
    tempo_class: str
    families: tuple[str, ...]
    drums: bool
    register_shift: int
    seconds: float
    notes: tuple[Note, ...]
    hits: tuple[DrumHit, ...]

    @property
    def tonic(self) -> str:
        """Tonic name, e.g. ``"F#"``."""
        return self.key.split()[0]

    @property
    def mode(self) -> str:
        """``"major"`` or ``"minor"``."""
        return self.key.split()[1]

    @property
    def instruments(self) -> tuple[str, ...]:
        """Sorted instrument labels: the pitched families plus ``drums`` if any."""
        return tuple(sorted(self.families + ((DRUMS,) if self.drums else ())))


@dataclass(frozen=True)
class _ChordSlot:
    start: float
    beats: int
    root: int  # scale degree of the chord root


def midi_to_hz(pitch: float) -> float:
    """Equal-tempered frequency of a MIDI pitch.

    Example
    -------
    >>> midi_to_hz(69), round(midi_to_hz(60), 2)
    (440.0, 261.63)
    """
    return A4_HZ * 2.0 ** ((pitch - A4_MIDI) / 12.0)


def scale_pitch(mode: str, degree: int, tonic_pitch: int, leading_tone: bool = False) -> int:
    """MIDI pitch of a scale degree (0 = the tonic at ``tonic_pitch``; 7 = an octave up).

    ``leading_tone`` raises the 7th degree of the minor scale (harmonic minor), as
    over a dominant chord.

    Example
    -------
    >>> [scale_pitch("minor", degree, 57) for degree in range(8)]
    [57, 59, 60, 62, 64, 65, 67, 69]
    >>> scale_pitch("minor", 6, 57, leading_tone=True)
    68
    """
    octave, step = divmod(degree, DEGREES_PER_OCTAVE)
    semitone = SCALES[mode][step]
    if leading_tone and mode == "minor" and step == LEADING_TONE_STEP:
        semitone += 1
    return tonic_pitch + 12 * octave + semitone


def _tonic_pitch(tonic: int, lowest: int) -> int:
    """Lowest MIDI pitch >= ``lowest`` with the tonic's pitch class."""
    return lowest + (tonic - lowest) % 12


def _reflect(value: int, low: int, high: int) -> int:
    """Fold a value that stepped out of ``[low, high]`` back inside."""
    if value < low:
        return 2 * low - value
    if value > high:
        return 2 * high - value
    return value


def _chord_degrees(root: int) -> tuple[int, int, int]:
    return (root, root + 2, root + 4)


def _nearest_chord_tone(degree: int, root: int) -> int:
    tones = {tone % DEGREES_PER_OCTAVE for tone in _chord_degrees(root)}
    offsets = sorted(range(-3, 4), key=abs)
    return next(degree + offset for offset in offsets if (degree + offset) % DEGREES_PER_OCTAVE in tones)


def _chord_slots(rng: np.random.Generator, mode: str, tempo: float, seconds: float, config: SynthConfig) -> list[_ChordSlot]:
    beat = 60.0 / tempo
    beats = min(HARMONIC_RHYTHMS_BEATS, key=lambda count: abs(count * beat - config.chord_seconds))
    progression = PROGRESSIONS[rng.integers(len(PROGRESSIONS))]
    slot_count = math.ceil(seconds / (beats * beat))
    return [_ChordSlot(k * beats * beat, beats, progression[k % len(progression)]) for k in range(slot_count)]


def _melody(rng, slots, mode, tonic_pitch, beat, family, config) -> list[Note]:
    eighth = beat / 2.0
    notes = []
    degree = int(rng.choice([0, 2, 4]))
    low, high = MELODY_DEGREE_RANGE
    for slot in slots:
        position, total, first = 0, 2 * slot.beats, True
        while position < total:
            length = min(int(rng.choice(MELODY_LENGTHS_EIGHTHS, p=MELODY_LENGTH_WEIGHTS)), total - position)
            if first:
                degree = _nearest_chord_tone(degree, slot.root)
            else:
                degree = _reflect(degree + int(rng.choice(MELODY_STEPS, p=MELODY_STEP_WEIGHTS)), low, high)
            if first or rng.random() >= config.rest_probability:
                pitch = scale_pitch(mode, degree, tonic_pitch, leading_tone=slot.root == DOMINANT_DEGREE)
                notes.append(Note(slot.start + position * eighth, length * eighth * LEGATO, pitch, rng.uniform(0.7, 1.0), family))
            position, first = position + length, False
    return notes


def _chords(rng, slots, mode, tonic_pitch, beat, family) -> list[Note]:
    kind = "percussive" if family in PERCUSSIVE_FAMILIES else "sustained"
    style = CHORD_STYLES[kind][rng.integers(len(CHORD_STYLES[kind]))]
    velocity = rng.uniform(0.4, 0.6)
    notes = []
    for slot in slots:
        leading = slot.root == DOMINANT_DEGREE
        pitches = [scale_pitch(mode, degree, tonic_pitch, leading) for degree in _chord_degrees(slot.root)]
        length = slot.beats * beat
        if style == "block":
            notes += [Note(slot.start, length * LEGATO, pitch, velocity, family) for pitch in pitches]
        elif style == "stabs":
            notes += [
                Note(slot.start + count * beat, beat / 2.0, pitch, velocity, family)
                for count in range(slot.beats)
                for pitch in pitches
            ]
        else:
            eighth = beat / 2.0
            notes += [
                Note(slot.start + count * eighth, eighth * 1.5, pitches[ARPEGGIO_ORDER[count % len(ARPEGGIO_ORDER)]], velocity, family)
                for count in range(2 * slot.beats)
            ]
    return notes


def _bass(rng, slots, mode, tonic_pitch, beat, family) -> list[Note]:
    style = BASS_STYLES[rng.integers(len(BASS_STYLES))]
    velocity = rng.uniform(0.7, 0.9)
    notes = []
    for slot in slots:
        lowest = ROLE_REGISTERS["bass"]
        root = lowest + (scale_pitch(mode, slot.root, tonic_pitch) - lowest) % 12
        fifth = root + 7
        if style == "whole":
            notes.append(Note(slot.start, slot.beats * beat * LEGATO, root, velocity, family))
        elif style == "beats":
            notes += [
                Note(slot.start + count * beat, beat * LEGATO, fifth if count % 2 else root, velocity, family)
                for count in range(slot.beats)
            ]
        else:
            notes += [Note(slot.start + count * beat / 2.0, beat / 2.0 * LEGATO, root, velocity, family) for count in range(2 * slot.beats)]
    return notes


def _drum_hits(rng, beat, seconds) -> list[DrumHit]:
    pattern = DRUM_PATTERNS[rng.integers(len(DRUM_PATTERNS))]
    step = beat / STEPS_PER_BEAT
    bars = math.ceil(seconds / (STEPS_PER_BAR * step))
    hits = []
    for bar in range(bars):
        for drum, steps in pattern.items():
            for index in steps:
                hits.append(DrumHit((bar * STEPS_PER_BAR + index) * step, drum, rng.uniform(0.6, 1.0)))
    return hits


def compose_phrase(rng: np.random.Generator, seconds: float, config: SynthConfig | None = None) -> Phrase:
    """Compose the score of one clip: key, tempo, instruments, notes and drum hits.

    The bass family (if drawn) plays the bass line; the first other family plays the
    melody; the next ones play the chords (block chords, stabs or arpeggios). A single
    polyphonic instrument plays both melody and chords.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of every random choice.
    seconds : float
        Clip length; events starting later are dropped.
    config : SynthConfig, optional
        What varies and how much (defaults: :class:`SynthConfig`).

    Returns
    -------
    Phrase

    Example
    -------
    >>> phrase = compose_phrase(np.random.default_rng(3), 3.0)
    >>> phrase.key in KEY_NAMES, phrase.tempo_class in ("slow", "medium", "fast")
    (True, True)
    >>> {note.family for note in phrase.notes} == set(phrase.families)
    True
    """
    config = config or SynthConfig()
    tonic = int(rng.integers(len(TONICS)))
    mode = MODES[rng.integers(len(MODES))]
    tempo_class, low_bpm, high_bpm = config.tempo_classes[rng.integers(len(config.tempo_classes))]
    tempo = float(rng.uniform(low_bpm, high_bpm))
    low, high = config.instruments_per_clip
    count = int(rng.integers(low, high + 1))
    families = tuple(str(name) for name in rng.choice(config.families, size=count, replace=False))
    drums = bool(rng.random() < config.drums_probability)
    shift = int(config.register_shifts[rng.integers(len(config.register_shifts))])
    beat = 60.0 / tempo
    slots = _chord_slots(rng, mode, tempo, seconds, config)

    upper = [name for name in families if name != "bass"]
    melody_pitch = _tonic_pitch(tonic, ROLE_REGISTERS["melody"] + shift)
    chord_pitch = _tonic_pitch(tonic, ROLE_REGISTERS["chords"] + shift)
    notes: list[Note] = []
    if upper:
        notes += _melody(rng, slots, mode, melody_pitch, beat, upper[0], config)
        accompanists = upper[1:] or ([upper[0]] if upper[0] in POLYPHONIC_FAMILIES else [])
        for family in accompanists:
            notes += _chords(rng, slots, mode, chord_pitch, beat, family)
    if "bass" in families:
        notes += _bass(rng, slots, mode, _tonic_pitch(tonic, ROLE_REGISTERS["bass"]), beat, "bass")
    hits = _drum_hits(rng, beat, seconds) if drums else []

    jitter = config.humanize_seconds
    notes = [note for note in notes if note.onset < seconds]
    onsets = np.clip([note.onset for note in notes] + rng.normal(0.0, jitter, len(notes)), 0.0, None)
    notes = [
        Note(float(onset), note.duration, note.pitch, note.velocity, note.family)
        for onset, note in zip(onsets, notes)
        if onset < seconds
    ]
    hits = [hit for hit in hits if hit.onset < seconds]
    onsets = np.clip([hit.onset for hit in hits] + rng.normal(0.0, jitter, len(hits)), 0.0, None)
    hits = [DrumHit(float(onset), hit.drum, hit.velocity) for onset, hit in zip(onsets, hits) if onset < seconds]
    return Phrase(
        key=f"{TONICS[tonic]} {mode}",
        tempo_bpm=tempo,
        tempo_class=tempo_class,
        families=families,
        drums=drums,
        register_shift=shift,
        seconds=float(seconds),
        notes=tuple(notes),
        hits=tuple(hits),
    )


# ----------------------------------------------------------------------------- timbres


@dataclass(frozen=True, eq=False)
class Timbre:
    """How one instrument sounds; sampled per clip by :func:`sample_timbre`.

    Harmonic instruments read two wavetables (attack and sustain spectra) and move
    from the first to the second with time constant ``spectral_time``; inharmonic
    ones (``partial_ratios`` set) sum decaying sine partials, the higher ones dying
    faster. Times are in seconds; ``decay`` is the amplitude time constant
    (``math.inf`` for sustained instruments), shortened by ``decay_per_octave`` for
    every octave above middle C.
    """

    family: str
    attack_spectrum: np.ndarray  # (H,) amplitudes of harmonics 1..H at the onset
    sustain_spectrum: np.ndarray  # (H,) amplitudes once the attack has faded
    spectral_time: float
    attack: float
    decay: float
    release: float
    decay_per_octave: float = 1.0
    vibrato_rate: float = 0.0
    vibrato_depth: float = 0.0  # semitones
    tremolo_rate: float = 0.0
    tremolo_depth: float = 0.0
    noise_level: float = 0.0
    noise_time: float = math.inf
    partial_ratios: np.ndarray | None = field(default=None)  # (P,) frequency ratios of inharmonic partials


_HARMONICS = np.arange(1, MAX_HARMONICS + 1, dtype=np.float64)  # (H,)


def _piano(rng: np.random.Generator) -> Timbre:
    return Timbre(
        "piano", _HARMONICS ** -rng.uniform(0.7, 1.1), _HARMONICS ** -rng.uniform(1.8, 2.6), rng.uniform(0.1, 0.3),
        attack=rng.uniform(0.002, 0.006), decay=rng.uniform(0.5, 1.2), release=rng.uniform(0.05, 0.1),
        decay_per_octave=0.6, noise_level=rng.uniform(0.05, 0.2), noise_time=0.01,
    )


def _organ(rng: np.random.Generator) -> Timbre:
    levels = np.zeros(MAX_HARMONICS)
    drawbars = np.array([1, 2, 3, 4, 6, 8])
    levels[drawbars - 1] = rng.uniform(0.0, 1.0, drawbars.size) * (rng.random(drawbars.size) < 0.7)
    levels[0] = 1.0
    return Timbre(
        "organ", levels, levels, math.inf, attack=rng.uniform(0.005, 0.02), decay=math.inf,
        release=rng.uniform(0.02, 0.05), tremolo_rate=rng.uniform(5.5, 7.0), tremolo_depth=rng.uniform(0.0, 0.25),
    )


def _guitar(rng: np.random.Generator) -> Timbre:
    pluck_position = rng.uniform(0.08, 0.3)
    attack = np.abs(np.sin(np.pi * _HARMONICS * pluck_position)) / _HARMONICS
    return Timbre(
        "guitar", attack, attack * _HARMONICS ** -rng.uniform(1.0, 2.0), rng.uniform(0.05, 0.2),
        attack=rng.uniform(0.001, 0.003), decay=rng.uniform(0.4, 1.0), release=rng.uniform(0.03, 0.08),
        decay_per_octave=0.7, noise_level=rng.uniform(0.02, 0.08), noise_time=0.005,
    )


def _strings(rng: np.random.Generator) -> Timbre:
    spectrum = _HARMONICS ** -rng.uniform(0.9, 1.3)
    return Timbre(
        "strings", spectrum, spectrum, math.inf, attack=rng.uniform(0.06, 0.15), decay=math.inf,
        release=rng.uniform(0.06, 0.12), vibrato_rate=rng.uniform(5.0, 6.5), vibrato_depth=rng.uniform(0.1, 0.25),
        noise_level=rng.uniform(0.01, 0.04),
    )


def _brass(rng: np.random.Generator) -> Timbre:
    sustain = _HARMONICS ** rng.uniform(0.5, 1.5) * np.exp(-_HARMONICS / rng.uniform(2.0, 4.0))
    return Timbre(
        "brass", sustain * np.exp(-_HARMONICS / 1.5), sustain, rng.uniform(0.03, 0.08),
        attack=rng.uniform(0.02, 0.05), decay=math.inf, release=rng.uniform(0.05, 0.1),
        vibrato_rate=rng.uniform(4.5, 5.5), vibrato_depth=rng.uniform(0.0, 0.08),
    )


def _reed(rng: np.random.Generator) -> Timbre:
    even_level = rng.uniform(0.02, 0.6)
    spectrum = np.where(_HARMONICS % 2 == 1, 1.0, even_level) * _HARMONICS ** -rng.uniform(0.8, 1.3)
    return Timbre(
        "reed", spectrum, spectrum, math.inf, attack=rng.uniform(0.02, 0.04), decay=math.inf,
        release=rng.uniform(0.04, 0.08), vibrato_rate=rng.uniform(4.5, 5.5), vibrato_depth=rng.uniform(0.0, 0.12),
        noise_level=rng.uniform(0.01, 0.04),
    )


def _flute(rng: np.random.Generator) -> Timbre:
    spectrum = np.zeros(MAX_HARMONICS)
    spectrum[:4] = [1.0, rng.uniform(0.1, 0.4), rng.uniform(0.05, 0.2), rng.uniform(0.02, 0.1)]
    return Timbre(
        "flute", spectrum, spectrum, math.inf, attack=rng.uniform(0.04, 0.08), decay=math.inf,
        release=rng.uniform(0.05, 0.1), vibrato_rate=rng.uniform(4.5, 5.5), vibrato_depth=rng.uniform(0.05, 0.15),
        noise_level=rng.uniform(0.01, 0.04),
    )


def _mallet(rng: np.random.Generator) -> Timbre:
    ratios = np.array([[1.0, 3.93, 9.36], [1.0, 4.0, 10.0]][rng.integers(2)])
    amplitudes = np.array([1.0, rng.uniform(0.2, 0.6), rng.uniform(0.05, 0.25)])
    return Timbre(
        "mallet", amplitudes, amplitudes, math.inf, attack=0.001, decay=rng.uniform(0.3, 1.5),
        release=0.05, decay_per_octave=0.8, tremolo_rate=rng.uniform(4.0, 6.0),
        tremolo_depth=rng.uniform(0.0, 0.3), partial_ratios=ratios,
    )


def _bass_timbre(rng: np.random.Generator) -> Timbre:
    attack = _HARMONICS ** -rng.uniform(1.5, 2.5)
    return Timbre(
        "bass", attack, attack / _HARMONICS, rng.uniform(0.1, 0.3), attack=rng.uniform(0.003, 0.01),
        decay=rng.uniform(0.8, 2.0), release=rng.uniform(0.03, 0.06), noise_level=rng.uniform(0.0, 0.05), noise_time=0.005,
    )


TIMBRE_SAMPLERS: dict[str, Callable[[np.random.Generator], Timbre]] = {
    "piano": _piano,
    "organ": _organ,
    "guitar": _guitar,
    "strings": _strings,
    "brass": _brass,
    "reed": _reed,
    "flute": _flute,
    "mallet": _mallet,
    "bass": _bass_timbre,
}


def sample_timbre(family: str, rng: np.random.Generator) -> Timbre:
    """Draw one instrument of a family (spectra, envelope, vibrato jittered per call).

    Example
    -------
    >>> timbre = sample_timbre("reed", np.random.default_rng(0))
    >>> timbre.family, bool(timbre.sustain_spectrum[2] > timbre.sustain_spectrum[1])
    ('reed', True)
    """
    if family not in TIMBRE_SAMPLERS:
        raise ValueError(f"unknown instrument family {family!r}; choose from {tuple(TIMBRE_SAMPLERS)}")
    return TIMBRE_SAMPLERS[family](rng)


def _wavetable(amplitudes: np.ndarray) -> np.ndarray:
    """One period of sum_h a_h sin(2 pi h x), peak-normalised; ``(TABLE_SIZE,)``."""
    spectrum = np.zeros(TABLE_SIZE // 2 + 1, dtype=np.complex128)
    spectrum[1 : amplitudes.size + 1] = -0.5j * TABLE_SIZE * amplitudes
    table = np.fft.irfft(spectrum, TABLE_SIZE)
    return (table / np.abs(table).max()).astype(np.float32)


class Instrument:
    """Plays notes of one :class:`Timbre` at one sample rate.

    Harmonic timbres are band-limited per note: only harmonics below
    ``NYQUIST_FRACTION`` of the Nyquist frequency are kept (tables cached per count).

    Example
    -------
    >>> piano = Instrument(sample_timbre("piano", np.random.default_rng(0)), 16000)
    >>> note = piano.render(pitch=60, duration=0.5, velocity=0.8, rng=np.random.default_rng(1))
    >>> note.dtype, note.shape[0] > 8000, bool(0.1 < np.abs(note).max() < 2.0)
    (dtype('float32'), True, True)
    """

    def __init__(self, timbre: Timbre, sample_rate: int) -> None:
        self.timbre = timbre
        self.sample_rate = sample_rate
        self._tables: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._noise_buffer: np.ndarray | None = None

    def _wavetables(self, harmonics: int) -> tuple[np.ndarray, np.ndarray]:
        if harmonics not in self._tables:
            self._tables[harmonics] = (
                _wavetable(self.timbre.attack_spectrum[:harmonics]),
                _wavetable(self.timbre.sustain_spectrum[:harmonics]),
            )
        return self._tables[harmonics]

    def render(
        self, pitch: int, duration: float, velocity: float, rng: np.random.Generator, max_seconds: float = math.inf
    ) -> np.ndarray:
        """Render one note, release tail included (cut at ``max_seconds``); ``(T,)`` float32."""
        timbre, rate = self.timbre, self.sample_rate
        frequency = midi_to_hz(pitch)
        length = int(round(min(duration + RELEASE_TIME_CONSTANTS * timbre.release, max_seconds) * rate))
        time = np.arange(length, dtype=np.float32) / np.float32(rate)  # (T,)
        position = frequency * TABLE_SIZE / rate * np.arange(length, dtype=np.float64)  # (T,) phase in table steps
        if timbre.vibrato_depth > 0:
            # Phase modulation with the frequency swing of +-vibrato_depth semitones.
            swing = frequency * (2.0 ** (timbre.vibrato_depth / 12.0) - 1.0) / (TWO_PI * timbre.vibrato_rate) * TABLE_SIZE
            vibrato = np.sin(time * np.float32(TWO_PI * timbre.vibrato_rate) + np.float32(rng.uniform(0, TWO_PI)))
            onset = min(length, int(VIBRATO_ONSET_SECONDS * rate))
            vibrato[:onset] *= time[:onset] / np.float32(VIBRATO_ONSET_SECONDS)
            position += swing * vibrato
        limit = NYQUIST_FRACTION * rate / 2.0 / (frequency * 2.0 ** (timbre.vibrato_depth / 12.0))
        decay = timbre.decay * timbre.decay_per_octave ** ((pitch - 60) / 12.0)
        if timbre.partial_ratios is not None:
            tone = np.zeros(length, dtype=np.float32)
            for ratio, amplitude in zip(timbre.partial_ratios, timbre.sustain_spectrum):
                if ratio < limit:
                    tone += amplitude * np.exp(time * np.float32(-ratio / decay)) * _SINE_TABLE[_table_index(ratio * position)]
            envelope = np.ones(length, dtype=np.float32)
        else:
            harmonics = max((count for count in HARMONIC_COUNTS if count <= limit), default=1)
            attack_table, sustain_table = self._wavetables(harmonics)
            index = _table_index(position)  # (T,)
            if math.isfinite(timbre.spectral_time):
                tone = sustain_table[index]
                head = _head(length, timbre.spectral_time, rate)
                tone[:head] += np.exp(time[:head] / np.float32(-timbre.spectral_time)) * (attack_table[index[:head]] - tone[:head])
            else:
                tone = attack_table[index]
            envelope = np.exp(time / np.float32(-decay)) if math.isfinite(decay) else np.ones(length, dtype=np.float32)
        if timbre.noise_level > 0:
            head = _head(length, timbre.noise_time, rate)
            burst = self._noise(rng, head) * np.float32(timbre.noise_level)
            if math.isfinite(timbre.noise_time):
                burst *= np.exp(time[:head] / np.float32(-timbre.noise_time))
            tone[:head] += burst
        rise = min(length, int(timbre.attack * rate) + 1)
        envelope[:rise] *= np.minimum(time[:rise] / np.float32(timbre.attack), 1.0)
        held = min(length, int(duration * rate))
        envelope[held:] *= np.exp((time[held:] - np.float32(duration)) / np.float32(-timbre.release))
        if timbre.tremolo_depth > 0:
            envelope *= 1.0 - timbre.tremolo_depth * (0.5 + 0.5 * np.sin(time * np.float32(TWO_PI * timbre.tremolo_rate)))
        envelope *= np.float32(velocity)
        return envelope * tone

    def _noise(self, rng: np.random.Generator, length: int) -> np.ndarray:
        """``(length,)`` white noise: a random window of a buffer drawn once per instrument."""
        if self._noise_buffer is None or self._noise_buffer.size < 2 * length:
            size = max(2 * length, int(NOISE_BUFFER_SECONDS * self.sample_rate))
            self._noise_buffer = rng.standard_normal(size, dtype=np.float32)
        start = int(rng.integers(self._noise_buffer.size - length + 1))
        return self._noise_buffer[start : start + length]


def _table_index(position: np.ndarray) -> np.ndarray:
    """Wavetable indices of phases given in table steps (float64 for long notes)."""
    return position.astype(np.int64) & (TABLE_SIZE - 1)


def _head(length: int, time_constant: float, rate: int) -> int:
    """Samples until a decay with this time constant has faded (all of them if infinite)."""
    if not math.isfinite(time_constant):
        return length
    return min(length, int(RELEASE_TIME_CONSTANTS * time_constant * rate) + 1)


_SINE_TABLE = np.sin(TWO_PI * np.arange(TABLE_SIZE) / TABLE_SIZE).astype(np.float32)  # (TABLE_SIZE,)


class DrumKit:
    """A kick (pitch-swept sine), a snare (band-passed noise + tone) and a hi-hat
    (high-passed noise), each drawn once per clip and replayed at every hit.

    The noise filters are pedalboard's first-order high/low-pass filters.

    Example
    -------
    >>> kit = DrumKit(np.random.default_rng(0), 16000)
    >>> sorted(kit.sounds), kit.sounds["kick"].shape
    (['hat', 'kick', 'snare'], (6400,))
    """

    def __init__(self, rng: np.random.Generator, sample_rate: int) -> None:
        self.sample_rate = sample_rate
        time = np.arange(int(DRUM_SECONDS * sample_rate)) / sample_rate  # (T,)
        nyquist = sample_rate / 2.0
        start, end, sweep = rng.uniform(120.0, 180.0), rng.uniform(40.0, 60.0), rng.uniform(0.02, 0.06)
        kick = np.sin(TWO_PI * np.cumsum(end + (start - end) * np.exp(-time / sweep)) / sample_rate)
        kick *= np.exp(-time / rng.uniform(0.08, 0.2))
        low, high = rng.uniform(800.0, 1500.0), min(rng.uniform(4000.0, 7000.0), 0.9 * nyquist)
        band = pedalboard.Pedalboard([pedalboard.HighpassFilter(low), pedalboard.LowpassFilter(high)])
        snare_noise = band(rng.standard_normal((1, time.size), dtype=np.float32), sample_rate)[0]
        snare = (snare_noise + 0.5 * np.sin(TWO_PI * rng.uniform(170.0, 230.0) * time) * np.exp(-time / 0.05)) * np.exp(-time / rng.uniform(0.06, 0.15))
        cutoff = min(rng.uniform(5000.0, 7000.0), 0.8 * nyquist)
        sizzle = pedalboard.Pedalboard([pedalboard.HighpassFilter(cutoff), pedalboard.HighpassFilter(cutoff)])
        hat = sizzle(rng.standard_normal((1, time.size), dtype=np.float32), sample_rate)[0] * np.exp(-time / rng.uniform(0.02, 0.06))
        self.sounds = {name: (sound / np.abs(sound).max()).astype(np.float32) for name, sound in (("kick", kick), ("snare", snare), ("hat", hat))}


# ----------------------------------------------------------------------------- audio


def _add_at(track: np.ndarray, sound: np.ndarray, onset: float, sample_rate: int) -> None:
    start = int(round(onset * sample_rate))
    if start < track.size:
        stop = min(track.size, start + sound.size)
        track[start:stop] += sound[: stop - start]


def render_phrase(phrase: Phrase, sample_rate: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Render a phrase dry: one ``(T,)`` float32 stem per instrument label.

    Each pitched family gets one instrument drawn with :func:`sample_timbre`; drums
    one :class:`DrumKit`. ``T = round(phrase.seconds * sample_rate)``.

    Example
    -------
    >>> phrase = compose_phrase(np.random.default_rng(0), 1.0)
    >>> stems = render_phrase(phrase, 16000, np.random.default_rng(1))
    >>> sorted(stems) == list(phrase.instruments), {stem.shape for stem in stems.values()}
    (True, {(16000,)})
    """
    length = int(round(phrase.seconds * sample_rate))
    stems = {}
    for family in phrase.families:
        instrument = Instrument(sample_timbre(family, rng), sample_rate)
        stem = np.zeros(length, dtype=np.float32)
        for note in phrase.notes:
            if note.family == family:
                sound = instrument.render(note.pitch, note.duration, note.velocity, rng, phrase.seconds - note.onset)
                _add_at(stem, sound, note.onset, sample_rate)
        stems[family] = stem
    if phrase.drums:
        kit = DrumKit(rng, sample_rate)
        stem = np.zeros(length, dtype=np.float32)
        for hit in phrase.hits:
            _add_at(stem, hit.velocity * kit.sounds[hit.drum], hit.onset, sample_rate)
        stems[DRUMS] = stem
    return stems


def _rms(audio: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(audio, dtype=np.float64))))


def produce(stems: dict[str, np.ndarray], sample_rate: int, rng: np.random.Generator, config: SynthConfig | None = None) -> tuple[np.ndarray, dict]:
    """Mix stems and "record" them: balance, EQ colour, room, hiss, hum, peak level.

    Parameters
    ----------
    stems : dict of str to ndarray
        ``(T,)`` dry stems (from :func:`render_phrase`).
    sample_rate : int
    rng : numpy.random.Generator
    config : SynthConfig, optional
        Nuisance ranges.

    Returns
    -------
    audio : ndarray
        ``(T,)`` float32, peak exactly ``10 ** (peak_level_db / 20)``.
    production : dict
        The drawn nuisance values (for analysis; they are not labels).

    Example
    -------
    >>> stems = {"piano": np.sin(np.linspace(0, 2000, 16000)).astype(np.float32)}
    >>> audio, production = produce(stems, 16000, np.random.default_rng(0))
    >>> audio.shape, round(float(np.abs(audio).max()), 4) == round(10 ** (production["peak_level_db"] / 20), 4)
    ((16000,), True)
    """
    config = config or SynthConfig()
    gains = {name: float(rng.uniform(*config.stem_gain_db)) for name in stems}
    mix = sum(10.0 ** (gains[name] / 20.0) * stem for name, stem in stems.items())
    production = {
        "low_shelf_db": float(rng.uniform(*config.eq_gain_db)),
        "low_shelf_hz": float(rng.uniform(*LOW_SHELF_HZ)),
        "peak_db": float(rng.uniform(*config.eq_gain_db)),
        "peak_hz": float(np.exp(rng.uniform(*np.log(PEAK_HZ)))),
        "high_shelf_db": float(rng.uniform(*config.eq_gain_db)),
        "high_shelf_hz": float(min(rng.uniform(*HIGH_SHELF_HZ), NYQUIST_FRACTION * sample_rate / 2.0)),
        "room_size": float(rng.uniform(*config.reverb_room_size)),
        "reverb_wet": float(rng.uniform(*config.reverb_wet)),
        "hiss_snr_db": float(rng.uniform(*config.hiss_snr_db)),
        "hum_hz": float(rng.choice([50.0, 60.0])) if rng.random() < config.hum_probability else 0.0,
        "hum_level_db": float(rng.uniform(*config.hum_level_db)),
        "peak_level_db": float(rng.uniform(*config.peak_level_db)),
    }
    board = pedalboard.Pedalboard([
        pedalboard.LowShelfFilter(cutoff_frequency_hz=production["low_shelf_hz"], gain_db=production["low_shelf_db"]),
        pedalboard.PeakFilter(cutoff_frequency_hz=production["peak_hz"], gain_db=production["peak_db"], q=1.0),
        pedalboard.HighShelfFilter(cutoff_frequency_hz=production["high_shelf_hz"], gain_db=production["high_shelf_db"]),
        pedalboard.Reverb(room_size=production["room_size"], wet_level=production["reverb_wet"], dry_level=1.0, width=0.0),
    ])
    audio = board(np.asarray(mix, dtype=np.float32)[None, :], sample_rate)[0]  # (T,)
    level = _rms(audio)
    if level == 0.0:
        raise ValueError("the mix is silent: the phrase has no audible notes; check SynthConfig")
    audio += np.float32(level * 10.0 ** (-production["hiss_snr_db"] / 20.0)) * rng.standard_normal(audio.size, dtype=np.float32)
    if production["hum_hz"]:
        position = production["hum_hz"] * TABLE_SIZE / sample_rate * np.arange(audio.size)  # (T,)
        hum = sum(_SINE_TABLE[_table_index(harmonic * position)] / harmonic for harmonic in (1, 2, 3))
        audio += level * 10.0 ** (production["hum_level_db"] / 20.0) * hum / _rms(hum)
    audio = audio * (10.0 ** (production["peak_level_db"] / 20.0) / np.abs(audio).max())
    production["stem_gain_db"] = gains
    return audio.astype(np.float32), production


@dataclass(frozen=True, eq=False)
class SynthClip:
    """One generated clip: ``audio`` ``(T,)`` float32 in [-1, 1], its score, its
    recording nuisances and its labels (``{"key", "mode", "instruments", "tempo"}``)."""

    audio: np.ndarray
    sample_rate: int
    phrase: Phrase
    production: dict
    labels: dict[str, str]


def clip_labels(phrase: Phrase) -> dict[str, str]:
    """The label of each label type for a phrase, as manifest ``labels`` cells.

    Example
    -------
    >>> phrase = Phrase("Eb minor", 100.0, "medium", ("piano", "bass"), True, 0, 1.0, (), ())
    >>> clip_labels(phrase)
    {'key': 'Eb minor', 'mode': 'minor', 'instruments': 'bass;drums;piano', 'tempo': 'medium'}
    """
    return {"key": phrase.key, "mode": phrase.mode, "instruments": ";".join(phrase.instruments), "tempo": phrase.tempo_class}


def synthesize_clip(
    seed: int,
    index: int,
    seconds: float = 3.0,
    sample_rate: int = 16000,
    config: SynthConfig | None = None,
    stream: int = 0,
) -> SynthClip:
    """Compose, render and produce clip ``index`` of ``stream`` for ``seed``.

    The clip depends only on ``(seed, stream, index, seconds, sample_rate, config)``.

    Parameters
    ----------
    seed, index : int
        Which clip (non-negative).
    seconds : float
        Clip length.
    sample_rate : int
        Output rate in Hz.
    config : SynthConfig, optional
        What varies between clips.
    stream : int
        Independent families of clips for the same seed (e.g. one per dataset pool).

    Example
    -------
    >>> clip = synthesize_clip(seed=0, index=7, seconds=1.0)
    >>> clip.audio.shape, sorted(clip.labels)
    ((16000,), ['instruments', 'key', 'mode', 'tempo'])
    >>> bool(np.array_equal(clip.audio, synthesize_clip(seed=0, index=7, seconds=1.0).audio))
    True
    """
    compose_rng, render_rng, produce_rng = (
        np.random.default_rng(child) for child in np.random.SeedSequence([seed, stream, index]).spawn(3)
    )
    config = config or SynthConfig()
    phrase = compose_phrase(compose_rng, seconds, config)
    stems = render_phrase(phrase, sample_rate, render_rng)
    audio, production = produce(stems, sample_rate, produce_rng, config)
    return SynthClip(audio, sample_rate, phrase, production, clip_labels(phrase))
