"""The demo's evidence: paired intervals, supervision diagnostics, baselines and the key map."""

import math

import librosa
import numpy as np
import pytest
import torch
from scipy import stats

from semisupcon_recipe.demo.baselines import HandcraftedFeatures
from semisupcon_recipe.demo.diagnostics import labeled_draw_counts, positive_shares
from semisupcon_recipe.demo.plots import fifths_position
from semisupcon_recipe.demo.report import difference_table
from semisupcon_recipe.demo.settings import DemoSettings
from semisupcon_recipe.demo.statistics import WITHIN, paired_difference

SSL_ONLY = [0.483, 0.512, 0.475]


@pytest.mark.parametrize(
    ("semisupcon", "expected"),
    [
        ([0.546, 0.566, 0.547], "higher"),  # +6.3 +5.4 +7.2: the interval stays above 0
        ([0.500, 0.505, 0.490], WITHIN),  # +1.7 -0.7 +1.5: the interval crosses 0
        ([0.440, 0.470, 0.440], "lower"),  # -4.3 -4.2 -3.5
    ],
)
def test_paired_difference_gives_scipys_paired_t_interval_and_reads_it(semisupcon, expected):
    result = paired_difference(SSL_ONLY, semisupcon)
    reference = stats.ttest_rel(semisupcon, SSL_ONLY).confidence_interval(0.95)
    assert result["low"] == pytest.approx(reference.low) and result["high"] == pytest.approx(reference.high)
    assert result["per_seed"] == pytest.approx([b - a for a, b in zip(SSL_ONLY, semisupcon)])
    assert result["mean"] == pytest.approx(np.mean(semisupcon) - np.mean(SSL_ONLY))
    assert result["reading"] == expected


def test_a_gain_on_every_seed_is_not_called_higher_when_the_interval_includes_zero():
    # +1, +1, +15 points: higher on every seed, but the spread makes the interval cross 0.
    result = paired_difference([0.30, 0.30, 0.30], [0.31, 0.31, 0.45])
    assert all(value > 0 for value in result["per_seed"]) and result["low"] < 0
    assert result["reading"] == WITHIN
    assert "within seed spread" in difference_table([{"task": "key", "supervised": True, "metric": "accuracy", "paired": result}],
                                                    ["ssl", "semisupcon"])


def test_one_seed_has_no_interval_and_is_never_called_higher():
    result = paired_difference([0.3], [0.9])
    assert math.isnan(result["low"]) and result["reading"] == WITHIN
    row = {"task": "mode", "supervised": False, "metric": "accuracy", "paired": result}
    assert "n/a (one seed)" in difference_table([row], ["ssl", "semisupcon"])


def test_draw_counts_replay_every_labeled_draw_of_the_run():
    settings = DemoSettings(batch_size=32, labeled_share=0.25, batches_per_epoch=50, epochs=6, labeled_sampling="uniform")
    counts = labeled_draw_counts(settings, seed=0, labeled=240, unlabeled=4560)
    assert len(counts) == 240 and sum(counts) == 6 * 50 * 8  # 8 labeled clips in each of 300 batches
    # Each epoch starts a fresh permutation of the pool: 400 draws of 240 clips give every clip 1 or 2 draws.
    assert 6 <= min(counts) and max(counts) <= 12
    assert counts == labeled_draw_counts(settings, seed=0, labeled=240, unlabeled=4560)
    assert counts != labeled_draw_counts(settings, seed=1, labeled=240, unlabeled=4560)


def test_positive_shares_turn_the_logged_objective_statistics_into_shares(tmp_path):
    log = tmp_path / "train_log.txt"
    log.write_text(
        "epoch: 1, lr: 1.00e-03, optimizer_step: 50 - train loss: 3.61, train positives_self: 1.00e+00, "
        "train positives_label: 1.25e-01, train labeled_fraction: 2.50e-01, train skipped_items: 0\n"
        "epoch: 2, lr: 1.00e-03, optimizer_step: 100 - train loss: 2.79, train positives_self: 1.00e+00, "
        "train positives_label: 3.75e-01, train labeled_fraction: 2.50e-01, train skipped_items: 0\n"
    )
    shares = positive_shares(log)
    # mean label-derived weight per anchor 0.25 over all anchors, a quarter of them labeled: 1 per labeled anchor
    assert shares == {"label_positives_per_labeled_anchor": 1.0, "label_share_per_labeled_anchor": 0.5,
                      "label_share_per_batch": 0.2}
    log.write_text("epoch: 1, lr: 1.00e-03, optimizer_step: 50 - train loss: 3.57, train ssl_loss: 3.55\n")  # BEST-RQ alone
    assert positive_shares(log) is None


def test_handcrafted_features_are_librosas_mfcc_chroma_and_contrast_statistics():
    clip = np.sin(2 * np.pi * 440 * np.arange(16000) / 16000).astype(np.float32) + 0.01 * np.random.default_rng(0).standard_normal(16000).astype(np.float32)
    features = HandcraftedFeatures(sample_rate=16000)(torch.from_numpy(np.stack([clip, 0.5 * clip])))  # (2, 76)
    assert features.shape == (2, 76) and torch.isfinite(features).all()
    magnitude = np.abs(librosa.stft(clip, n_fft=2048, hop_length=512))
    chroma = librosa.feature.chroma_stft(S=magnitude**2, sr=16000)  # (12, frames)
    np.testing.assert_allclose(features[0, 20:32].numpy(), chroma.mean(axis=1), rtol=1e-5)
    assert int(np.argmax(features[0, 20:32].numpy())) == 9  # A 440 Hz: pitch class A
    contrast = librosa.feature.spectral_contrast(S=magnitude, sr=16000, n_bands=5)
    np.testing.assert_allclose(features[0, 38 + 32:].numpy(), contrast.std(axis=1), rtol=1e-4)


def test_the_key_map_places_tonics_on_the_circle_of_fifths():
    order = [fifths_position(f"{tonic} major")[0] for tonic in ("C", "G", "D", "A", "E", "B", "F#", "Db", "Ab", "Eb", "Bb", "F")]
    assert order == list(range(12))
    assert fifths_position("Gb minor") == fifths_position("F# minor") == (6, "minor")
