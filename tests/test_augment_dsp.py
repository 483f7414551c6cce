"""The augmentation chain's DSP primitives (augment_dsp, augment_pitch) agree with their torchaudio counterparts.

Each test names the torchaudio function it compares with, the tolerance and why that
tolerance. Primitives without a counterpart are checked against their definition in
tests/test_augment.py: polarity (torchaudio has none; torch-audiomentations'
PolarityInversion is ``-x`` too), the coloured-noise spectrum (torch-audiomentations'
AddColoredNoise is the only counterpart: test_noise_colour_follows_the_decay measures
the slope instead) and the band-stop mask (``1 - band-pass``; torchaudio's
``bandreject_biquad`` is a resonant notch, another filter).
"""

import math

import pytest
import torch
import torchaudio.functional as audio_functional
from test_augment import one_thread  # noqa: F401  (autouse: one torch thread for small tensors)

from semisupcon_recipe.augment_dsp import (
    FILTER_KINDS,
    add_coloured_noise,
    add_echoes,
    apply_frequency_response,
    apply_gain,
    coloured_noise,
    filter_response,
    lowpass_response,
)
from semisupcon_recipe.augment_pitch import pitch_shift, resample_by_ratio, stretch_spectrogram

RATE = 16000
BUTTERWORTH_Q = 1.0 / math.sqrt(2.0)  # a biquad with this Q is a 2nd-order Butterworth filter


def seeded(seed):
    return torch.Generator().manual_seed(seed)


def warped(hz):
    """Analog frequency that the bilinear transform maps to ``hz`` (cutoffs prewarped)."""
    return torch.tan(math.pi * torch.as_tensor(hz, dtype=torch.float64) / RATE)


def biquad_magnitude(filtered_impulse):
    """Magnitude response on 1 Hz bins from a filter's response to a 0.5 impulse."""
    return torch.fft.rfft(2.0 * filtered_impulse[0]).abs()


def half_impulse():
    impulse = torch.zeros(1, RATE, dtype=torch.float64)  # 1 s: the IIR tails decay to ~1e-30 by then
    impulse[0, 0] = 0.5  # torchaudio's lfilter clamps to [-1, 1]; stay well inside
    return impulse


def test_gain_equals_torchaudio_gain():
    x = 0.1 * torch.randn(3, 1000, generator=seeded(0))
    gains = torch.tensor([-15.0, 0.0, 5.0])
    out = apply_gain(x, gains)
    for row, gain in enumerate(gains.tolist()):
        # Same formula x * 10 ** (dB / 20); 1e-7 allows float32 rounding of the power.
        torch.testing.assert_close(out[row], audio_functional.gain(x[row], gain), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("cutoff_hz", [200.0, 1000.0, 5000.0])
def test_order_2_lowpass_and_highpass_equal_the_butterworth_biquads(cutoff_hz):
    frequencies = torch.fft.rfftfreq(RATE, 1.0 / RATE, dtype=torch.float64)  # (F,)
    cutoff = warped([cutoff_hz])
    no_band = torch.zeros(1, 2, dtype=torch.float64)
    lowpass = biquad_magnitude(audio_functional.lowpass_biquad(half_impulse(), RATE, cutoff_hz, Q=BUTTERWORTH_Q))
    highpass = biquad_magnitude(audio_functional.highpass_biquad(half_impulse(), RATE, cutoff_hz, Q=BUTTERWORTH_Q))
    # Our masks are analog Butterworth magnitudes; the biquads are their bilinear
    # transforms, so they agree exactly on the warped frequency axis. 1e-9 allows
    # float64 rounding in lfilter and the FFT (measured: below 1e-14).
    torch.testing.assert_close(lowpass_response(warped(frequencies), cutoff, 2)[0], lowpass, rtol=0, atol=1e-9)
    kind = torch.tensor([FILTER_KINDS.index("highpass")])
    torch.testing.assert_close(filter_response(warped(frequencies), kind, cutoff, no_band, 2)[0], highpass, rtol=0, atol=1e-9)


def test_order_2_bandpass_equals_a_highpass_then_lowpass_biquad_cascade():
    frequencies = torch.fft.rfftfreq(RATE, 1.0 / RATE, dtype=torch.float64)
    low_hz, high_hz = 500.0, 2000.0
    cascade = audio_functional.lowpass_biquad(
        audio_functional.highpass_biquad(half_impulse(), RATE, low_hz, Q=BUTTERWORTH_Q), RATE, high_hz, Q=BUTTERWORTH_Q
    )
    kind = torch.tensor([FILTER_KINDS.index("bandpass")])
    ours = filter_response(warped(frequencies), kind, torch.zeros(1, dtype=torch.float64), warped([[low_hz, high_hz]]), 2)[0]
    # Same construction (high-pass at the lower edge times low-pass at the upper one);
    # float64 rounding only.
    torch.testing.assert_close(ours, biquad_magnitude(cascade), rtol=0, atol=1e-9)


def test_zero_phase_fft_filtering_equals_torchaudio_filtfilt():
    cutoff_hz = 1000.0
    w0 = 2.0 * math.pi * cutoff_hz / RATE
    alpha = math.sin(w0) / (2.0 * BUTTERWORTH_Q)  # the RBJ low-pass biquad torchaudio's lowpass_biquad builds
    b = torch.tensor([(1 - math.cos(w0)) / 2, 1 - math.cos(w0), (1 - math.cos(w0)) / 2], dtype=torch.float64)
    a = torch.tensor([1 + alpha, -2 * math.cos(w0), 1 - alpha], dtype=torch.float64)
    x = torch.zeros(2, 2 * RATE, dtype=torch.float64)
    x[:, RATE // 2 : 3 * RATE // 2] = 0.1 * torch.randn(2, RATE, generator=seeded(1), dtype=torch.float64)
    # filtfilt runs the biquad forwards and backwards: zero phase, magnitude |H|^2.
    # The silence around the burst keeps filtfilt's zero initial state and truncated
    # tails out of the comparison; then both are the same two-sided convolution, up to
    # float64 rounding (measured 2e-16).
    expected = audio_functional.filtfilt(x, a, b, clamp=False)
    cutoffs = warped(torch.full((2,), cutoff_hz))
    out = apply_frequency_response(x, lambda f: lowpass_response(warped(f), cutoffs, 2) ** 2, RATE)
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-12)


def test_noise_at_an_snr_equals_torchaudio_add_noise_with_the_same_noise():
    x = 0.1 * torch.randn(3, RATE, generator=seeded(2))
    snr_db, decay = torch.tensor([3.0, 10.0, 30.0]), torch.tensor([-1.0, 0.0, 2.0])
    out = add_coloured_noise(x, snr_db, decay, seeded(7))
    expected = audio_functional.add_noise(x, coloured_noise(tuple(x.shape), decay, seeded(7)), snr_db)
    # Same scaling (noise energy = signal energy / 10 ** (snr / 10)); float32 rounding
    # of energies summed over 16,000 samples (measured 6e-8 on a 0.5 peak).
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("rate", [0.5, 0.75, 1.0, 1.25, 2.0])
def test_stretch_matches_torchaudio_phase_vocoder_past_the_first_frame(rate):
    n_fft, hop = 512, 128
    signal = torch.randn(1, RATE, generator=seeded(3), dtype=torch.float64)
    spectrum = torch.stft(signal, n_fft, hop, window=torch.hann_window(n_fft, dtype=torch.float64), return_complex=True)
    phase_advance = torch.linspace(0.0, math.pi * hop, n_fft // 2 + 1, dtype=torch.float64).unsqueeze(1)  # (F, 1)
    expected = audio_functional.phase_vocoder(spectrum, rate, phase_advance)  # (1, F, K)
    out = stretch_spectrogram(spectrum, torch.tensor([rate], dtype=torch.float64), expected.shape[-1])
    # Magnitudes: the same interpolation (float64 rounding, measured 7e-15 on ~40).
    torch.testing.assert_close(out.abs(), expected.abs(), rtol=0, atol=1e-9)
    # Phases: ours deliberately starts from frame 1 (see stretch_spectrogram), so the
    # absolute phases differ by a per-bin constant once the output has left input
    # frame 0; the frame-to-frame rotation must be the same from there on. The
    # tolerance covers float64 cumulative sums of phases up to ~1e4 rad (measured 1e-8
    # on products of ~2e3).
    settled = math.ceil(1.0 / rate) + 1  # first output frame whose previous frame reads input frame >= 1

    def rotation(stft):
        return stft[..., settled:] * stft[..., settled - 1 : -1].conj()

    torch.testing.assert_close(rotation(out), rotation(expected), rtol=0, atol=1e-6)


@pytest.mark.parametrize("ratio, orig_freq, new_freq", [(0.5, 1, 2), (0.75, 3, 4)])
def test_cubic_resampling_agrees_with_torchaudio_resample_on_band_limited_audio(ratio, orig_freq, new_freq):
    time = torch.arange(RATE, dtype=torch.float64)
    cycles = torch.tensor([1 / 64, 1 / 32, 1 / 16], dtype=torch.float64).unsqueeze(1)  # (3, 1) per sample
    tones = torch.sin(2 * math.pi * cycles * time + 0.3)  # (3, T)
    expected = audio_functional.resample(tones, orig_freq, new_freq)  # windowed-sinc interpolation
    out = resample_by_ratio(tones, torch.full((3,), ratio, dtype=torch.float64), expected.shape[-1])
    # Up to 1/16 cycle per sample both interpolators are close to exact: Catmull-Rom's
    # error grows with frequency (9e-4 at 1/16), torchaudio's short sinc has ~7e-4
    # passband ripple; 2e-3 bounds their sum. The ends are left out (both pad there).
    edge = 400
    torch.testing.assert_close(out[:, edge:-edge], expected[:, edge:-edge], rtol=0, atol=2e-3)


@pytest.mark.parametrize("semitones", [-12, -4, 4])  # +-4: the chain's range (other values make torchaudio slow)
def test_pitch_shift_moves_a_harmonic_tone_where_torchaudio_pitch_shift_does(semitones):
    time = torch.arange(RATE) / RATE
    tone = 0.3 * sum(torch.sin(2 * math.pi * 440.0 * harmonic * time) / harmonic for harmonic in (1, 2, 3)).unsqueeze(0)
    expected = audio_functional.pitch_shift(tone, RATE, semitones, n_fft=1024, hop_length=256)
    out = pitch_shift(tone, torch.tensor([float(semitones)]), 1024, 256, 32)

    def spectrum(x):  # (F,) 1 Hz bins of the middle, away from the ends
        middle = x[0, 2000:-2000]
        return torch.fft.rfft(middle * torch.hann_window(middle.numel())).abs()

    # Another algorithm (torchaudio resamples with a sinc filter, we interpolate
    # cubically and band-limit in the STFT), so compare where the energy goes: the
    # same fundamental bin and spectra of the same shape. Cosine similarity measured
    # 0.99998 down and 0.974 up: torchaudio's upward shifts halve the level of a
    # steady tone (0.115 vs 0.246 RMS; ours keeps it, test_augment checks that).
    assert int(spectrum(out).argmax()) == int(spectrum(expected).argmax())
    similarity = torch.nn.functional.cosine_similarity(spectrum(out), spectrum(expected), dim=0)
    assert similarity > (0.999 if semitones < 0 else 0.95), float(similarity)


def test_echoes_equal_torchaudio_fftconvolve_with_the_echo_kernel():
    x = 0.1 * torch.randn(3, 4000, generator=seeded(4))
    delays, echoes = torch.tensor([100, 250, 333]), torch.tensor([1, 2, 3])
    out = add_echoes(x, delays, echoes, echo_gain=0.5, output_gain=0.5)
    kernel = torch.zeros(3, int((delays * echoes).max()) + 1)
    for row in range(3):
        for echo in range(int(echoes[row]) + 1):
            kernel[row, echo * int(delays[row])] = 0.5 * 0.5**echo
    expected = audio_functional.fftconvolve(x, kernel)[:, : x.shape[-1]]
    # The same sum of delayed copies; fftconvolve rounds in float32 FFTs (measured 1e-7).
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-6)
