"""The training augmentation chain: each transform does what it draws, severity, determinism."""

import inspect
import math
from pathlib import Path

import pytest
import torch
from hyperpyyaml import load_hyperpyyaml

from semisupcon_recipe.augment import AugmentationChain
from semisupcon_recipe.augment_dsp import FILTER_KINDS, add_coloured_noise, apply_frequency_response, filter_response
from semisupcon_recipe.augment_pitch import pitch_shift

RATE = 16000
TRANSFORMS = ("gain", "polarity", "noise", "filter", "pitch", "delay")
TRAIN_CHAIN_YAML = Path(__file__).resolve().parents[1] / "hparams" / "augment" / "train_chain.yaml"


@pytest.fixture(autouse=True)
def one_thread():
    """Small tensors run faster on one thread, above all on a shared 2-core machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def only(transform, **overrides):
    """A chain that applies ``transform`` to every row and nothing else."""
    probabilities = {f"{name}_p": 0.0 for name in TRANSFORMS}
    probabilities[f"{transform}_p"] = 1.0
    return AugmentationChain(RATE, p_chain=1.0, **{**probabilities, **overrides})


def seeded(seed=0):
    return torch.Generator().manual_seed(seed)


def views(batch=6, seconds=1.0, seed=0):
    return 0.1 * torch.randn(batch, int(RATE * seconds), generator=seeded(seed))


def rms(x):
    return x.pow(2).mean(dim=-1).sqrt()


def band_energy(x, low_hz, high_hz):
    spectrum = torch.fft.rfft(x).abs().pow(2)  # (B, F)
    freqs = torch.fft.rfftfreq(x.shape[-1], 1.0 / RATE)
    return spectrum[..., (freqs >= low_hz) & (freqs < high_hz)].sum(dim=-1)


def peak_hz(x):
    return torch.fft.rfft(x).abs().argmax(dim=-1).float() * RATE / x.shape[-1]


def test_severity_zero_is_exactly_the_identity():
    x = views()
    chain = AugmentationChain(RATE, severity=0)
    assert torch.equal(chain(x), x)
    assert torch.equal(chain(x[0]), x[0])


@pytest.mark.parametrize("severity", [1, 2, 3, 4])
def test_output_shape_dtype_and_finite(severity):
    x = views(batch=8)
    out = AugmentationChain(RATE, severity=severity, p_chain=1.0)(x, generator=seeded(severity))
    assert out.shape == x.shape and out.dtype == torch.float32
    assert torch.isfinite(out).all()
    assert not torch.equal(out, x)
    single = AugmentationChain(RATE, severity=severity, p_chain=1.0)(x[0], generator=seeded(severity))
    assert single.shape == x[0].shape


def test_low_precision_views_keep_their_dtype():
    x = views(batch=2).to(torch.bfloat16)
    out = AugmentationChain(RATE, p_chain=1.0)(x, generator=seeded(0))
    assert out.dtype == torch.bfloat16 and torch.isfinite(out.float()).all()


def test_fixed_seed_gives_identical_output():
    x = views()
    chain = AugmentationChain(RATE, p_chain=1.0)
    assert torch.equal(chain(x, generator=seeded(7)), chain(x, generator=seeded(7)))
    torch.manual_seed(3)
    first = chain(x)
    torch.manual_seed(3)
    assert torch.equal(chain(x), first)
    assert not torch.equal(chain(x, generator=seeded(8)), first)


def test_rows_draw_their_own_parameters():
    chain = AugmentationChain(RATE, p_chain=1.0)
    params = chain.sample_parameters(16, seeded(0))
    assert params.gain_db.unique().numel() == 16
    assert params.pitch_semitones.unique().numel() == 16
    assert 0 < int(params.polarity_applied.sum()) < 16
    same_input = views(batch=1).repeat(4, 1)
    out = chain(same_input, generator=seeded(1))
    assert all(not torch.allclose(out[0], out[row]) for row in range(1, 4))


def test_draw_frequencies_match_the_probabilities():
    params = AugmentationChain(RATE).sample_parameters(20000, seeded(0))
    assert params.chain_applied.float().mean() == pytest.approx(0.8, abs=0.02)
    assert params.gain_applied.float().mean() == pytest.approx(0.8 * 0.4, abs=0.02)
    assert params.filter_applied.float().mean() == pytest.approx(0.8 * 0.3, abs=0.02)
    assert not (params.delay_applied & ~params.chain_applied).any()
    kinds = torch.bincount(params.filter_kind, minlength=len(FILTER_KINDS)).float() / 20000
    assert torch.allclose(kinds, torch.full((4,), 0.25), atol=0.02)
    assert params.gain_db.min() >= -15.0 and params.gain_db.max() <= 5.0
    assert params.noise_snr_db.min() >= 3.0 and params.noise_snr_db.max() <= 30.0
    assert params.delay_echoes.min() == 1 and params.delay_echoes.max() == 3
    assert params.delay_samples.min() >= 0.1 * RATE and params.delay_samples.max() <= 0.5 * RATE


def test_severity_scales_probabilities_and_ranges():
    mild, strong = AugmentationChain(RATE, severity=1), AugmentationChain(RATE, severity=4)
    assert mild.p_chain == pytest.approx(0.4) and strong.p_chain == 1.0
    assert mild.gain_p == pytest.approx(0.2) and strong.gain_p == pytest.approx(0.8) and strong.pitch_p == 1.0
    assert mild.gain_db == (-7.5, 2.5) and strong.gain_db == (-30.0, 10.0)
    assert strong.pitch_semitones == (-8.0, 8.0) and strong.noise_decay == (-4.0, 4.0)
    assert strong.noise_snr_db[0] == pytest.approx(3.0 - 20 * math.log10(2))
    assert mild.noise_snr_db[1] == pytest.approx(30.0 + 20 * math.log10(2))
    assert strong.delay_echo_gain == 1.0 and mild.delay_echo_gain == 0.25
    assert strong.lowpass_cutoff_hz == (150.0, 7500.0)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"severity": 5}, "severity"),
        ({"severity": -1}, "severity"),
        ({"gain_p": 1.5}, "gain_p"),
        ({"gain_db": (5.0, -15.0)}, "gain_db"),
        ({"delay_echoes": (0, 3)}, "delay_echoes"),
    ],
)
def test_bad_settings_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        AugmentationChain(RATE, **kwargs)


def test_bad_input_is_refused_with_a_fix():
    with pytest.raises(ValueError, match="torch.as_tensor"):
        AugmentationChain(RATE)(torch.zeros(2, 2, 100))
    with pytest.raises(ValueError, match="float"):
        AugmentationChain(RATE)(torch.zeros(2, 100, dtype=torch.int16))


def test_gain_changes_rms_by_the_drawn_db():
    chain, x = only("gain"), views()
    params = chain.sample_parameters(x.shape[0], seeded(1))
    out = chain.apply(x, params)
    measured = 20 * torch.log10(rms(out) / rms(x))
    assert torch.allclose(measured, params.gain_db, atol=1e-3)


def test_polarity_flips_the_sign():
    x = views()
    assert torch.equal(only("polarity")(x, generator=seeded(0)), -x)


def test_noise_reaches_the_drawn_snr():
    chain, x = only("noise"), views()
    params = chain.sample_parameters(x.shape[0], seeded(2))
    out = chain.apply(x, params, seeded(3))
    measured = 10 * torch.log10(x.pow(2).mean(-1) / (out - x).pow(2).mean(-1))
    assert torch.allclose(measured, params.noise_snr_db, atol=0.01)


def test_noise_colour_follows_the_decay():
    x = torch.zeros(3, RATE) + 1e-3
    decays = torch.tensor([-2.0, 0.0, 2.0])
    noise = add_coloured_noise(x, torch.zeros(3), decays, seeded(4)) - x
    power = torch.fft.rfft(noise).abs().pow(2)  # (3, F)
    octave_edges = [(250, 500), (2000, 4000)]
    low, high = (power[:, lo:hi].mean(dim=-1) for lo, hi in octave_edges)  # 1 Hz bins
    slope = torch.log2(high / low) / math.log2(2000 / 250)  # power per octave, as an exponent
    assert torch.allclose(slope, -decays, atol=0.2)


@pytest.mark.parametrize("kind", FILTER_KINDS)
def test_filters_remove_the_stop_band_and_keep_the_pass_band(kind):
    x = views(batch=1, seed=5).repeat(2, 1)
    kinds = torch.full((2,), FILTER_KINDS.index(kind))
    cutoff = torch.tensor([500.0, 1500.0])
    band = torch.tensor([[500.0, 1500.0], [1000.0, 3000.0]])
    out = apply_frequency_response(x, lambda f: filter_response(f, kinds, cutoff, band, order=4), RATE)
    low_edge = cutoff if kind in ("lowpass", "highpass") else band[:, 0]
    high_edge = cutoff if kind in ("lowpass", "highpass") else band[:, 1]
    for row in range(2):
        below = (20.0, float(low_edge[row]) / 2)
        above = (float(high_edge[row]) * 2, RATE / 2)
        inside = (float(low_edge[row]) * 1.3, float(high_edge[row]) / 1.3)
        kept = {
            "lowpass": [below],
            "highpass": [above],
            "bandpass": [inside],
            "bandstop": [below, above],
        }[kind]
        removed = {
            "lowpass": [above],
            "highpass": [below],
            "bandpass": [below, above],
            "bandstop": [inside],
        }[kind]
        for low_hz, high_hz in kept:
            ratio = band_energy(out[row], low_hz, high_hz) / band_energy(x[row], low_hz, high_hz)
            assert ratio > 0.75, (kind, row, low_hz, high_hz, ratio)
        for low_hz, high_hz in removed:
            ratio = band_energy(out[row], low_hz, high_hz) / band_energy(x[row], low_hz, high_hz)
            assert ratio < (0.02 if kind != "bandstop" else 0.3), (kind, row, low_hz, high_hz, ratio)


def test_chain_filter_lowpass_removes_energy_above_its_drawn_cutoff():
    chain = only("filter", lowpass_cutoff_hz=(300.0, 2000.0))
    x = views(batch=32, seed=6)
    params = chain.sample_parameters(32, seeded(6))
    out = chain.apply(x, params)
    for row in (params.filter_kind == FILTER_KINDS.index("lowpass")).nonzero().flatten().tolist():
        cutoff = float(params.filter_cutoff_hz[row])
        assert 300.0 <= cutoff <= 2000.0
        assert band_energy(out[row], 2 * cutoff, RATE / 2) < 0.02 * band_energy(x[row], 2 * cutoff, RATE / 2)


def test_pitch_shift_moves_a_sine_by_the_drawn_ratio():
    tone = torch.sin(2 * math.pi * 440.0 * torch.arange(RATE) / RATE).repeat(5, 1)
    chain = only("pitch")
    params = chain.sample_parameters(5, seeded(9))
    out = chain.apply(tone, params)
    expected = 440.0 * 2.0 ** (params.pitch_semitones / 12.0)
    assert out.shape == tone.shape
    assert torch.allclose(peak_hz(out), expected, atol=2.0)
    assert torch.allclose(rms(out[:, 2000:-2000]), rms(tone), rtol=0.05)  # tempo and level kept


def test_pitch_shift_keeps_the_tempo():
    clicks = torch.zeros(1, RATE)
    positions = [2000, 6000, 10000, 14000]
    clicks[0, positions] = 1.0
    offsets = torch.arange(-1500, 1500)
    for semitones in (-4.0, 4.0):  # a plain speed change would move them by 1000 to 1700 samples on average
        out = pitch_shift(clicks, torch.tensor([semitones]), 1024, 256, 8)[0]
        errors = []
        for position in positions:
            energy = out[position - 1500 : position + 1500].pow(2)  # the phase vocoder smears a click
            errors.append(abs(float((energy * offsets).sum() / energy.sum())))
        assert sum(errors) / len(errors) < 400, (semitones, errors)


def test_delay_adds_echoes_at_the_drawn_lag():
    chain = only("delay")
    impulse = torch.zeros(8, RATE)
    impulse[:, 100] = 1.0
    params = chain.sample_parameters(8, seeded(10))
    out = chain.apply(impulse, params)
    for row in range(8):
        lag, echoes = int(params.delay_samples[row]), int(params.delay_echoes[row])
        expected = torch.zeros(RATE)
        for echo in range(echoes + 1):
            if 100 + echo * lag < RATE:
                expected[100 + echo * lag] = 0.5 * 0.5**echo
        assert torch.allclose(out[row], expected, atol=1e-7), row


def test_yaml_lists_every_knob_at_the_code_defaults():
    text = TRAIN_CHAIN_YAML.read_text()
    for name in inspect.signature(AugmentationChain).parameters:
        assert f"\n    {name}:" in text, f"{name} missing from {TRAIN_CHAIN_YAML.name}"
    from_yaml = load_hyperpyyaml(text, {"sample_rate": RATE})["augmentation"]
    from_code = AugmentationChain(RATE)
    assert isinstance(from_yaml, AugmentationChain)
    knobs = {name: value for name, value in vars(from_code).items() if not name.startswith("_") and name != "training"}
    assert len(knobs) > 20
    for name, value in knobs.items():
        assert tuple(getattr(from_yaml, name)) == value if isinstance(value, tuple) else getattr(from_yaml, name) == value, name
