"""The training augmentation chain of SemiSupCon (METHOD.md section 7), batched in torch.

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

MAX_SEVERITY = 4
DEFAULT_SEVERITY = 2
FILTER_KINDS = ("lowpass", "highpass", "bandpass", "bandstop")


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


def hz_to_mel(hz: torch.Tensor) -> torch.Tensor:
    """HTK mel scale, as torch-audiomentations uses to draw cutoffs.

    Example
    -------
    >>> round(float(hz_to_mel(torch.tensor(1000.0))), 1)
    1000.0
    """
    return 2595.0 * torch.log10(1.0 + hz / 700.0)


def mel_to_hz(mel: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`hz_to_mel`.

    Example
    -------
    >>> round(float(mel_to_hz(hz_to_mel(torch.tensor(440.0)))), 3)
    440.0
    """
    return 700.0 * (10.0 ** (mel / 2595.0) - 1.0)


def apply_gain(waveforms: torch.Tensor, gain_db: torch.Tensor) -> torch.Tensor:
    """Multiply each row of ``(B, T)`` by ``10 ** (gain_db / 20)``, ``gain_db`` ``(B,)``.

    Example
    -------
    >>> apply_gain(torch.ones(2, 3), torch.tensor([0.0, -20.0]))
    tensor([[1.0000, 1.0000, 1.0000],
            [0.1000, 0.1000, 0.1000]])
    """
    return waveforms * (10.0 ** (gain_db / 20.0)).unsqueeze(1)


def _rfft_frequencies(n_fft: int, sample_rate: float, device: torch.device) -> torch.Tensor:
    return torch.fft.rfftfreq(n_fft, d=1.0 / sample_rate, device=device)  # (F,)


def _butterworth_pair(frequencies: torch.Tensor, cutoff_hz: torch.Tensor, order: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Low-pass and high-pass Butterworth magnitudes ``(B, F)`` sharing one ratio power."""
    ratio_power = (frequencies.unsqueeze(0) / cutoff_hz.unsqueeze(1)) ** order  # (B, F): (f / fc)^n
    lowpass = torch.rsqrt(1.0 + ratio_power * ratio_power)  # 1 / sqrt(1 + (f / fc)^2n)
    return lowpass, ratio_power * lowpass  # high-pass: (f / fc)^n / sqrt(1 + (f / fc)^2n)


def lowpass_response(frequencies: torch.Tensor, cutoff_hz: torch.Tensor, order: int) -> torch.Tensor:
    """Butterworth low-pass magnitude ``1 / sqrt(1 + (f / fc) ** (2 order))``.

    ``frequencies`` ``(F,)``, ``cutoff_hz`` ``(B,)``; returns ``(B, F)``.

    Example
    -------
    >>> lowpass_response(torch.tensor([0.0, 100.0]), torch.tensor([100.0]), 4)
    tensor([[1.0000, 0.7071]])
    """
    return _butterworth_pair(frequencies, cutoff_hz, order)[0]


def highpass_response(frequencies: torch.Tensor, cutoff_hz: torch.Tensor, order: int) -> torch.Tensor:
    """Butterworth high-pass magnitude ``1 / sqrt(1 + (fc / f) ** (2 order))`` (0 at DC).

    ``frequencies`` ``(F,)``, ``cutoff_hz`` ``(B,)``; returns ``(B, F)``.

    Example
    -------
    >>> highpass_response(torch.tensor([0.0, 100.0]), torch.tensor([100.0]), 4)
    tensor([[0.0000, 0.7071]])
    """
    return _butterworth_pair(frequencies, cutoff_hz, order)[1]


def filter_response(
    frequencies: torch.Tensor,
    kind: torch.Tensor,
    cutoff_hz: torch.Tensor,
    band_hz: torch.Tensor,
    order: int,
) -> torch.Tensor:
    """Per-row magnitude response of the chain's filters.

    Parameters
    ----------
    frequencies : torch.Tensor
        ``(F,)`` frequencies in Hz.
    kind : torch.Tensor
        ``(B,)`` integer index into :data:`FILTER_KINDS`.
    cutoff_hz : torch.Tensor
        ``(B,)`` cutoff of the low-pass / high-pass rows.
    band_hz : torch.Tensor
        ``(B, 2)`` lower and upper edge of the band-pass / band-stop rows.
    order : int
        Butterworth order (6 dB per octave per order).

    Returns
    -------
    torch.Tensor
        ``(B, F)`` magnitudes in [0, 1]; band-pass is a high-pass at the lower edge times
        a low-pass at the upper edge, band-stop is one minus the band-pass.

    Example
    -------
    >>> f = torch.tensor([100.0, 1000.0, 10000.0])
    >>> response = filter_response(f, torch.tensor([0, 1, 2, 3]), torch.full((4,), 1000.0),
    ...                            torch.tensor([[500.0, 2000.0]] * 4), order=4)
    >>> (response > 0.5).int()
    tensor([[1, 1, 0],
            [0, 1, 1],
            [0, 1, 0],
            [1, 0, 1]], dtype=torch.int32)
    """
    kind = kind.unsqueeze(1)  # (B, 1)
    is_shelf = kind < FILTER_KINDS.index("bandpass")  # low-pass / high-pass rows use the cutoff
    lower_edge = torch.where(is_shelf.squeeze(1), cutoff_hz, band_hz[:, 0])  # (B,)
    lowpass, highpass = _butterworth_pair(frequencies, lower_edge, order)  # (B, F)
    bandpass = highpass * _butterworth_pair(frequencies, band_hz[:, 1], order)[0]  # (B, F)
    shelf = torch.where(kind == FILTER_KINDS.index("lowpass"), lowpass, highpass)
    band = torch.where(kind == FILTER_KINDS.index("bandpass"), bandpass, 1.0 - bandpass)
    return torch.where(is_shelf, shelf, band)  # (B, F)


def apply_frequency_response(waveforms: torch.Tensor, response: Callable[[torch.Tensor], torch.Tensor], sample_rate: float) -> torch.Tensor:
    """Filter ``(B, T)`` by a zero-phase magnitude response in the FFT domain.

    The signal is zero-padded to twice its length so the two-sided impulse response
    does not wrap around onto the other end of the view.

    Parameters
    ----------
    waveforms : torch.Tensor
        ``(B, T)``.
    response : callable
        Maps frequencies ``(F,)`` in Hz to magnitudes ``(B, F)``.
    sample_rate : float
        Hz.

    Example
    -------
    >>> x = torch.randn(2, 1000)
    >>> y = apply_frequency_response(x, lambda f: torch.ones(2, f.numel()), 16000)
    >>> torch.allclose(x, y, atol=1e-5)
    True
    """
    length = waveforms.shape[-1]
    n_fft = 2 * length
    spectrum = torch.fft.rfft(waveforms, n=n_fft)  # (B, F)
    gains = response(_rfft_frequencies(n_fft, sample_rate, waveforms.device)).to(waveforms.dtype)  # (B, F)
    return torch.fft.irfft(spectrum * gains, n=n_fft)[..., :length]  # (B, T)


def coloured_noise(
    shape: tuple[int, int],
    decay: torch.Tensor,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Unit-RMS noise rows whose power spectral density falls as ``f ** -decay``.

    Parameters
    ----------
    shape : (B, T)
    decay : torch.Tensor
        ``(B,)`` power-law exponent per row (0 white, 1 pink, 2 brown).
    generator : torch.Generator, optional
        Source of the white noise; torch's global RNG when omitted.
    device : optional
        Device of the result.

    Example
    -------
    >>> noise = coloured_noise((2, 4000), torch.tensor([0.0, 2.0]), torch.Generator().manual_seed(0))
    >>> noise.shape, [round(float(v), 3) for v in noise.pow(2).mean(dim=1).sqrt()]
    (torch.Size([2, 4000]), [1.0, 1.0])
    """
    batch, length = shape
    device = torch.device(device) if device is not None else decay.device
    white = _randn((batch, length), generator, device)  # (B, T)
    spectrum = torch.fft.rfft(white)  # (B, F)
    log_bins = torch.arange(spectrum.shape[-1], device=device, dtype=white.dtype).clamp(min=1.0).log()  # (F,)
    amplitude = torch.exp(log_bins.unsqueeze(0) * (-decay.to(device, white.dtype).unsqueeze(1) / 2.0))  # (B, F): f^(-decay/2)
    amplitude[:, 0] = 0.0
    noise = torch.fft.irfft(spectrum * amplitude, n=length)  # (B, T)
    return noise / _rms(noise).clamp(min=torch.finfo(noise.dtype).tiny)


def add_coloured_noise(
    waveforms: torch.Tensor,
    snr_db: torch.Tensor,
    decay: torch.Tensor,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Add coloured noise to each row of ``(B, T)`` at ``snr_db`` ``(B,)`` dB.

    The noise RMS is ``rms(row) / 10 ** (snr_db / 20)`` (torch-audiomentations'
    ``AddColoredNoise``); a silent row stays silent.

    Example
    -------
    >>> x = torch.sin(torch.arange(8000) / 5.0).unsqueeze(0)
    >>> y = add_coloured_noise(x, torch.tensor([10.0]), torch.tensor([1.0]), torch.Generator().manual_seed(0))
    >>> round(float(10 * torch.log10(x.pow(2).mean() / (y - x).pow(2).mean())), 2)
    10.0
    """
    noise = coloured_noise(tuple(waveforms.shape), decay, generator, waveforms.device).to(waveforms.dtype)  # (B, T)
    scale = _rms(waveforms) / (10.0 ** (snr_db / 20.0)).unsqueeze(1)  # (B, 1)
    return waveforms + scale * noise


def resample_by_ratio(waveforms: torch.Tensor, ratio: torch.Tensor, length: int) -> torch.Tensor:
    """Read row ``b`` at ``ratio_b`` times its speed: ``y_b(t) = x_b(ratio_b * t)``, ``t < length``.

    Cubic (Catmull-Rom) interpolation between the four neighbouring samples (about
    -0.2 dB at a quarter of the sample rate, where linear interpolation loses 1 dB);
    zeros past the end of a row. No anti-aliasing: band-limit rows sped up
    (``ratio > 1``) to ``nyquist / ratio`` first (:func:`phase_vocoder` can).
    ``waveforms`` ``(B, T)`` -> ``(B, length)``.

    Example
    -------
    >>> ramp = torch.arange(8.0).repeat(2, 1)
    >>> resample_by_ratio(ramp, torch.tensor([2.0, 0.5]), 6)[:, 2:]  # exact on a ramp away from the start
    tensor([[4.0000, 6.0000, 0.0000, 0.0000],
            [1.0000, 1.5000, 2.0000, 2.5000]])
    """
    last = waveforms.shape[-1] - 1
    positions = torch.arange(length, device=waveforms.device, dtype=ratio.dtype).unsqueeze(0) * ratio.unsqueeze(1)  # (B, L)
    base = positions.floor().long()  # (B, L)
    t = (positions - base).to(waveforms.dtype)  # (B, L) in [0, 1)
    before, here, after, next_after = (waveforms.gather(1, (base + shift).clamp(0, last)) for shift in (-1, 0, 1, 2))
    resampled = here + t * (
        0.5 * (after - before)
        + t * ((before - 2.5 * here + 2.0 * after - 0.5 * next_after) + t * (1.5 * (here - after) + 0.5 * (next_after - before)))
    )  # (B, L): Catmull-Rom spline through the four samples
    return resampled * (positions <= last)


def phase_vocoder(
    waveforms: torch.Tensor,
    rate: torch.Tensor,
    length: int,
    n_fft: int,
    hop_length: int,
    keep_below: torch.Tensor | None = None,
    lowpass_order: int = 8,
) -> torch.Tensor:
    """Batched phase vocoder: play row ``b`` at ``rate_b`` times its tempo, pitch kept.

    Output frame ``k`` reads input frame ``k * rate_b``: magnitudes are interpolated
    between the two neighbouring frames, phases accumulate the measured per-bin phase
    advance between them (``torchaudio.functional.phase_vocoder``, with a time step per
    row). One change: the first frame of a centred STFT sees half a window of zero
    padding, so its phases and its advance to the next frame are not those of the
    steady signal; the accumulation starts from frame 1's phases extrapolated back one
    hop and frame 0 reuses frame 1's advance (without this a steady tone stretched by
    any rate other than 1 loses about 10 % of its amplitude).

    Parameters
    ----------
    waveforms : torch.Tensor
        ``(B, T)``.
    rate : torch.Tensor
        ``(B,)`` tempo factors (> 1 faster); frames past the end of a row are silent.
    length : int
        Output samples per row.
    n_fft, hop_length : int
        STFT (Hann window).
    keep_below : torch.Tensor, optional
        ``(B,)`` per-row low-pass cutoff as a fraction of Nyquist, applied to the output
        spectrum (Butterworth magnitude of ``lowpass_order``); ``inf`` keeps everything.

    Returns
    -------
    torch.Tensor
        ``(B, length)``.

    Example
    -------
    >>> phase_vocoder(torch.randn(3, 4000), torch.tensor([0.5, 1.0, 2.0]), 8000, 512, 128).shape
    torch.Size([3, 8000])
    """
    batch = waveforms.shape[0]
    window = torch.hann_window(n_fft, device=waveforms.device, dtype=waveforms.dtype)
    spectrum = torch.stft(
        waveforms, n_fft, hop_length, window=window, center=True, pad_mode="constant", return_complex=True
    )  # (B, F, N)
    n_bins, n_frames = spectrum.shape[-2:]
    spectrum = torch.nn.functional.pad(spectrum, (0, 2))  # (B, F, N + 2): silent frames past the end
    magnitude, angle = spectrum.abs(), spectrum.angle()  # (B, F, N + 2)
    # Only the advance modulo 2 pi matters (analysis hop = synthesis hop); wrapping keeps the sum small.
    advance = torch.remainder(angle[..., 1:] - angle[..., :-1] + math.pi, 2.0 * math.pi) - math.pi  # (B, F, N + 1)
    if n_frames > 2:
        advance[..., 0] = advance[..., 1]
    start_phase = angle[..., 1:2] - advance[..., :1]  # (B, F, 1)
    out_frames = -(-length // hop_length) + 1
    steps = torch.arange(out_frames, device=waveforms.device, dtype=rate.dtype).unsqueeze(0) * rate.unsqueeze(1)  # (B, K)
    steps = steps.clamp(max=n_frames)
    first = steps.floor().long()  # (B, K)
    alpha = (steps - first).to(waveforms.dtype).unsqueeze(1)  # (B, 1, K)
    first = first.unsqueeze(1).expand(batch, n_bins, out_frames)  # (B, F, K)
    magnitude_out = (1.0 - alpha) * magnitude.gather(2, first) + alpha * magnitude.gather(2, first + 1)  # (B, F, K)
    if keep_below is not None:
        normalised = torch.linspace(0.0, 1.0, n_bins, device=waveforms.device, dtype=waveforms.dtype)  # (F,) of Nyquist
        magnitude_out = magnitude_out * lowpass_response(normalised, keep_below.to(waveforms.dtype), lowpass_order).unsqueeze(-1)
    phase = torch.cat([start_phase, advance.gather(2, first)[..., :-1]], dim=-1).cumsum(dim=-1)  # (B, F, K)
    stretched = torch.polar(magnitude_out, phase)  # (B, F, K)
    return torch.istft(stretched, n_fft, hop_length, window=window, center=True, length=length)  # (B, length)


def pitch_shift(
    waveforms: torch.Tensor,
    semitones: torch.Tensor,
    n_fft: int,
    hop_length: int,
    antialias_order: int,
) -> torch.Tensor:
    """Shift the pitch of each row of ``(B, T)`` by ``semitones`` ``(B,)``, same tempo and length.

    With ``r = 2 ** (semitones / 12)``: the phase vocoder slows row ``b`` down ``r_b``
    times (``T * r_b`` samples, pitch kept) and, for ``r_b > 1``, low-passes it at
    ``nyquist / r_b`` in the same STFT; reading the result ``r_b`` times faster
    (:func:`resample_by_ratio`) restores the length and tempo and moves every frequency
    by ``r_b``.

    Example
    -------
    >>> rate = 8000
    >>> tone = torch.sin(2 * math.pi * 440 * torch.arange(rate) / rate).unsqueeze(0)
    >>> shifted = pitch_shift(tone, torch.tensor([12.0]), 512, 128, 8)
    >>> int(torch.fft.rfft(shifted[0]).abs().argmax())  # 1 Hz bins
    880
    """
    length = waveforms.shape[-1]
    ratio = 2.0 ** (semitones / 12.0)  # (B,)
    keep_below = torch.where(ratio > 1.0, 1.0 / ratio, torch.full_like(ratio, math.inf))  # (B,)
    slowed = phase_vocoder(
        waveforms, 1.0 / ratio, math.ceil(length * float(ratio.max())), n_fft, hop_length, keep_below, antialias_order
    )  # (B, T * max r)
    return resample_by_ratio(slowed, ratio, length)


def add_echoes(
    waveforms: torch.Tensor,
    delay_samples: torch.Tensor,
    echoes: torch.Tensor,
    echo_gain: float,
    output_gain: float,
) -> torch.Tensor:
    """``output_gain * (x(t) + sum_{k<=E} echo_gain**k * x(t - k * delay))`` per row.

    ``waveforms`` ``(B, T)``, ``delay_samples`` and ``echoes`` ``(B,)`` integers.

    Example
    -------
    >>> impulse = torch.zeros(1, 8); impulse[0, 0] = 1.0
    >>> add_echoes(impulse, torch.tensor([3]), torch.tensor([2]), 0.5, 0.5)
    tensor([[0.5000, 0.0000, 0.0000, 0.2500, 0.0000, 0.0000, 0.1250, 0.0000]])
    """
    length = waveforms.shape[-1]
    time = torch.arange(length, device=waveforms.device).unsqueeze(0)  # (1, T)
    mix = waveforms.clone()
    for echo in range(1, int(echoes.max()) + 1):
        source = time - echo * delay_samples.unsqueeze(1)  # (B, T)
        audible = (source >= 0) & (echo <= echoes).unsqueeze(1)  # (B, T)
        mix = mix + echo_gain**echo * waveforms.gather(1, source.clamp(min=0)) * audible
    return output_gain * mix


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
    source = generator.device if generator is not None else device
    return (low + (high - low) * torch.rand(size, generator=generator, device=source)).to(device)


def _randint(low: int, high: int, size: int, generator: torch.Generator | None, device: torch.device) -> torch.Tensor:
    source = generator.device if generator is not None else device
    return torch.randint(low, high + 1, (size,), generator=generator, device=source).to(device)


def _randn(shape: tuple[int, ...], generator: torch.Generator | None, device: torch.device) -> torch.Tensor:
    source = generator.device if generator is not None else device
    return torch.randn(shape, generator=generator, device=source).to(device)


def _rms(waveforms: torch.Tensor) -> torch.Tensor:
    return waveforms.pow(2).mean(dim=-1, keepdim=True).sqrt()  # (B, 1)


def _check_probability(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be a probability in [0, 1], got {value}")


def _check_range(name: str, values: Sequence[float], positive: bool = False) -> tuple[float, float]:
    if len(values) != 2 or values[0] > values[1]:
        raise ValueError(f"{name} must be a [low, high] pair with low <= high, got {values!r}")
    if positive and values[0] <= 0:
        raise ValueError(f"{name} must be positive, got {values!r}")
    return float(values[0]), float(values[1])


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
        probabilities = dict(
            p_chain=p_chain, gain_p=gain_p, polarity_p=polarity_p, noise_p=noise_p,
            filter_p=filter_p, pitch_p=pitch_p, delay_p=delay_p,
        )  # fmt: skip
        for name, value in probabilities.items():
            _check_probability(name, value)
            setattr(self, name, min(1.0, value * scale))
        frequency_ranges = dict(
            lowpass_cutoff_hz=lowpass_cutoff_hz, highpass_cutoff_hz=highpass_cutoff_hz,
            band_centre_hz=band_centre_hz, band_width_fraction=band_width_fraction, delay_ms=delay_ms,
        )  # fmt: skip
        for name, values in frequency_ranges.items():
            setattr(self, name, _check_range(name, values, positive=True))
        echoes_low, echoes_high = _check_range("delay_echoes", delay_echoes, positive=True)
        if echoes_low != int(echoes_low) or echoes_high != int(echoes_high):
            raise ValueError(f"delay_echoes must be whole numbers, got {delay_echoes!r}")
        if pitch_hop_length <= 0 or pitch_n_fft < pitch_hop_length:
            raise ValueError(f"need 0 < pitch_hop_length <= pitch_n_fft, got {pitch_hop_length}, {pitch_n_fft}")
        if filter_order < 1 or pitch_antialias_order < 1:
            raise ValueError(f"filter orders must be >= 1, got {filter_order}, {pitch_antialias_order}")
        low, high = _check_range("noise_snr_db", noise_snr_db)
        snr_shift = -20.0 * math.log10(scale) if scale > 0 else math.inf
        self.sample_rate = int(sample_rate)
        self.severity = severity
        self.gain_db = tuple(scale * v for v in _check_range("gain_db", gain_db))
        self.noise_snr_db = (low + snr_shift, high + snr_shift)
        self.noise_decay = tuple(scale * v for v in _check_range("noise_decay", noise_decay))
        self.pitch_semitones = tuple(scale * v for v in _check_range("pitch_semitones", pitch_semitones))
        self.delay_echoes = (int(echoes_low), int(echoes_high))
        self.delay_echo_gain = min(1.0, float(delay_echo_gain) * scale)
        self.delay_output_gain = float(delay_output_gain)
        self.filter_order = int(filter_order)
        self.pitch_n_fft = int(pitch_n_fft)
        self.pitch_hop_length = int(pitch_hop_length)
        self.pitch_antialias_order = int(pitch_antialias_order)

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
