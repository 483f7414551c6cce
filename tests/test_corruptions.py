"""The robustness corruption suite: each corruption changes the audio as named, keeps the length."""

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from hyperpyyaml import load_hyperpyyaml
from test_augment import one_thread  # noqa: F401  (autouse: one torch thread for small tensors)

from semisupcon_recipe.corruptions import CORRUPTIONS, corrupt, item_seed
from semisupcon_recipe.evaluate import corruption_parameters
from semisupcon_recipe.features import CorruptionSpec, FeatureCache
from semisupcon_recipe.manifest import write_manifest

RATE = 16000
REPO = Path(__file__).resolve().parents[1]
CORRUPTIONS_YAML = REPO / "hparams" / "augment" / "corruptions.yaml"
RANDOM_DRAWS = ("chain", "time_stretch", "splice_out")


@pytest.fixture(scope="module")
def music():
    """One second of a decaying two-note tone with a little noise, peak about 0.5."""
    time = np.arange(RATE) / RATE
    rng = np.random.default_rng(0)
    notes = np.sin(2 * np.pi * 330 * time) + 0.5 * np.sin(2 * np.pi * 495 * time)
    envelope = np.exp(-3.0 * (time % 0.25))
    return (0.35 * notes * envelope + 0.01 * rng.standard_normal(RATE)).astype(np.float32)


def pulse_period(audio, low, high):
    """Lag in samples (between low and high) of the strongest autocorrelation peak."""
    envelope = np.abs(audio) - np.abs(audio).mean()
    correlation = np.correlate(envelope, envelope, mode="full")[envelope.size - 1 :]
    return low + int(np.argmax(correlation[low:high]))


@pytest.mark.parametrize("name", list(CORRUPTIONS))
def test_each_corruption_changes_audio_and_keeps_length(name, music):
    out = corrupt(music, RATE, name, severity=2, seed=1, **({"p_chain": 1.0} if name == "chain" else {}))
    assert isinstance(out, np.ndarray) and out.dtype == np.float32 and out.shape == music.shape
    assert np.isfinite(out).all()
    assert np.abs(out - music).max() > 1e-2


@pytest.mark.parametrize("name", list(CORRUPTIONS))
def test_severity_zero_is_exactly_the_identity(name, music):
    out = corrupt(music, RATE, name, severity=0, seed=1)
    assert np.array_equal(out, music) and out is not music


@pytest.mark.parametrize("name", list(CORRUPTIONS))
def test_fixed_seed_gives_identical_output(name, music):
    first = corrupt(music, RATE, name, severity=3, seed=5)
    assert np.array_equal(first, corrupt(music, RATE, name, severity=3, seed=5))


@pytest.mark.parametrize("name", RANDOM_DRAWS)
def test_seed_changes_the_draw(name, music):
    outputs = [corrupt(music, RATE, name, severity=4, seed=seed, **({"p_chain": 1.0} if name == "chain" else {})) for seed in (0, 1)]
    assert not np.array_equal(*outputs)


@pytest.mark.parametrize("name", ["reverb", "chorus", "distortion", "compression", "bit_crush", "mp3", "splice_out"])
def test_higher_severity_changes_more(name, music):
    distance = [np.abs(corrupt(music, RATE, name, severity, seed=2) - music).mean() for severity in (1, 4)]
    assert distance[1] > distance[0], distance


def test_torch_in_torch_out(music):
    out = corrupt(torch.from_numpy(music), RATE, "distortion", 2)
    assert torch.is_tensor(out) and out.dtype == torch.float32 and out.shape == (RATE,)


@pytest.mark.parametrize("bad", ["wobble", "Reverb", ""])
def test_unknown_names_are_refused(bad, music):
    with pytest.raises(ValueError, match="unknown corruption.*choose one of chain"):
        corrupt(music, RATE, bad, 2)


@pytest.mark.parametrize("severity", [-1, 5, 2.5, True, "2"])
def test_bad_severities_are_refused(severity, music):
    with pytest.raises(ValueError, match="severity must be an integer in"):
        corrupt(music, RATE, "reverb", severity)


def test_stereo_is_refused_with_a_fix(music):
    with pytest.raises(ValueError, match="average the channels"):
        corrupt(np.stack([music, music]), RATE, "reverb", 2)


def test_reversal_reverses_the_clip(music):
    assert np.array_equal(corrupt(music, RATE, "reversal", 2), music[::-1])
    partial = corrupt(music, RATE, "reversal", 1, seed=3)  # half of the clip, in place
    changed = np.flatnonzero(partial != music)
    assert RATE // 2 - 2 <= changed[-1] - changed[0] + 1 <= RATE // 2


def test_time_stretch_changes_the_tempo_within_range():
    clicks = np.zeros(2 * RATE, dtype=np.float32)
    clicks[:: RATE // 4] = 1.0  # 4 per second
    period = RATE // 4
    for seed in range(3):
        out = corrupt(clicks, RATE, "time_stretch", severity=2, seed=seed)
        factor = period / pulse_period(out, int(period / 1.4), int(period / 0.6))
        assert 0.68 <= factor <= 1.32 and abs(factor - 1.0) > 0.005, factor


def test_splice_out_removes_short_gaps_and_pads_the_end():
    ramp = np.linspace(0.1, 1.0, RATE, dtype=np.float32)
    out = corrupt(ramp, RATE, "splice_out", severity=2, seed=4)
    kept = out[out != 0.0]
    assert np.all(np.diff(kept) > 0)  # the rest is joined in order
    removed = RATE - kept.size
    assert 1 <= removed <= 0.1 * RATE  # one gap per second, at most 100 ms
    assert np.all(out[kept.size :] == 0.0)


def test_distortion_applies_the_drive(music):
    out = corrupt(music, RATE, "distortion", 2)
    assert np.allclose(out, np.tanh(music * 10 ** (9 / 20)), atol=1e-5)


def test_compression_reduces_the_dynamic_range():
    tone = np.sin(2 * np.pi * 440 * np.arange(RATE) / RATE).astype(np.float32)
    tone[: RATE // 2] *= 0.5  # -9 dB RMS, then 20 dB quieter: both above the -30 dB threshold
    tone[RATE // 2 :] *= 0.05
    out = corrupt(tone, RATE, "compression", 2)

    def level_gap_db(audio):
        loud, quiet = audio[RATE // 4 : RATE // 2], audio[3 * RATE // 4 :]  # settled halves
        return 20 * np.log10(np.sqrt(np.mean(loud**2)) / np.sqrt(np.mean(quiet**2)))

    assert level_gap_db(tone) == pytest.approx(20.0, abs=0.01)
    assert level_gap_db(out) == pytest.approx(4.0, abs=0.5)  # 5:1 above threshold: 20 dB -> 4 dB


def test_bit_crush_quantises_to_four_bits(music):
    out = corrupt(music, RATE, "bit_crush", 2)
    assert np.allclose(out * 16, np.round(out * 16), atol=1e-5)
    assert np.abs(out - music).max() <= 1 / 32 + 1e-6


def test_mp3_is_aligned_with_the_original(music):
    out = corrupt(music, RATE, "mp3", 2)
    middle = slice(2000, RATE - 2000)
    lags = range(-300, 301)
    best = max(lags, key=lambda lag: float(np.dot(out[2000 + lag : RATE - 2000 + lag], music[middle])))
    assert best == 0
    with pytest.raises(ValueError, match="mp3 corruption at 12345 Hz"):
        corrupt(music, 12345, "mp3", 2)


def test_reverb_adds_a_tail():
    click = np.zeros(RATE, dtype=np.float32)
    click[0] = 1.0
    assert np.abs(corrupt(click, RATE, "reverb", 2)[RATE // 4 :]).max() > 1e-3


def test_item_seed_is_stable_and_distinct():
    assert item_seed("a", 0) == item_seed("a", 0)
    assert len({item_seed(f"track{i}", 0) for i in range(100)}) == 100


def test_yaml_holds_every_corruption_with_the_code_defaults(music):
    blocks = load_hyperpyyaml(CORRUPTIONS_YAML.read_text())
    assert list(blocks) == list(CORRUPTIONS)
    for name in ("distortion", "bit_crush", "compression"):
        from_yaml = corrupt(music, RATE, name, 2, 0, **blocks[name])
        assert np.array_equal(from_yaml, corrupt(music, RATE, name, 2, 0))  # yaml = code defaults


def spec_from_hparams(hparams: Path, name: str) -> CorruptionSpec:
    """The corruption ``semisupcon robustness`` builds from a tasks file including ``hparams/probe/features.yaml``."""
    with open(hparams / "probe" / "features.yaml", encoding="utf-8") as stream:
        features = load_hyperpyyaml(stream)
    params = corruption_parameters(features, [name], "tasks.yaml")[name]
    return CorruptionSpec(name, 2, features["corruption_seed"], params=params)


def test_editing_the_yaml_changes_the_corrupted_audio_and_the_feature_cache_key(music, tmp_path):
    edited_hparams = tmp_path / "hparams"
    shutil.copytree(REPO / "hparams", edited_hparams)
    path = edited_hparams / "augment" / "corruptions.yaml"
    path.write_text(path.read_text().replace("drive_db: 9.0", "drive_db: 18.0"))
    original, edited = spec_from_hparams(REPO / "hparams", "distortion"), spec_from_hparams(edited_hparams, "distortion")
    assert (original.params, edited.params) == ({"drive_db": 9.0}, {"drive_db": 18.0})
    waveform = torch.from_numpy(music)  # (T,)
    expected = corrupt(music, RATE, "distortion", 2, edited.track_seed("a"), drive_db=18.0)
    assert np.array_equal(edited.apply(waveform, RATE, "a").numpy(), expected)
    assert not torch.equal(edited.apply(waveform, RATE, "a"), original.apply(waveform, RATE, "a"))

    encoder = torch.nn.Linear(4, 4)
    encoder.sample_rate, encoder.embedding_dim = RATE, 4
    manifest = tmp_path / "m.csv"
    write_manifest(manifest, [{"ID": "a", "duration": 1.0, "wav": "a.wav"}])
    folders = {FeatureCache(encoder, manifest, tmp_path / "cache", 4, 1, corruption=spec).folder for spec in (original, edited)}
    assert len(folders) == 2  # features of the old parameters are never reused
