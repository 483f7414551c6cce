"""Robustness corruptions for probe audio (METHOD.md section 8).

Each corruption maps a mono waveform (numpy or torch, ``(T,)``) and its sample rate
to a waveform of the same length, rate, type and float32 dtype, at a severity
S in {0, 1, 2, 3, 4}: S = 0 returns an exact copy, S = 2 is the paper's setting (the
defaults below, the values of ``hparams/augment/corruptions.yaml``, which
``semisupcon robustness`` passes as ``params``), and with
``s = S / 2``:

==============  ==========================================================================
name            what S scales
==============  ==========================================================================
chain           :class:`~semisupcon_recipe.augment.AugmentationChain` at severity S
                (its own scaling rule), drawn from a generator seeded with ``seed``
time_stretch    tempo factor drawn from ``1 ± max_change * s`` (Rubber Band through
                pedalboard, pitch kept), then cropped or zero-padded at the end to length
splice_out      ``round(gaps_per_second * s * duration)`` gaps (at least one), each up to
                ``max_gap_ms`` long, cut out and the rest joined; zeros pad the end
reverb          room size and wet level times s (capped at 1); damping and dry level kept
chorus          depth and mix times s (capped at 1); rate, centre delay, feedback kept
distortion      drive in dB times s (tanh waveshaper)
compression     threshold in dB times s, ratio ``1 + (ratio - 1) * s``
reversal        a random window of ``min(1, s)`` of the clip reversed in place: S >= 2
                reverses the whole clip (the paper's corruption)
bit_crush       quantisation step times s: ``bit_depth - log2(s)`` bits
mp3             LAME VBR re-encoding at ``vbr_quality_by_severity[S - 1]`` (0 best, < 10
                worst), decoded back; pedalboard compensates the codec delay
==============  ==========================================================================

Every call is deterministic given ``seed``; use :func:`item_seed` to give each probe
item its own draw that stays the same across runs and models.
"""

from __future__ import annotations

import functools
import math
import numbers
import zlib
from typing import Callable, Sequence

import numpy as np
import pedalboard
import torch

from semisupcon_recipe.augment import DEFAULT_SEVERITY, MAX_SEVERITY, AugmentationChain

SEVERITIES = tuple(range(MAX_SEVERITY + 1))

Waveform = np.ndarray | torch.Tensor


def item_seed(item_id: str, base_seed: int = 0) -> int:
    """A stable 32-bit seed for one item (same on every run, machine and Python).

    Example
    -------
    >>> item_seed("track_001", 3) == item_seed("track_001", 3) != item_seed("track_002", 3)
    True
    """
    return zlib.crc32(f"{base_seed}:{item_id}".encode("utf-8"))


def _check_severity(severity: int) -> int:
    if isinstance(severity, bool) or not isinstance(severity, numbers.Integral) or severity not in SEVERITIES:
        raise ValueError(f"corruption severity must be an integer in {list(SEVERITIES)}, got {severity!r}")
    return int(severity)


def _corruption(function: Callable[..., np.ndarray]) -> Callable[..., Waveform]:
    """Wrap a numpy corruption with the shared contract.

    The wrapped function checks the input and severity, returns an exact copy at
    severity 0, calls ``function(audio, sample_rate, severity, rng, **params)`` on a
    float32 ``(T,)`` array otherwise, checks the length and converts back to the
    input's type.
    """

    @functools.wraps(function)
    def corruption(
        waveform: Waveform,
        sample_rate: int,
        severity: int = DEFAULT_SEVERITY,
        seed: int = 0,
        **params: object,
    ) -> Waveform:
        severity = _check_severity(severity)
        is_torch = torch.is_tensor(waveform)
        audio = (waveform.detach().cpu().numpy() if is_torch else np.asarray(waveform)).astype(np.float32)
        if audio.ndim != 1 or audio.size == 0:
            raise ValueError(
                f"{function.__name__} expects a non-empty mono waveform of shape (T,), got shape {audio.shape}; "
                "average the channels first (e.g. waveform.mean(axis=0))"
            )
        if sample_rate <= 0:
            raise ValueError(f"sample_rate must be positive, got {sample_rate}")
        if severity == 0:
            corrupted = audio.copy()
        else:
            corrupted = function(audio, int(sample_rate), severity, np.random.default_rng(seed), **params)
            corrupted = np.ascontiguousarray(corrupted, dtype=np.float32)
            if corrupted.shape != audio.shape:
                raise RuntimeError(f"{function.__name__} returned shape {corrupted.shape} for input {audio.shape}")
        return torch.from_numpy(corrupted).to(waveform.device) if is_torch else corrupted

    return corruption


def _fit_length(audio: np.ndarray, length: int) -> np.ndarray:
    """Crop the end, or zero-pad it, to ``length`` samples."""
    if audio.size >= length:
        return audio[:length]
    return np.concatenate([audio, np.zeros(length - audio.size, dtype=audio.dtype)])


def _effect(audio: np.ndarray, sample_rate: int, plugin: pedalboard.Plugin) -> np.ndarray:
    return plugin(audio[np.newaxis], sample_rate)[0]  # (1, T) in and out


def _plugin_corruption(build: Callable[..., pedalboard.Plugin]) -> Callable[..., Waveform]:
    """A corruption that runs the pedalboard plugin ``build(s, **params)`` returns, ``s = S / 2``.

    ``build`` says how the severity scales the plugin's parameters; the result has the
    shared contract of every corruption (see :func:`_corruption`).
    """

    @functools.wraps(build)
    def run_plugin(audio: np.ndarray, sample_rate: int, severity: int, rng: np.random.Generator, **params: object) -> np.ndarray:
        return _effect(audio, sample_rate, build(severity / DEFAULT_SEVERITY, **params))

    return _corruption(run_plugin)


@_corruption
def chain(audio: np.ndarray, sample_rate: int, severity: int, rng: np.random.Generator, **chain_params: object) -> np.ndarray:
    """The training augmentation chain at ``severity`` (keyword arguments override its knobs).

    Example
    -------
    >>> x = np.random.default_rng(0).standard_normal(8000).astype("float32")
    >>> y = chain(x, 16000, 4, seed=1, p_chain=1.0)
    >>> y.shape, y.dtype, bool(np.allclose(y, chain(x, 16000, 4, seed=1, p_chain=1.0)))
    ((8000,), dtype('float32'), True)
    """
    generator = torch.Generator().manual_seed(int(rng.integers(2**63 - 1)))
    augment = AugmentationChain(sample_rate=sample_rate, severity=severity, **chain_params)
    return augment(torch.from_numpy(audio), generator=generator).numpy()


@_corruption
def time_stretch(audio: np.ndarray, sample_rate: int, severity: int, rng: np.random.Generator, max_change: float = 0.3) -> np.ndarray:
    """Change the tempo by a factor drawn from ``1 ± max_change * S / 2``, pitch kept, same length.

    Example
    -------
    >>> x = np.sin(np.arange(16000) / 10.0).astype("float32")
    >>> time_stretch(x, 16000, 2, seed=0).shape
    (16000,)
    """
    spread = max_change * severity / DEFAULT_SEVERITY
    if not 0 <= spread < 1:
        raise ValueError(f"time_stretch needs 0 <= max_change * severity / 2 < 1, got {spread}")
    factor = 1.0 + rng.uniform(-spread, spread)
    stretched = pedalboard.time_stretch(audio[np.newaxis], float(sample_rate), stretch_factor=factor)[0]
    return _fit_length(stretched, audio.size)


@_corruption
def splice_out(
    audio: np.ndarray,
    sample_rate: int,
    severity: int,
    rng: np.random.Generator,
    gaps_per_second: float = 1.0,
    max_gap_ms: float = 100.0,
) -> np.ndarray:
    """Cut out short gaps (count scaled by severity), join the rest, zero-pad the end.

    Example
    -------
    >>> x = np.ones(16000, dtype="float32")
    >>> y = splice_out(x, 16000, 2, seed=0)
    >>> y.shape, bool(y[-1] == 0.0), bool(y[0] == 1.0)
    ((16000,), True, True)
    """
    length = audio.size
    count = max(1, round(gaps_per_second * severity / DEFAULT_SEVERITY * length / sample_rate))
    max_gap = max(1, int(max_gap_ms / 1000.0 * sample_rate))
    starts = rng.integers(0, length, size=count)
    stops = np.minimum(starts + rng.integers(1, max_gap + 1, size=count), length)
    edges = np.zeros(length + 1, dtype=np.int64)  # +1 where a gap opens, -1 where it closes
    np.add.at(edges, starts, 1)
    np.add.at(edges, stops, -1)
    removed = np.cumsum(edges[:length]) > 0  # (T,) inside at least one gap
    return _fit_length(audio[~removed], length)


@_plugin_corruption
def reverb(scale: float, room_size: float = 0.5, damping: float = 0.5, wet_level: float = 0.33, dry_level: float = 0.4) -> pedalboard.Plugin:
    """Algorithmic reverb (pedalboard ``Reverb``); room size and wet level scale with severity.

    Example
    -------
    >>> x = np.zeros(8000, dtype="float32"); x[0] = 1.0
    >>> bool(np.abs(reverb(x, 16000, 2)[4000:]).max() > 0)  # a tail long after the click
    True
    """
    return pedalboard.Reverb(
        room_size=min(1.0, room_size * scale), damping=damping, wet_level=min(1.0, wet_level * scale), dry_level=dry_level
    )


@_plugin_corruption
def chorus(
    scale: float, rate_hz: float = 1.0, depth: float = 0.25, centre_delay_ms: float = 7.0, feedback: float = 0.0, mix: float = 0.5
) -> pedalboard.Plugin:
    """Chorus (pedalboard ``Chorus``); depth and mix scale with severity.

    Example
    -------
    >>> x = np.sin(np.arange(8000) / 7.0).astype("float32")
    >>> chorus(x, 16000, 2).shape
    (8000,)
    """
    return pedalboard.Chorus(
        rate_hz=rate_hz, depth=min(1.0, depth * scale), centre_delay_ms=centre_delay_ms, feedback=feedback, mix=min(1.0, mix * scale)
    )


@_plugin_corruption
def distortion(scale: float, drive_db: float = 9.0) -> pedalboard.Plugin:
    """tanh distortion (pedalboard ``Distortion``) with ``drive_db * S / 2`` dB of drive.

    Example
    -------
    >>> x = np.full(100, 0.5, dtype="float32")
    >>> round(float(distortion(x, 16000, 2)[50]), 4) == round(float(np.tanh(0.5 * 10 ** (9 / 20))), 4)
    True
    """
    return pedalboard.Distortion(drive_db=drive_db * scale)


@_plugin_corruption
def compression(
    scale: float, threshold_db: float = -30.0, ratio: float = 5.0, attack_ms: float = 1.0, release_ms: float = 100.0
) -> pedalboard.Plugin:
    """Dynamic-range compression (pedalboard ``Compressor``); threshold and ratio scale with severity.

    Example
    -------
    >>> x = (0.5 * np.sin(np.arange(16000) / 5.0)).astype("float32")
    >>> bool(np.abs(compression(x, 16000, 2)).max() < 0.5)
    True
    """
    return pedalboard.Compressor(
        threshold_db=threshold_db * scale, ratio=1.0 + (ratio - 1.0) * scale, attack_ms=attack_ms, release_ms=release_ms
    )


@_corruption
def reversal(audio: np.ndarray, sample_rate: int, severity: int, rng: np.random.Generator) -> np.ndarray:
    """Reverse a random window of ``min(1, S / 2)`` of the clip in place (S >= 2: all of it).

    Example
    -------
    >>> reversal(np.arange(4, dtype="float32"), 16000, 2)
    array([3., 2., 1., 0.], dtype=float32)
    """
    window = min(audio.size, math.ceil(audio.size * min(1.0, severity / DEFAULT_SEVERITY)))
    start = int(rng.integers(0, audio.size - window + 1))
    reversed_audio = audio.copy()
    reversed_audio[start : start + window] = audio[start : start + window][::-1]
    return reversed_audio


@_plugin_corruption
def bit_crush(scale: float, bit_depth: float = 4.0) -> pedalboard.Plugin:
    """Quantise to ``bit_depth - log2(S / 2)`` bits (pedalboard ``Bitcrush``: step ``2 ** -bits``).

    Example
    -------
    >>> y = bit_crush(np.linspace(-1, 1, 1000, dtype="float32"), 16000, 2)
    >>> bool(np.allclose(y * 2**4, np.round(y * 2**4))), len(np.unique(y))
    (True, 33)
    """
    return pedalboard.Bitcrush(bit_depth=bit_depth - math.log2(scale))


@_corruption
def mp3(
    audio: np.ndarray,
    sample_rate: int,
    severity: int,
    rng: np.random.Generator,
    vbr_quality_by_severity: Sequence[float] = (6.0, 8.0, 9.0, 9.9),
) -> np.ndarray:
    """MP3 re-encoding at a low VBR quality and decoding back (pedalboard ``MP3Compressor``).

    Sample rates: 8, 11.025, 12, 16, 22.05, 24, 32, 44.1 or 48 kHz.

    Example
    -------
    >>> x = np.sin(np.arange(16000) / 5.0).astype("float32")
    >>> mp3(x, 16000, 2).shape
    (16000,)
    """
    if len(vbr_quality_by_severity) != MAX_SEVERITY:
        raise ValueError(f"vbr_quality_by_severity needs one quality per severity 1..{MAX_SEVERITY}, got {vbr_quality_by_severity!r}")
    quality = float(vbr_quality_by_severity[severity - 1])
    try:
        return _effect(audio, sample_rate, pedalboard.MP3Compressor(vbr_quality=quality))
    except ValueError as error:
        raise ValueError(f"mp3 corruption at {sample_rate} Hz, VBR quality {quality}: {error}") from error


CORRUPTIONS: dict[str, Callable[..., Waveform]] = {
    "chain": chain,
    "time_stretch": time_stretch,
    "splice_out": splice_out,
    "reverb": reverb,
    "chorus": chorus,
    "distortion": distortion,
    "compression": compression,
    "reversal": reversal,
    "bit_crush": bit_crush,
    "mp3": mp3,
}


def corrupt(
    waveform: Waveform,
    sample_rate: int,
    name: str,
    severity: int = DEFAULT_SEVERITY,
    seed: int = 0,
    **params: object,
) -> Waveform:
    """Apply the corruption ``name`` at ``severity``; ``params`` override its defaults.

    Parameters
    ----------
    waveform : numpy.ndarray or torch.Tensor
        ``(T,)`` mono audio.
    sample_rate : int
        Hz; the output has the same rate and length.
    name : str
        A key of :data:`CORRUPTIONS`.
    severity : int
        0 (identity) to 4; 2 is the paper's setting.
    seed : int
        Seeds every random draw (see :func:`item_seed`).

    Returns
    -------
    numpy.ndarray or torch.Tensor
        float32, of the input's type.

    Raises
    ------
    ValueError
        Unknown name, severity outside 0..4, or a waveform that is not mono.

    Example
    -------
    >>> x = np.sin(np.arange(16000) / 5.0).astype("float32")
    >>> corrupt(x, 16000, "reversal", 2)[:3].tolist() == x[::-1][:3].tolist()
    True
    >>> corrupt(x, 16000, "wobble", 2)
    Traceback (most recent call last):
        ...
    ValueError: unknown corruption 'wobble'; choose one of chain, time_stretch, splice_out, reverb, chorus, distortion, compression, reversal, bit_crush, mp3
    """
    if name not in CORRUPTIONS:
        raise ValueError(f"unknown corruption {name!r}; choose one of {', '.join(CORRUPTIONS)}")
    return CORRUPTIONS[name](waveform, sample_rate, severity, seed, **params)
