"""Batched pitch shift of the augmentation chain: a phase vocoder and cubic resampling.

:func:`pitch_shift` moves every row of ``(B, T)`` by its own number of semitones with
tempo and length kept: :func:`phase_vocoder` (a centred STFT,
:func:`stretch_spectrogram` with a time step per row, the inverse STFT) slows each row
down by its pitch ratio and band-limits it, then :func:`resample_by_ratio` reads it back
at the original length. ``tests/test_augment_dsp.py`` checks each against
``torchaudio.functional`` (``phase_vocoder``, ``resample``, ``pitch_shift``).
"""

from __future__ import annotations

import math

import torch

from semisupcon_recipe.augment_dsp import lowpass_response


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


def stretch_spectrogram(
    spectrum: torch.Tensor,
    rate: torch.Tensor,
    out_frames: int,
    magnitude_gain: torch.Tensor | None = None,
) -> torch.Tensor:
    """Phase-vocoder time stretch of complex STFTs, with a time step per row.

    Output frame ``k`` of row ``b`` reads input frame ``k * rate_b``: magnitudes are
    interpolated between the two neighbouring frames, phases accumulate the measured
    per-bin phase advance between them (as ``torchaudio.functional.phase_vocoder``
    does for one rate). One change: the first frame of a centred STFT sees half a
    window of zero padding, so its phases and its advance to the next frame are not
    those of the steady signal; the accumulation starts from frame 1's phases
    extrapolated back one hop and frame 0 reuses frame 1's advance (without this a
    steady tone stretched by any rate other than 1 loses about 10 % of its amplitude).

    Parameters
    ----------
    spectrum : torch.Tensor
        ``(B, F, N)`` complex STFT whose hop equals the synthesis hop.
    rate : torch.Tensor
        ``(B,)`` tempo factors (> 1 faster); frames past the end of a row are silent.
    out_frames : int
        ``K``, output frames per row.
    magnitude_gain : torch.Tensor, optional
        ``(B, F)`` per-row gains applied to the output magnitudes.

    Returns
    -------
    torch.Tensor
        ``(B, F, K)`` complex.

    Example
    -------
    Half speed: magnitudes interpolated between input frames, the phase still turns
    by the input's 1 rad per frame.

    >>> spectrum = torch.polar(torch.arange(1.0, 5.0).repeat(1, 3, 1), torch.arange(4.0).repeat(1, 3, 1))  # (1, 3, 4)
    >>> stretched = stretch_spectrogram(spectrum, torch.tensor([0.5]), 6)  # (1, 3, 6)
    >>> stretched[0, 0].abs(), (stretched[0, 0, 1:] / stretched[0, 0, :-1]).angle()
    (tensor([1.0000, 1.5000, 2.0000, 2.5000, 3.0000, 3.5000]), tensor([1.0000, 1.0000, 1.0000, 1.0000, 1.0000]))
    """
    batch, n_bins, n_frames = spectrum.shape
    spectrum = torch.nn.functional.pad(spectrum, (0, 2))  # (B, F, N + 2): silent frames past the end
    magnitude, angle = spectrum.abs(), spectrum.angle()  # (B, F, N + 2)
    # Only the advance modulo 2 pi matters (analysis hop = synthesis hop); wrapping keeps the sum small.
    advance = torch.remainder(angle[..., 1:] - angle[..., :-1] + math.pi, 2.0 * math.pi) - math.pi  # (B, F, N + 1)
    if n_frames > 2:
        advance[..., 0] = advance[..., 1]
    start_phase = angle[..., 1:2] - advance[..., :1]  # (B, F, 1)
    steps = torch.arange(out_frames, device=spectrum.device, dtype=rate.dtype).unsqueeze(0) * rate.unsqueeze(1)  # (B, K)
    steps = steps.clamp(max=n_frames)
    first = steps.floor().long()  # (B, K)
    alpha = (steps - first).to(magnitude.dtype).unsqueeze(1)  # (B, 1, K)
    first = first.unsqueeze(1).expand(batch, n_bins, out_frames)  # (B, F, K)
    magnitude_out = (1.0 - alpha) * magnitude.gather(2, first) + alpha * magnitude.gather(2, first + 1)  # (B, F, K)
    if magnitude_gain is not None:
        magnitude_out = magnitude_out * magnitude_gain.unsqueeze(-1)
    phase = torch.cat([start_phase, advance.gather(2, first)[..., :-1]], dim=-1).cumsum(dim=-1)  # (B, F, K)
    return torch.polar(magnitude_out, phase)  # (B, F, K)


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

    A centred STFT (Hann window), :func:`stretch_spectrogram`, and the inverse STFT.

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
    window = torch.hann_window(n_fft, device=waveforms.device, dtype=waveforms.dtype)
    spectrum = torch.stft(
        waveforms, n_fft, hop_length, window=window, center=True, pad_mode="constant", return_complex=True
    )  # (B, F, N)
    gain = None
    if keep_below is not None:
        normalised = torch.linspace(0.0, 1.0, spectrum.shape[1], device=waveforms.device, dtype=waveforms.dtype)  # (F,) of Nyquist
        gain = lowpass_response(normalised, keep_below.to(waveforms.dtype), lowpass_order)  # (B, F)
    stretched = stretch_spectrogram(spectrum, rate, -(-length // hop_length) + 1, gain)  # (B, F, K)
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
