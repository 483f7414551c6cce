"""The demo's instruments: per-family timbres, a band-limited wavetable / additive
note renderer and a noise-burst drum kit.

:func:`sample_timbre` draws one instrument of a family (piano, organ, guitar, strings,
brass, reed, flute, mallet, bass) as a :class:`Timbre`; :class:`Instrument` plays
notes of it; :class:`DrumKit` draws a kick, a snare and a hi-hat once per clip.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pedalboard

from semisupcon_recipe.demo.score import midi_to_hz

MAX_HARMONICS = 32
HARMONIC_COUNTS = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32)  # band-limited wavetables kept per instrument
TABLE_SIZE = 2048
NYQUIST_FRACTION = 0.9
RELEASE_TIME_CONSTANTS = 4.0
VIBRATO_ONSET_SECONDS = 0.2
DRUM_SECONDS = 0.4
NOISE_BUFFER_SECONDS = 2.0
TWO_PI = 2.0 * math.pi



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
                    tone += amplitude * np.exp(time * np.float32(-ratio / decay)) * SINE_TABLE[table_index(ratio * position)]
            envelope = np.ones(length, dtype=np.float32)
        else:
            harmonics = max((count for count in HARMONIC_COUNTS if count <= limit), default=1)
            attack_table, sustain_table = self._wavetables(harmonics)
            index = table_index(position)  # (T,)
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


def table_index(position: np.ndarray) -> np.ndarray:
    """Wavetable indices of phases given in table steps (float64 for long notes)."""
    return position.astype(np.int64) & (TABLE_SIZE - 1)


def _head(length: int, time_constant: float, rate: int) -> int:
    """Samples until a decay with this time constant has faded (all of them if infinite)."""
    if not math.isfinite(time_constant):
        return length
    return min(length, int(RELEASE_TIME_CONSTANTS * time_constant * rate) + 1)


SINE_TABLE = np.sin(TWO_PI * np.arange(TABLE_SIZE) / TABLE_SIZE).astype(np.float32)  # (TABLE_SIZE,)


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
