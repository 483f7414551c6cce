"""The score of a demo clip: key, chord progression, melody, chords, bass and drum rhythm.

:func:`compose_phrase` draws a key (12 tonics x major/minor), a tempo, 1-4 instrument
families and optional drums, then writes the notes: a chord progression of the key
(the dominant takes the leading tone in minor), a melody of scale steps that lands
on a chord tone at every chord change, an accompaniment (block chords, stabs or
arpeggios), a bass line and a drum pattern, all humanised by a little onset jitter.
With a style (:data:`~semisupcon_recipe.demo.synth_config.STYLES`) the families,
tempo class, accompaniment, bass line and drum groove are drawn from that style's
choices, and its swing delays the off-beat eighths. Pure numpy, deterministic from its
generator.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from semisupcon_recipe.demo.synth_config import DRUM_GROOVES, DRUMS, MODES, STYLES, TONICS, Style, SynthConfig

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
# The drum grooves of a clip without style.
DRUM_PATTERNS = tuple(DRUM_GROOVES[name] for name in ("backbeat", "four_on_the_floor", "half_time", "driving"))

A4_MIDI, A4_HZ = 69, 440.0



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
    style: str | None = None

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


def _chords(rng, slots, mode, tonic_pitch, beat, family, profile: Style | None) -> list[Note]:
    kind = "percussive" if family in PERCUSSIVE_FAMILIES else "sustained"
    options = CHORD_STYLES[kind] if profile is None else profile.accompaniment
    style = options[rng.integers(len(options))]
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


def _bass(rng, slots, mode, tonic_pitch, beat, family, profile: Style | None) -> list[Note]:
    options = BASS_STYLES if profile is None else profile.bass_lines
    style = options[rng.integers(len(options))]
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


def _drum_hits(rng, beat, seconds, profile: Style | None) -> list[DrumHit]:
    patterns = DRUM_PATTERNS if profile is None else tuple(DRUM_GROOVES[name] for name in profile.drum_grooves)
    pattern = patterns[rng.integers(len(patterns))]
    step = beat / STEPS_PER_BEAT
    bars = math.ceil(seconds / (STEPS_PER_BAR * step))
    hits = []
    for bar in range(bars):
        for drum, steps in pattern.items():
            for index in steps:
                hits.append(DrumHit((bar * STEPS_PER_BAR + index) * step, drum, rng.uniform(0.6, 1.0)))
    return hits


def swung(onset: float, beat: float, swing: float) -> float:
    """Delay an onset on an off-beat eighth by ``swing`` eighths; other onsets stay.

    Example
    -------
    >>> swung(0.25, 0.5, 1 / 3) == 0.25 + 0.25 / 3, swung(0.5, 0.5, 1 / 3), swung(0.125, 0.5, 1 / 3)
    (True, 0.5, 0.125)
    """
    eighths = onset / (beat / 2.0)
    nearest = round(eighths)
    if abs(eighths - nearest) < 1e-6 and nearest % 2 == 1:
        return onset + swing * beat / 2.0
    return onset


def compose_phrase(rng: np.random.Generator, seconds: float, config: SynthConfig | None = None, style: str | None = None) -> Phrase:
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
    style : str, optional
        A style of :data:`~semisupcon_recipe.demo.synth_config.STYLES`; pass
        ``STYLES[style].apply(config)`` as ``config`` too, for its harmonic rhythm,
        drums chance and timing. None: the style-free draw.

    Returns
    -------
    Phrase

    Example
    -------
    >>> from semisupcon_recipe.demo.synth_config import KEY_NAMES
    >>> phrase = compose_phrase(np.random.default_rng(3), 3.0)
    >>> phrase.key in KEY_NAMES, phrase.tempo_class in ("slow", "medium", "fast")
    (True, True)
    >>> {note.family for note in phrase.notes} == set(phrase.families)
    True
    >>> compose_phrase(np.random.default_rng(3), 3.0, style="jazz").style
    'jazz'
    """
    config = config or SynthConfig()
    profile = STYLES[style] if style is not None else None
    tonic = int(rng.integers(len(TONICS)))
    mode = MODES[rng.integers(len(MODES))]
    if profile is None:
        tempo_class, low_bpm, high_bpm = config.tempo_classes[rng.integers(len(config.tempo_classes))]
    else:
        chances = profile.tempo_probabilities(config.tempo_classes)
        tempo_class, low_bpm, high_bpm = config.tempo_classes[rng.choice(len(config.tempo_classes), p=chances)]
    tempo = float(rng.uniform(low_bpm, high_bpm))
    low, high = config.instruments_per_clip
    count = int(rng.integers(low, high + 1))
    chances = None if profile is None else profile.family_probabilities(config.families)
    families = tuple(str(name) for name in rng.choice(config.families, size=count, replace=False, p=chances))
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
            notes += _chords(rng, slots, mode, chord_pitch, beat, family, profile)
    if "bass" in families:
        notes += _bass(rng, slots, mode, _tonic_pitch(tonic, ROLE_REGISTERS["bass"]), beat, "bass", profile)
    hits = _drum_hits(rng, beat, seconds, profile) if drums else []
    if profile is not None and profile.swing:
        notes = [Note(swung(note.onset, beat, profile.swing), note.duration, note.pitch, note.velocity, note.family) for note in notes]
        hits = [DrumHit(swung(hit.onset, beat, profile.swing), hit.drum, hit.velocity) for hit in hits]

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
        style=style,
    )
