"""Audio reading: one rule for believable sample rates and samples, and the soxr resampler."""

import math
import struct

import numpy as np
import pytest
import soundfile
import torch
import torchaudio

from semisupcon_recipe.audio import AudioError, audio_info, read_audio, resample
from semisupcon_recipe.encoders import SampleCNN
from semisupcon_recipe.interop.hear import HearModel, get_scene_embeddings
from semisupcon_recipe.interop.windows import SlidingWindowEncoder
from semisupcon_recipe.views import ViewReader


def write_wav_claiming_rate(path, claimed_rate, samples=2000):
    """A valid 16 kHz PCM wav whose header then says ``claimed_rate`` (a corrupt header)."""
    soundfile.write(path, np.zeros(samples, dtype="float32"), 16000, subtype="PCM_16")
    data = bytearray(path.read_bytes())
    data[24:28] = struct.pack("<I", claimed_rate)  # fmt chunk: sample rate
    data[28:32] = struct.pack("<I", claimed_rate * 2)  # byte rate
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("claimed_rate", [1, 999, 400_000])
def test_a_header_with_an_absurd_sample_rate_is_refused_naming_the_file(tmp_path, claimed_rate):
    path = tmp_path / f"claims_{claimed_rate}.wav"
    write_wav_claiming_rate(path, claimed_rate)
    for read in (lambda: read_audio(path, 22050), lambda: audio_info(path),
                 lambda: ViewReader(22050, 100).read(path, np.random.default_rng(0))):
        with pytest.raises(AudioError, match=rf"claims_{claimed_rate}\.wav: header sample rate {claimed_rate} Hz"):
            read()


def test_believable_rates_at_the_limits_are_read(tmp_path):
    path = tmp_path / "low.wav"
    soundfile.write(path, np.full(1000, 0.25, dtype="float32"), 1000)
    assert read_audio(path, 1000).shape == (1000,)


@pytest.mark.parametrize("value, message", [(1e30, r"samples up to 1e\+30"), (float("nan"), "NaN or infinite"),
                                            (float("inf"), "NaN or infinite"), (-2e3, r"samples up to 2e\+03")])
def test_a_float_file_whose_samples_are_not_audio_is_refused_naming_the_file(tmp_path, value, message):
    path = tmp_path / "loud.wav"
    samples = np.zeros(4000, dtype="float32")
    samples[1234] = value
    soundfile.write(path, samples, 16000, subtype="FLOAT")
    with pytest.raises(AudioError, match=rf"loud\.wav.*{message}|{message}.*loud\.wav") as error:
        read_audio(path, 16000)
    assert "loud.wav" in str(error.value)


def test_float_audio_with_modest_headroom_is_accepted(tmp_path):
    path = tmp_path / "hot.wav"
    soundfile.write(path, np.full(4000, 3.0, dtype="float32"), 16000, subtype="FLOAT")
    assert float(read_audio(path, 16000).max()) == 3.0


def tiny_sliding_encoder():
    torch.manual_seed(0)
    return SlidingWindowEncoder(SampleCNN(16000, (8, 8, 16)).eval(), window=27, hop=27)


@pytest.mark.parametrize("value, message", [(float("nan"), "waveform 1 contains NaN"), (1e30, r"waveform 1 has samples up to 1e\+30")])
def test_in_memory_apis_refuse_the_samples_the_file_reader_refuses(value, message):
    audio = torch.zeros(2, 100)
    audio[1, 50] = value
    sliding = tiny_sliding_encoder()
    with pytest.raises(ValueError, match=message):
        sliding.track(audio)
    with pytest.raises(ValueError, match=message):
        sliding.frames([audio[0], audio[1]])
    with pytest.raises(ValueError, match=message):
        get_scene_embeddings(audio, HearModel(sliding))
    assert torch.isfinite(sliding.track(audio[:1])).all()


def partials(highest_hz, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(50, highest_hz, 40), rng.uniform(0.02, 0.1, 40), rng.uniform(0, 2 * np.pi, 40)


def render(frequencies_amplitudes_phases, seconds, rate):
    """Band-limited music-like test signal (40 partials, slow envelope) sampled exactly at ``rate``."""
    time = np.arange(int(seconds * rate)) / rate
    signal = sum(a * np.sin(2 * np.pi * f * time + phase) for f, a, phase in zip(*frequencies_amplitudes_phases))
    return torch.from_numpy((signal * (0.6 + 0.4 * np.sin(2 * np.pi * 0.5 * time))).astype("float32"))


def snr_db(signal, reference, rate):
    edge = rate // 20  # filters see a signal's ends differently; compare the middle
    length = min(len(signal), len(reference))
    signal, reference = signal[edge : length - edge], reference[edge : length - edge]
    return 10 * math.log10(float((reference**2).sum() / ((signal - reference) ** 2).sum()))


@pytest.mark.parametrize("source, target", [(44100, 22050), (48000, 22050), (44100, 16000), (16000, 22050)])
def test_soxr_resampling_is_at_least_as_exact_as_torchaudio_and_agrees_with_it_where_torchaudio_is_flat(source, target):
    # Up to 0.45 x the lower rate: soxr ~70-130 dB from the exactly sampled signal,
    # torchaudio's default filter ~21-23 dB (its passband droops above ~0.3 x the rate).
    wide = partials(0.45 * min(source, target))
    ours = resample(render(wide, 2.0, source), source, target)
    reference = torchaudio.functional.resample(render(wide, 2.0, source), source, target)
    assert abs(len(ours) - len(reference)) <= 1
    truth = render(wide, 2.0, target)
    assert snr_db(ours, truth, target) > 65
    assert snr_db(ours, truth, target) > snr_db(reference, truth, target) + 30
    # Below 0.3 x the lower rate both are accurate: they agree to > 55 dB SNR.
    narrow = render(partials(0.3 * min(source, target)), 2.0, source)
    agreement = snr_db(resample(narrow, source, target), torchaudio.functional.resample(narrow, source, target), target)
    assert agreement > 55, f"{source} -> {target} Hz: soxr vs torchaudio SNR {agreement:.1f} dB"
