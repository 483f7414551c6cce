"""SpeechBrain inference: from_hparams on an export folder, offline; encode_batch / encode_file."""

from __future__ import annotations

import shutil
import socket

import pytest
import soundfile
import torch
from interop_fixtures import exported_model, tone  # noqa: F401  (session fixture)
from speechbrain.utils.fetching import LocalStrategy

from semisupcon_recipe.checkpoints import CheckpointError
from semisupcon_recipe.exported import load_exported
from semisupcon_recipe.interop.speechbrain_inference import SemiSupConEncoder
from semisupcon_recipe.interop.windows import SlidingWindowEncoder


def refuse_network(*args, **kwargs):
    raise RuntimeError("network access attempted")


@pytest.fixture
def offline(monkeypatch):
    """No network: the hub client in offline mode and every socket connection refused."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(socket.socket, "connect", refuse_network)
    monkeypatch.setattr(socket, "create_connection", refuse_network)
    monkeypatch.setattr(socket, "getaddrinfo", refuse_network)


@pytest.mark.parametrize("strategy", [LocalStrategy.SYMLINK, LocalStrategy.COPY, LocalStrategy.NO_LINK])
def test_from_hparams_offline_with_every_local_strategy(exported_model, tmp_path, offline, strategy):
    savedir = tmp_path / "savedir"
    model = SemiSupConEncoder.from_hparams(source=str(exported_model), savedir=str(savedir), local_strategy=strategy)
    assert model.sample_rate == 16000 and model.embedding_dim == 64
    assert not model.mods.encoder.training
    assert all(not parameter.requires_grad for parameter in model.mods.encoder.parameters())
    if strategy is not LocalStrategy.NO_LINK:
        assert all((savedir / name).exists() for name in ("encoder.safetensors", "hyperparams.yaml", "export.json"))
    encoder, manifest = load_exported(exported_model)
    waves = torch.randn(2, 20000) * 0.1
    with torch.no_grad():
        expected = SlidingWindowEncoder(encoder, manifest["window"], manifest["hop"]).track(waves)
    assert torch.allclose(model.encode_batch(waves), expected, atol=1e-6)


def test_relative_lengths_ignore_padding(exported_model):
    model = SemiSupConEncoder.from_hparams(source=str(exported_model))
    short, long = torch.randn(6000) * 0.1, torch.randn(24000) * 0.1
    batch = torch.stack([torch.nn.functional.pad(short, (0, 18000)), long])
    together = model.encode_batch(batch, torch.tensor([0.25, 1.0]))
    assert together.shape == (2, 64)
    assert torch.allclose(together[0], model.encode_batch(short.unsqueeze(0))[0], atol=1e-5)
    assert torch.allclose(together[1], model.encode_batch(long.unsqueeze(0))[0], atol=1e-5)
    padded_as_audio = model.encode_batch(batch[:1])
    assert (padded_as_audio[0] - together[0]).abs().max() > 1e-4  # the lengths really matter


def test_encode_file_reads_resamples_and_matches_batch(exported_model, tmp_path):
    model = SemiSupConEncoder.from_hparams(source=str(exported_model))
    wave = tone(440.0, 1.2)
    soundfile.write(tmp_path / "tone.wav", wave, 16000)
    stereo_44k = torch.stack([torch.from_numpy(tone(440.0, 1.2, 44100))] * 2, dim=1).numpy()
    soundfile.write(tmp_path / "tone44k.flac", stereo_44k, 44100)
    embedding = model.encode_file(tmp_path / "tone.wav")
    assert embedding.shape == (1, 64)
    assert torch.allclose(embedding, model.encode_batch(torch.from_numpy(wave).unsqueeze(0)), atol=1e-6)
    resampled = model.encode_file(str(tmp_path / "tone44k.flac"))
    assert torch.nn.functional.cosine_similarity(resampled, embedding).item() > 0.99


def test_tampered_weights_refused_by_from_hparams(exported_model, tmp_path):
    folder = tmp_path / "tampered"
    shutil.copytree(exported_model, folder)
    raw = bytearray((folder / "encoder.safetensors").read_bytes())
    raw[-1] ^= 0x01
    (folder / "encoder.safetensors").write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match="sha256"):
        SemiSupConEncoder.from_hparams(source=str(folder), savedir=str(tmp_path / "savedir"))
