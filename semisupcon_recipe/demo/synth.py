"""Labeled music from pure numpy synthesis: keys, instrument families, tempo, optional style.

A clip is a short piece in one of 24 keys (12 tonics x major/minor): a chord
progression of that key with a melody, an accompaniment and a bass line drawn from
its scale, at a tempo, played by 1-4 synthetic instruments (families: the multi-label
target) with optional drums. On top of the music, every clip gets its own "recording":
mix balance, EQ colour, room reverb, hiss, mains hum and peak level. Those nuisances
are constant within a clip, so a contrastive model trained only to match two crops of
the same clip can latch onto them; the labels are what tells it to care about key and
instrumentation instead. With ``SynthConfig(styles=...)`` every clip also draws a style
(ballad, rock, electronic, jazz, folk) that shapes arrangement, rhythm and room at once.

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
from semisupcon_recipe.demo.synth_config import STYLES, SynthConfig


@dataclass(frozen=True, eq=False)
class SynthClip:
    """One generated clip: ``audio`` ``(T,)`` float32 in [-1, 1], its score, its
    recording nuisances and its labels (``{"key", "mode", "instruments", "tempo"}``,
    plus ``"style"`` when the config draws styles)."""

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
    >>> clip_labels(Phrase("C major", 120.0, "medium", ("guitar",), False, 0, 1.0, (), (), "folk"))["style"]
    'folk'
    """
    labels = {"key": phrase.key, "mode": phrase.mode, "instruments": ";".join(phrase.instruments), "tempo": phrase.tempo_class}
    if phrase.style is not None:
        labels["style"] = phrase.style
    return labels


def clip_random_streams(seed: int, stream: int, index: int) -> tuple[np.random.Generator, ...]:
    """The four independent generators of one clip: compose, render, produce, style.

    The first three are the children a style-free clip has always used; the style has
    the fourth, so drawing a style never shifts another random choice.

    Example
    -------
    >>> compose, render, produce, style = clip_random_streams(seed=0, stream=0, index=7)
    >>> reference = np.random.default_rng(np.random.SeedSequence([0, 0, 7]).spawn(3)[0])
    >>> int(compose.integers(1000)) == int(reference.integers(1000))
    True
    """
    return tuple(np.random.default_rng(child) for child in np.random.SeedSequence([seed, stream, index]).spawn(4))


def draw_style(rng: np.random.Generator, config: SynthConfig) -> str | None:
    """One of ``config.styles``, uniformly; None when the config draws no style.

    Example
    -------
    >>> draw_style(np.random.default_rng(0), SynthConfig(styles=("rock", "folk"))) in ("rock", "folk")
    True
    >>> draw_style(np.random.default_rng(0), SynthConfig()) is None
    True
    """
    if not config.styles:
        return None
    return config.styles[rng.integers(len(config.styles))]


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
    The style (when ``config.styles`` is set) comes from a fourth random stream of its
    own, so the style-free draw is exactly what it was before styles existed.

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
    >>> synthesize_clip(seed=0, index=7, seconds=1.0, config=SynthConfig(styles=("rock", "jazz"))).labels["style"]
    'jazz'
    """
    compose_rng, render_rng, produce_rng, style_rng = clip_random_streams(seed, stream, index)
    config = config or SynthConfig()
    style = draw_style(style_rng, config)
    if style is not None:
        config = STYLES[style].apply(config)
    phrase = compose_phrase(compose_rng, seconds, config, style)
    stems = render_phrase(phrase, sample_rate, render_rng)
    audio, production = produce(stems, sample_rate, produce_rng, config)
    return SynthClip(audio, sample_rate, phrase, production, clip_labels(phrase))
