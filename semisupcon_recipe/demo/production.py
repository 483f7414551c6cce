"""Production of a demo clip: one dry stem per instrument, then the mix and its "recording".

:func:`render_phrase` plays a :class:`~semisupcon_recipe.demo.score.Phrase` into one
stem per instrument label; :func:`produce` mixes the stems and gives the clip its own
recording nuisances (mix balance, EQ colour, room reverb, hiss, mains hum, peak
level), drawn from :class:`~semisupcon_recipe.demo.synth_config.SynthConfig`.
"""

from __future__ import annotations

import numpy as np
import pedalboard

from semisupcon_recipe.demo.instruments import NYQUIST_FRACTION, SINE_TABLE, TABLE_SIZE, DrumKit, Instrument, sample_timbre, table_index
from semisupcon_recipe.demo.score import Phrase
from semisupcon_recipe.demo.synth_config import DRUMS, SynthConfig

# Corner / centre frequency ranges (Hz) of the recording EQ; gains come from SynthConfig.
LOW_SHELF_HZ, PEAK_HZ, HIGH_SHELF_HZ = (100.0, 400.0), (300.0, 3000.0), (2000.0, 6000.0)


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
    >>> from semisupcon_recipe.demo.score import compose_phrase
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
        hum = sum(SINE_TABLE[table_index(harmonic * position)] / harmonic for harmonic in (1, 2, 3))
        audio += level * 10.0 ** (production["hum_level_db"] / 20.0) * hum / _rms(hum)
    audio = audio * (10.0 ** (production["peak_level_db"] / 20.0) / np.abs(audio).max())
    production["stem_gain_db"] = gains
    return audio.astype(np.float32), production
