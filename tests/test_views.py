"""Views: adjacent crops, the short-file fallback, errors, odd formats."""

import numpy as np
import pytest
import soundfile
import torch

from semisupcon_recipe.views import TooShortError, ViewReader, view_starts


@pytest.mark.parametrize("num_views", [2, 3, 4])
def test_adjacent_non_overlapping_crops_inside_the_file(num_views):
    rng = np.random.default_rng(0)
    for _ in range(50):
        starts = view_starts(50_000, 4_000, num_views, rng)
        assert len(starts) == num_views
        assert (np.diff(starts) == 4_000).all()
        assert starts[0] >= 0 and starts[-1] + 4_000 <= 50_000


def test_short_file_falls_back_to_independent_crops():
    rng = np.random.default_rng(0)
    starts = np.stack([view_starts(6_000, 4_000, 2, rng) for _ in range(200)])
    assert starts.min() >= 0 and starts.max() <= 2_000
    assert (np.diff(starts, axis=1) != 4_000).any()


def test_file_shorter_than_one_crop_is_an_error():
    with pytest.raises(TooShortError):
        view_starts(3_999, 4_000, 2, np.random.default_rng(0))


def test_reader_crops_are_the_audio_at_the_drawn_offsets(tmp_path):
    ramp = (np.arange(48_000) / 48_000).astype("float32")
    path = tmp_path / "ramp.wav"
    soundfile.write(path, ramp, 16_000, subtype="FLOAT")
    reader = ViewReader(sample_rate=16_000, clip_len=4_000, num_views=3)
    views = reader.read(path, np.random.default_rng(3))
    starts = view_starts(48_000, 4_000, 3, np.random.default_rng(3))
    assert views.shape == (3, 4_000)
    for view, start in zip(views, starts):
        torch.testing.assert_close(view, torch.from_numpy(ramp[start : start + 4_000]))


def test_cached_and_segment_reads_agree_with_resampling(tmp_path):
    time = np.arange(44_100 * 2) / 44_100
    sine = 0.5 * np.sin(2 * np.pi * 110 * time)
    path = tmp_path / "stereo44k.wav"
    soundfile.write(path, np.stack([sine, sine], axis=1).astype("float32"), 44_100)
    segment_reader = ViewReader(16_000, 4_000, 2, cache_audio=False)
    cached_reader = ViewReader(16_000, 4_000, 2, cache_audio=True)
    a = segment_reader.read(path, np.random.default_rng(5))
    b = cached_reader.read(path, np.random.default_rng(5))
    assert a.shape == b.shape == (2, 4_000)
    # Segment-wise resampling differs from whole-file resampling only near the edges
    # and by a sub-sample alignment (at most half a source sample).
    assert torch.allclose(a[:, 100:-100], b[:, 100:-100], atol=0.01)
    assert not torch.allclose(a[0], a[1], atol=0.01)


def test_fewer_than_two_views_refused():
    with pytest.raises(ValueError, match="num_views"):
        ViewReader(16_000, 4_000, num_views=1)
