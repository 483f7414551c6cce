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

Pieces, in the order a clip is made, one module each: :mod:`.synth_config` (the
label vocabularies and :class:`SynthConfig`), :mod:`.score` (:func:`compose_phrase`:
keys, chords, melody, rhythm), :mod:`.instruments` (:func:`sample_timbre`,
:class:`Instrument`, :class:`DrumKit`: the voices), :mod:`.production`
(:func:`render_phrase`: one stem per instrument label; :func:`produce`: mix and
recording); this module puts them together (:func:`synthesize_clip`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from semisupcon_recipe.demo.production import produce, render_phrase
from semisupcon_recipe.demo.score import Phrase, compose_phrase
from semisupcon_recipe.demo.synth_config import SynthConfig


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
