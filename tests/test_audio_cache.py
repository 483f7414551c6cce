"""`semisupcon cache`: decode once, read views that match on-the-fly decoding."""

import math

import numpy as np
import pytest
import soundfile
import torch

from semisupcon_recipe.audio_cache import CacheRateError, cached_name
from semisupcon_recipe.cli import main as cli
from semisupcon_recipe.data import EpochSeed
from semisupcon_recipe.manifest import read_manifest, write_manifest
from semisupcon_recipe.views import ViewReader

RATE = 22050


def music(seconds, rate, channels, seed):
    rng = np.random.default_rng(seed)
    time = np.arange(int(seconds * rate)) / rate
    mono = sum(0.1 * np.sin(2 * np.pi * f * time + rng.uniform(0, 6)) for f in rng.uniform(60, 8000, 12))
    return np.stack([mono * (1 - 0.2 * c) for c in range(channels)], axis=1).astype("float32")


@pytest.fixture
def sources(tmp_path):
    """44.1 kHz stereo wav and mp3, a 22,050 Hz mono wav, and one corrupt file, in one manifest."""
    files = {
        "stereo 44k/wav": ("a.wav", 44100, 2),
        "mp3": ("b.mp3", 44100, 2),
        "native": ("c.wav", RATE, 1),
    }
    rows = []
    for index, (item_id, (name, rate, channels)) in enumerate(files.items()):
        soundfile.write(tmp_path / name, music(4.0, rate, channels, index), rate)
        rows.append({"ID": item_id, "duration": 4.0, "wav": f"$data_root/{name}", "labels": "rock;new age" if index else ""})
    (tmp_path / "broken.wav").write_bytes(b"RIFF not really audio")
    rows.append({"ID": "broken", "duration": 4.0, "wav": "$data_root/broken.wav", "labels": ""})
    write_manifest(tmp_path / "train.csv", rows)
    return tmp_path


def run_cache(folder, rate=RATE, *extra):
    return cli(["cache", str(folder / "train.csv"), "--out", str(folder / "cache"), "--sample-rate", str(rate),
                "--data-root", str(folder), "--workers", "2", *extra])


def test_cached_views_match_views_decoded_on_the_fly(sources):
    assert run_cache(sources) == 0
    original = read_manifest(sources / "train.csv", {"data_root": str(sources)})
    cached = read_manifest(sources / "cache" / "train.csv")
    assert set(cached) == set(original) - {"broken"}
    reader = ViewReader(RATE, clip_len=RATE, num_views=2)
    seed = EpochSeed(3)
    for item_id, row in cached.items():
        assert row["labels"] == original[item_id]["labels"] and row["wav"].endswith(cached_name(item_id))
        for epoch in range(3):
            seed.epoch = epoch
            on_the_fly = reader.read(original[item_id]["wav"], seed.rng(item_id))  # (2, L)
            from_cache = reader.read(row["wav"], seed.rng(item_id))  # (2, L)
            assert from_cache.shape == on_the_fly.shape == (2, RATE) and from_cache.dtype == torch.float32
            if item_id == "native":  # no resampling: equal up to int16 rounding
                assert (from_cache - on_the_fly).abs().max() <= 0.5 / 32768 + 1e-7
            else:  # same crops; the segment's resampling edges differ from the whole file's
                error = ((from_cache - on_the_fly) ** 2).sum() / (on_the_fly**2).sum()
                assert 10 * math.log10(1 / float(error)) > 30


def test_unreadable_files_are_skipped_counted_and_listed(sources, capsys):
    assert run_cache(sources) == 0
    assert "skipped 1 unreadable" in capsys.readouterr().out
    assert "broken.wav" in (sources / "cache" / "skipped.txt").read_text()
    assert "broken" not in read_manifest(sources / "cache" / "train.csv")


def test_a_rerun_reuses_the_cached_files(sources, capsys):
    assert run_cache(sources) == 0
    audio = sorted((sources / "cache" / "audio").iterdir())
    stamps = [path.stat().st_mtime_ns for path in audio]
    capsys.readouterr()
    assert run_cache(sources) == 0
    assert "cached 0 file(s), reused 3" in capsys.readouterr().out
    assert [path.stat().st_mtime_ns for path in audio] == stamps


def test_a_cache_made_at_another_rate_is_refused_by_the_command_and_the_reader(sources, capsys):
    assert run_cache(sources, 16000) == 0
    capsys.readouterr()
    assert run_cache(sources, RATE) == 2
    assert "holds a cache at 16000 Hz" in capsys.readouterr().err
    path = read_manifest(sources / "cache" / "train.csv")["native"]["wav"]
    with pytest.raises(CacheRateError, match="cached at 16000 Hz but this run reads 22050 Hz"):
        ViewReader(RATE, clip_len=1000).read(path, np.random.default_rng(0))
    assert ViewReader(16000, clip_len=1000).read(path, np.random.default_rng(0)).shape == (2, 1000)


def test_every_file_failing_exits_1(tmp_path):
    (tmp_path / "x.wav").write_bytes(b"nothing")
    write_manifest(tmp_path / "train.csv", [{"ID": "x", "duration": 1.0, "wav": str(tmp_path / "x.wav"), "labels": ""}])
    assert run_cache(tmp_path) == 1


@pytest.mark.parametrize("flag, value", [("--sample-rate", "0"), ("--workers", "0"), ("--clips-per-shard", "-1")])
def test_non_positive_settings_are_usage_errors(sources, capsys, flag, value):
    command = ["cache", str(sources / "train.csv"), "--out", str(sources / "cache"), "--sample-rate", "22050", flag, value]
    with pytest.raises(SystemExit) as stopped:
        cli(command)
    assert stopped.value.code == 2
    assert f"argument {flag}: must be a positive integer" in capsys.readouterr().err
