"""Batched torch DSP primitives of the training augmentation chain (:mod:`.augment`).

Every function works on a batch of rows ``(B, T)`` with per-row parameters ``(B,)``, so
one call serves a batch where every view drew its own gain, noise colour, filter, pitch
shift or delay: gain, mel-scale conversion, Butterworth magnitude responses applied as
zero-phase FFT masks, coloured noise at an SNR and echoes; the pitch shift is in
:mod:`.augment_pitch`. ``tests/test_augment_dsp.py`` checks each primitive against its
``torchaudio.functional`` counterpart where one exists.

Example
-------
>>> add_echoes(torch.ones(1, 4), torch.tensor([1]), torch.tensor([1]), 0.5, 1.0)
tensor([[1.0000, 1.5000, 1.5000, 1.5000]])
"""

from __future__ import annotations

from typing import Callable

import torch

FILTER_KINDS = ("lowpass", "highpass", "bandpass", "bandstop")


def draw_device(generator: torch.Generator | None, device: torch.device) -> torch.device:
    """Where to draw random numbers: the generator's device, else ``device``.

    Draws happen there and move to ``device`` after, so a CPU generator can seed
    views on a GPU.

    Example
    -------
    >>> draw_device(torch.Generator(), torch.device("meta")), draw_device(None, torch.device("cpu"))
    (device(type='cpu'), device(type='cpu'))
    """
    return generator.device if generator is not None else device


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
    white = random_normal((batch, length), generator, device)  # (B, T)
    spectrum = torch.fft.rfft(white)  # (B, F)
    log_bins = torch.arange(spectrum.shape[-1], device=device, dtype=white.dtype).clamp(min=1.0).log()  # (F,)
    amplitude = torch.exp(log_bins.unsqueeze(0) * (-decay.to(device, white.dtype).unsqueeze(1) / 2.0))  # (B, F): f^(-decay/2)
    amplitude[:, 0] = 0.0
    noise = torch.fft.irfft(spectrum * amplitude, n=length)  # (B, T)
    return noise / rms(noise).clamp(min=torch.finfo(noise.dtype).tiny)


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
    scale = rms(waveforms) / (10.0 ** (snr_db / 20.0)).unsqueeze(1)  # (B, 1)
    return waveforms + scale * noise


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


def random_normal(shape: tuple[int, ...], generator: torch.Generator | None, device: torch.device) -> torch.Tensor:
    """Standard normal draws of ``shape`` from ``generator`` (torch's global RNG if None), on ``device``.

    Example
    -------
    >>> random_normal((2, 3), torch.Generator().manual_seed(0), torch.device("cpu")).shape
    torch.Size([2, 3])
    """
    return torch.randn(shape, generator=generator, device=draw_device(generator, device)).to(device)


def rms(waveforms: torch.Tensor) -> torch.Tensor:
    """Root mean square of each row of ``(B, T)``, kept as ``(B, 1)``.

    Example
    -------
    >>> rms(torch.tensor([[3.0, -3.0], [0.0, 0.0]]))
    tensor([[3.],
            [0.]])
    """
    return waveforms.pow(2).mean(dim=-1, keepdim=True).sqrt()  # (B, 1)
