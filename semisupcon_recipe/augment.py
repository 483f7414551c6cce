"""The training augmentation chain of SemiSupCon (METHOD.md section 7), batched in torch.

This module draws each row's parameters and applies the transforms in order; the
signal processing itself is in :mod:`semisupcon_recipe.augment_dsp` and
:mod:`semisupcon_recipe.augment_pitch` (the pitch shift).

:class:`AugmentationChain` takes a batch of views ``(B, T)`` (or one view ``(T,)``) and
returns the same shape. Every row draws its own parameters: the whole chain is applied
to a row with probability ``p_chain``, then each transform with its own probability, in
this order (the paper's CLMR / torch-audiomentations chain):

1. gain, ``gain_db`` dB drawn uniformly;
2. polarity inversion;
3. coloured noise at ``noise_snr_db`` dB SNR, power spectral density ``∝ f^-decay`` with
   the decay drawn from ``noise_decay`` (0 white, 1 pink, 2 brown, negative = blue/violet);
4. one filter drawn uniformly from low-pass, high-pass, band-pass, band-stop. Cutoffs and
   band centres are drawn uniformly on the mel scale (as torch-audiomentations does); a
   band spans ``centre * (1 ± width_fraction / 2)``. Filters are zero-phase Butterworth
   magnitude responses of order ``filter_order`` applied as FFT-domain masks on a
   zero-padded signal (no wrap-around), so every row can have its own cutoff in one
   batched FFT;
5. pitch shift by ``pitch_semitones`` drawn uniformly (continuous; torch-audiomentations
   draws from a discrete set of "fast" ratios), tempo and length preserved: a batched
   phase vocoder (one time step per row) slows each view down by the pitch ratio and
   band-limits it in the same STFT, then cubic interpolation reads it back at the
   original length (a speed change alone would also change the tempo by up to 26 %);
6. delay: ``1 + E`` copies summed, echo ``k`` (``k = 1..E``, ``E`` drawn from
   ``delay_echoes``) delayed by ``k`` times a lag drawn from ``delay_ms`` and scaled by
   ``delay_echo_gain ** k``; the mix is multiplied by ``delay_output_gain`` ("output
   halved": with 0.5 echoes and three of them the peak never exceeds the input's).

Severity
--------
``severity`` S in [0, 4] scales the chain with ``s = S / 2``, so S = 2 applies the
constructor values unchanged and S = 0 is the identity (the output equals the input
exactly):

- every probability (``p_chain`` and each transform's ``*_p``) becomes ``min(1, p * s)``;
- every magnitude with a neutral value is multiplied by ``s``: the gain range in dB, the
  noise amplitude (the SNR range moves by ``-20 log10(s)`` dB), the noise decay range
  (neutral: white), the semitone range and the echo gain (capped at 1: an echo is never
  louder than its source);
- where the transform acts (filter cutoffs, band centres and widths, delay lags and echo
  counts) and the output gain of the delay are not scaled.

Randomness
----------
All draws use ``generator`` when one is passed to :meth:`AugmentationChain.forward`,
otherwise torch's global RNG on the waveforms' device. The global RNG is the right
choice in data-loader workers (PyTorch seeds every worker differently, and
``torch.manual_seed`` makes a run repeatable); a chain holding its own seeded generator
would repeat the same draws in every worker. Pass a generator for a fixed draw
(:mod:`semisupcon_recipe.corruptions` does).

Loops: the code loops over the echoes of the delay (at most ``delay_echoes[1]``) and
over transforms; never over samples or over the batch.

Where to run it
---------------
Batched on the training GPU (``bench/augment_bench.py``, H100, T = 59,049 at 22,050 Hz):
about 2,700 views/s at B = 32 and 11,000 views/s at B = 192 (17 ms for a 96-clip,
2-view batch), against about 80 views/s per CPU core in data-loader workers, where
the phase vocoder of the pitch shift takes most of the time. On CPU, one view at a
time and batched cost about the same (0.7x to 2x either way, depending on load).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, fields
from typing import Callable, Sequence

import torch

from semisupcon_recipe.augment_dsp import (
    FILTER_KINDS,
    add_coloured_noise,
    add_echoes,
    apply_frequency_response,
    apply_gain,
    draw_device,
    filter_response,
    hz_to_mel,
    mel_to_hz,
)
from semisupcon_recipe.augment_pitch import pitch_shift

MAX_SEVERITY = 4
DEFAULT_SEVERITY = 2
# How severity acts on each knob (module docstring, "Severity"); one table per rule.
PROBABILITY_KNOBS = ("p_chain", "gain_p", "polarity_p", "noise_p", "filter_p", "pitch_p", "delay_p")  # min(1, p * s)
SCALED_RANGE_KNOBS = ("gain_db", "noise_decay", "pitch_semitones")  # (low * s, high * s)
FIXED_RANGE_KNOBS = ("lowpass_cutoff_hz", "highpass_cutoff_hz", "band_centre_hz", "band_width_fraction", "delay_ms")  # positive, unscaled


def severity_scale(severity: float) -> float:
    """Return ``s = severity / DEFAULT_SEVERITY`` after checking ``0 <= severity <= 4``.

    Example
    -------
    >>> severity_scale(2), severity_scale(0), severity_scale(4)
    (1.0, 0.0, 2.0)
    """
    if isinstance(severity, bool) or not isinstance(severity, numbers.Real) or not 0 <= severity <= MAX_SEVERITY:
        raise ValueError(f"severity must be a number in [0, {MAX_SEVERITY}], got {severity!r}")
    return float(severity) / DEFAULT_SEVERITY


@dataclass
class ChainParameters:
    """Per-row draws of one pass of the chain; every tensor has ``B`` rows.

    A ``*_applied`` mask is already combined with ``chain_applied``.
    """

    chain_applied: torch.Tensor  # (B,) bool
    gain_applied: torch.Tensor  # (B,) bool
    gain_db: torch.Tensor  # (B,)
    polarity_applied: torch.Tensor  # (B,) bool
    noise_applied: torch.Tensor  # (B,) bool
    noise_snr_db: torch.Tensor  # (B,)
    noise_decay: torch.Tensor  # (B,)
    filter_applied: torch.Tensor  # (B,) bool
    filter_kind: torch.Tensor  # (B,) long, index into FILTER_KINDS
    filter_cutoff_hz: torch.Tensor  # (B,) low-pass / high-pass cutoff
    filter_band_hz: torch.Tensor  # (B, 2) band-pass / band-stop edges
    pitch_applied: torch.Tensor  # (B,) bool
    pitch_semitones: torch.Tensor  # (B,)
    delay_applied: torch.Tensor  # (B,) bool
    delay_samples: torch.Tensor  # (B,) long
    delay_echoes: torch.Tensor  # (B,) long

    def rows(self, index: torch.Tensor) -> "ChainParameters":
        """The parameters of the rows in ``index`` ``(R,)``."""
        return ChainParameters(**{item.name: getattr(self, item.name)[index] for item in fields(self)})


def _uniform(low: float, high: float, size: int, generator: torch.Generator | None, device: torch.device) -> torch.Tensor:
    return (low + (high - low) * torch.rand(size, generator=generator, device=draw_device(generator, device))).to(device)


def _randint(low: int, high: int, size: int, generator: torch.Generator | None, device: torch.device) -> torch.Tensor:
    return torch.randint(low, high + 1, (size,), generator=generator, device=draw_device(generator, device)).to(device)


def _check_probability(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be a probability in [0, 1], got {value}")


def _check_range(name: str, values: Sequence[float], positive: bool = False) -> tuple[float, float]:
    if len(values) != 2 or values[0] > values[1]:
        raise ValueError(f"{name} must be a [low, high] pair with low <= high, got {values!r}")
    if positive and values[0] <= 0:
        raise ValueError(f"{name} must be positive, got {values!r}")
    return float(values[0]), float(values[1])


def _whole_range(name: str, values: Sequence[int]) -> tuple[int, int]:
    low, high = _check_range(name, values, positive=True)
    if low != int(low) or high != int(high):
        raise ValueError(f"{name} must be whole numbers, got {values!r}")
    return int(low), int(high)


class AugmentationChain(torch.nn.Module):
    """SemiSupCon's per-view augmentation chain (see the module docstring).

    Every argument is a knob of the method; ``hparams/augment/train_chain.yaml`` holds
    the paper's values (equal to these defaults). Probabilities and magnitudes are the
    values at the default severity 2 and are scaled by ``severity`` as the module
    docstring states.

    Parameters
    ----------
    sample_rate : int
        Rate of the views in Hz.
    severity : float
        In [0, 4]; 2 = the values below, 0 = identity.
    p_chain : float
        Probability that a row goes through the chain at all.
    gain_p, gain_db : float, (float, float)
        Gain probability and dB range.
    polarity_p : float
        Polarity-inversion probability.
    noise_p, noise_snr_db, noise_decay : float, (float, float), (float, float)
        Coloured-noise probability, SNR range in dB and power-law exponent range.
    filter_p : float
        Probability of one filter (kind drawn uniformly from :data:`FILTER_KINDS`).
    lowpass_cutoff_hz, highpass_cutoff_hz, band_centre_hz : (float, float)
        Cutoff / centre ranges in Hz (drawn uniformly on the mel scale).
    band_width_fraction : (float, float)
        Band width as a fraction of the centre (band = centre * (1 ± fraction / 2)).
    filter_order : int
        Butterworth order of the filter masks.
    pitch_p, pitch_semitones : float, (float, float)
        Pitch-shift probability and semitone range.
    pitch_n_fft, pitch_hop_length : int
        STFT of the phase vocoder.
    pitch_antialias_order : int
        Butterworth order of the anti-aliasing mask before speeding a row up.
    delay_p, delay_ms, delay_echoes : float, (float, float), (int, int)
        Delay probability, lag range in ms and range of the number of echoes.
    delay_echo_gain, delay_output_gain : float
        Gain of the first echo (echo ``k`` gets its ``k``-th power) and of the whole mix.

    Example
    -------
    >>> chain = AugmentationChain(sample_rate=16000)
    >>> views = torch.randn(4, 16000)
    >>> chain(views, generator=torch.Generator().manual_seed(0)).shape
    torch.Size([4, 16000])
    >>> torch.equal(AugmentationChain(16000, severity=0)(views), views)
    True
    """

    def __init__(
        self,
        sample_rate: int,
        severity: float = DEFAULT_SEVERITY,
        p_chain: float = 0.8,
        gain_p: float = 0.4,
        gain_db: Sequence[float] = (-15.0, 5.0),
        polarity_p: float = 0.6,
        noise_p: float = 0.6,
        noise_snr_db: Sequence[float] = (3.0, 30.0),
        noise_decay: Sequence[float] = (-2.0, 2.0),
        filter_p: float = 0.3,
        lowpass_cutoff_hz: Sequence[float] = (150.0, 7500.0),
        highpass_cutoff_hz: Sequence[float] = (200.0, 2400.0),
        band_centre_hz: Sequence[float] = (200.0, 4000.0),
        band_width_fraction: Sequence[float] = (0.5, 1.99),
        filter_order: int = 4,
        pitch_p: float = 0.6,
        pitch_semitones: Sequence[float] = (-4.0, 4.0),
        pitch_n_fft: int = 1024,
        pitch_hop_length: int = 256,
        pitch_antialias_order: int = 32,
        delay_p: float = 0.6,
        delay_ms: Sequence[float] = (100.0, 500.0),
        delay_echoes: Sequence[int] = (1, 3),
        delay_echo_gain: float = 0.5,
        delay_output_gain: float = 0.5,
    ) -> None:
        super().__init__()
        if sample_rate <= 0:
            raise ValueError(f"sample_rate must be positive, got {sample_rate}")
        scale = severity_scale(severity)
        self.sample_rate, self.severity = int(sample_rate), severity
        knobs = dict(
            p_chain=p_chain, gain_p=gain_p, polarity_p=polarity_p, noise_p=noise_p, filter_p=filter_p, pitch_p=pitch_p,
            delay_p=delay_p, gain_db=gain_db, noise_decay=noise_decay, pitch_semitones=pitch_semitones,
            lowpass_cutoff_hz=lowpass_cutoff_hz, highpass_cutoff_hz=highpass_cutoff_hz, band_centre_hz=band_centre_hz,
            band_width_fraction=band_width_fraction, delay_ms=delay_ms,
        )  # fmt: skip
        for name in PROBABILITY_KNOBS:
            _check_probability(name, knobs[name])
            setattr(self, name, min(1.0, knobs[name] * scale))
        for name in SCALED_RANGE_KNOBS:
            setattr(self, name, tuple(scale * value for value in _check_range(name, knobs[name])))
        for name in FIXED_RANGE_KNOBS:
            setattr(self, name, _check_range(name, knobs[name], positive=True))
        low, high = _check_range("noise_snr_db", noise_snr_db)
        snr_shift = -20.0 * math.log10(scale) if scale > 0 else math.inf  # the noise amplitude scales by s
        self.noise_snr_db = (low + snr_shift, high + snr_shift)
        self.delay_echoes = _whole_range("delay_echoes", delay_echoes)
        self.delay_echo_gain = min(1.0, float(delay_echo_gain) * scale)
        self.delay_output_gain = float(delay_output_gain)
        if pitch_hop_length <= 0 or pitch_n_fft < pitch_hop_length:
            raise ValueError(f"need 0 < pitch_hop_length <= pitch_n_fft, got {pitch_hop_length}, {pitch_n_fft}")
        if filter_order < 1 or pitch_antialias_order < 1:
            raise ValueError(f"filter orders must be >= 1, got {filter_order}, {pitch_antialias_order}")
        self.filter_order, self.pitch_antialias_order = int(filter_order), int(pitch_antialias_order)
        self.pitch_n_fft, self.pitch_hop_length = int(pitch_n_fft), int(pitch_hop_length)

    def extra_repr(self) -> str:
        return (
            f"sample_rate={self.sample_rate}, severity={self.severity}, p_chain={self.p_chain}, "
            f"gain_p={self.gain_p}, polarity_p={self.polarity_p}, noise_p={self.noise_p}, "
            f"filter_p={self.filter_p}, pitch_p={self.pitch_p}, delay_p={self.delay_p}"
        )

    def sample_parameters(
        self,
        batch_size: int,
        generator: torch.Generator | None = None,
        device: torch.device | str = "cpu",
    ) -> ChainParameters:
        """Draw every row's parameters (always the same draws in the same order).

        Example
        -------
        >>> chain = AugmentationChain(22050)
        >>> params = chain.sample_parameters(5, torch.Generator().manual_seed(0))
        >>> params.gain_db.shape, params.filter_band_hz.shape
        (torch.Size([5]), torch.Size([5, 2]))
        """
        device = torch.device(device)

        def uniform(low: float, high: float) -> torch.Tensor:
            return _uniform(low, high, batch_size, generator, device)

        def happens(probability: float) -> torch.Tensor:
            return uniform(0.0, 1.0) < probability

        def mel_uniform(low_hz: float, high_hz: float) -> torch.Tensor:
            low, high = hz_to_mel(torch.tensor([low_hz, high_hz], dtype=torch.float64)).tolist()
            return mel_to_hz(uniform(low, high))

        chain = happens(self.p_chain)
        gain, gain_db = chain & happens(self.gain_p), uniform(*self.gain_db)
        polarity = chain & happens(self.polarity_p)
        noise, snr_db, decay = chain & happens(self.noise_p), uniform(*self.noise_snr_db), uniform(*self.noise_decay)
        filtered = chain & happens(self.filter_p)
        kind = _randint(0, len(FILTER_KINDS) - 1, batch_size, generator, device)
        lowpass_cutoff, highpass_cutoff = mel_uniform(*self.lowpass_cutoff_hz), mel_uniform(*self.highpass_cutoff_hz)
        centre, width = mel_uniform(*self.band_centre_hz), uniform(*self.band_width_fraction)
        cutoff = torch.where(kind == FILTER_KINDS.index("lowpass"), lowpass_cutoff, highpass_cutoff)
        band = torch.stack([centre * (1.0 - width / 2.0), centre * (1.0 + width / 2.0)], dim=1)  # (B, 2)
        pitch, semitones = chain & happens(self.pitch_p), uniform(*self.pitch_semitones)
        delay, delay_ms = chain & happens(self.delay_p), uniform(*self.delay_ms)
        echoes = _randint(*self.delay_echoes, batch_size, generator, device)
        return ChainParameters(
            chain_applied=chain,
            gain_applied=gain,
            gain_db=gain_db,
            polarity_applied=polarity,
            noise_applied=noise,
            noise_snr_db=snr_db,
            noise_decay=decay,
            filter_applied=filtered,
            filter_kind=kind,
            filter_cutoff_hz=cutoff,
            filter_band_hz=band,
            pitch_applied=pitch,
            pitch_semitones=semitones,
            delay_applied=delay,
            delay_samples=torch.round(delay_ms * self.sample_rate / 1000.0).long(),
            delay_echoes=echoes,
        )

    def apply(
        self,
        waveforms: torch.Tensor,
        parameters: ChainParameters,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Apply drawn ``parameters`` to ``(B, T)`` views (``generator`` feeds the noise).

        Each transform runs on the rows that draw it only; other rows are copied
        untouched.

        Example
        -------
        >>> chain = AugmentationChain(16000, polarity_p=1.0, p_chain=1.0)
        >>> views = torch.randn(3, 800)
        >>> params = chain.sample_parameters(3, torch.Generator().manual_seed(1))
        >>> out = chain.apply(views, params)
        >>> out.shape
        torch.Size([3, 800])
        """
        output = waveforms.clone()
        steps: list[tuple[torch.Tensor, Callable[[torch.Tensor, ChainParameters], torch.Tensor]]] = [
            (parameters.gain_applied, lambda x, p: apply_gain(x, p.gain_db)),
            (parameters.polarity_applied, lambda x, p: -x),
            (parameters.noise_applied, lambda x, p: add_coloured_noise(x, p.noise_snr_db, p.noise_decay, generator)),
            (
                parameters.filter_applied,
                lambda x, p: apply_frequency_response(
                    x,
                    lambda f: filter_response(f, p.filter_kind, p.filter_cutoff_hz, p.filter_band_hz, self.filter_order),
                    self.sample_rate,
                ),
            ),
            (
                parameters.pitch_applied,
                lambda x, p: pitch_shift(x, p.pitch_semitones, self.pitch_n_fft, self.pitch_hop_length, self.pitch_antialias_order),
            ),
            (
                parameters.delay_applied,
                lambda x, p: add_echoes(x, p.delay_samples, p.delay_echoes, self.delay_echo_gain, self.delay_output_gain),
            ),
        ]
        for applied, transform in steps:
            rows = applied.nonzero().squeeze(1)  # (R,)
            if rows.numel() > 0:
                output[rows] = transform(output[rows], parameters.rows(rows)).to(output.dtype)
        return output

    def forward(self, waveforms: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Augment ``(B, T)`` views (or one ``(T,)`` view); same shape and dtype out.

        Parameters
        ----------
        waveforms : torch.Tensor
            Floating-point views at ``sample_rate``; half and bfloat16 views are
            processed in float32 (the FFTs need it) and cast back.
        generator : torch.Generator, optional
            Source of every draw; torch's global RNG on the views' device when omitted.
        """
        if not torch.is_tensor(waveforms) or not waveforms.is_floating_point() or waveforms.ndim not in (1, 2):
            raise ValueError(
                "AugmentationChain expects a float tensor of shape (B, T) or (T,), got "
                f"{type(waveforms).__name__} {getattr(waveforms, 'shape', '')} {getattr(waveforms, 'dtype', '')}; "
                "convert with torch.as_tensor(x, dtype=torch.float32)"
            )
        single = waveforms.ndim == 1
        batch = waveforms.unsqueeze(0) if single else waveforms  # (B, T)
        if self.p_chain == 0.0:
            output = batch.clone()
        else:
            parameters = self.sample_parameters(batch.shape[0], generator, batch.device)
            working = batch if batch.dtype in (torch.float32, torch.float64) else batch.float()
            output = self.apply(working, parameters, generator).to(batch.dtype)
        return output.squeeze(0) if single else output
