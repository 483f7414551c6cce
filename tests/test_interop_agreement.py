"""The same audio gives the same track (and frame) embeddings through s3prl, HEAR, SpeechBrain and the CLI."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile
import torch
from interop_fixtures import exported_model, tone  # noqa: F401  (session fixture)

import semisupcon_recipe.interop.s3prl  # noqa: F401  isort: skip  (registers the upstream; shims first)
from s3prl.nn import S3PRLUpstream  # isort: skip
from semisupcon_recipe.cli import main as cli_main
from semisupcon_recipe.interop import hear
from semisupcon_recipe.interop.speechbrain_inference import SemiSupConEncoder

TOLERANCE = 1e-5
RATE = 16000


def chirp(seconds: float) -> np.ndarray:
    time = np.arange(int(seconds * RATE)) / RATE
    return (0.5 * np.sin(2 * np.pi * (100.0 + 1000.0 * time) * time)).astype(np.float32)


CLIPS = {  # shorter than a window, a non-whole number of hops, several windows; different sounds
    "short_noise.wav": lambda: np.random.default_rng(0).normal(scale=0.3, size=int(0.2 * RATE)).astype(np.float32),
    "odd_tone.wav": lambda: tone(262.0, 3.3),
    "long_chirp.wav": lambda: chirp(6.0),
}


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    folder = tmp_path_factory.mktemp("agreement_audio")
    for name, make in CLIPS.items():
        soundfile.write(folder / name, make(), RATE, subtype="FLOAT")  # float samples: every reader sees the same audio
    return folder


@pytest.fixture(scope="module")
def embeddings(exported_model, clips, tmp_path_factory):
    """name -> {path: (track (D,), frames (N, D))} for every interop path."""
    upstream = S3PRLUpstream("semisupcon_local", path_or_url=str(exported_model)).eval()
    hear_model = hear.load_model(str(exported_model))
    speechbrain = SemiSupConEncoder.from_hparams(source=str(exported_model))
    out = tmp_path_factory.mktemp("agreement_cli")
    assert cli_main(["embed", str(clips), "--model", str(exported_model), "--out", str(out), "--frames"]) == 0
    results = {}
    for name in CLIPS:
        wave = torch.from_numpy(soundfile.read(clips / name, dtype="float32")[0])
        with torch.no_grad():
            hidden, lengths = upstream(wave.unsqueeze(0), torch.tensor([len(wave)]))
        s3prl_frames = hidden[-1][0, : lengths[-1][0]]
        hear_frames, _ = hear.get_timestamp_embeddings(wave.unsqueeze(0), hear_model)
        results[name] = {
            "s3prl": (s3prl_frames.mean(dim=0), s3prl_frames),
            "hear": (hear.get_scene_embeddings(wave.unsqueeze(0), hear_model)[0], hear_frames[0]),
            "speechbrain": (speechbrain.encode_file(clips / name)[0], None),
            "cli": (torch.from_numpy(np.load(out / f"{name}.npy")), torch.from_numpy(np.load(out / f"{name}.frames.npy"))),
        }
    return results


@pytest.mark.parametrize("name", sorted(CLIPS))
def test_track_embeddings_agree(embeddings, name):
    reference = embeddings[name]["hear"][0]
    assert reference.shape == (64,)
    for path, (track, _) in embeddings[name].items():
        assert track.shape == reference.shape, path
        assert torch.allclose(track.float(), reference, atol=TOLERANCE, rtol=0), (path, (track - reference).abs().max())


@pytest.mark.parametrize("name", sorted(CLIPS))
def test_frame_embeddings_agree(embeddings, name):
    reference = embeddings[name]["hear"][1]
    for path in ("s3prl", "cli"):
        frames = embeddings[name][path][1]
        assert frames.shape == reference.shape, path
        assert torch.allclose(frames.float(), reference, atol=TOLERANCE, rtol=0), path


def test_different_audio_gives_different_embeddings(embeddings):
    """The agreement above is meaningful: the sounds' embeddings differ far more than the tolerance."""
    tracks = [embeddings[name]["hear"][0] for name in sorted(CLIPS)]
    for first in range(len(tracks)):
        for second in range(first + 1, len(tracks)):
            assert (tracks[first] - tracks[second]).abs().max() > 20 * TOLERANCE
