"""The baselines of the demo's tables, written as model folders that ``semisupcon evaluate``
probes exactly like a pretraining run (``encoder_spec.yaml`` + a verified checkpoint):

- ``models/handcrafted``: :class:`HandcraftedFeatures`, MFCC + chroma + spectral-contrast
  statistics computed with librosa (no training at all);
- ``models/random/<seed>``: the demo encoder as its SSL-only pretraining starts (the same
  yaml, overrides and seed), before any optimizer step.

A reader sees what pretraining adds over each.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from semisupcon_recipe.demo.settings import DemoSettings


class HandcraftedFeatures(nn.Module):
    """``(B, T) -> (B, D)``: mean and std over time of MFCCs, chroma and spectral contrast.

    Computed with librosa from one magnitude STFT per clip: ``n_mfcc`` MFCCs of a mel
    spectrogram in dB, 12 chroma bins, ``contrast_bands + 1`` spectral-contrast bands,
    so ``D = 2 * (n_mfcc + 12 + contrast_bands + 1)``. The settings are kept as a buffer,
    so they are part of the checkpoint (and of the feature cache's key).

    Example
    -------
    >>> features = HandcraftedFeatures(sample_rate=16000)
    >>> features(torch.randn(2, 16000)).shape, features.embedding_dim
    (torch.Size([2, 76]), 76)
    """

    def __init__(self, sample_rate: int, n_mfcc: int = 20, n_mels: int = 64, n_fft: int = 2048, hop_length: int = 512,
                 contrast_bands: int = 5) -> None:
        super().__init__()
        self.sample_rate = int(sample_rate)
        self.register_buffer("settings", torch.tensor([n_mfcc, n_mels, n_fft, hop_length, contrast_bands]))
        self.embedding_dim = 2 * (n_mfcc + 12 + contrast_bands + 1)

    def forward(self, waveforms: torch.Tensor) -> torch.Tensor:
        """Features ``(B, D)`` of waveforms ``(B, T)``."""
        rows = [self._clip_features(clip) for clip in waveforms.detach().float().cpu().numpy()]
        return torch.from_numpy(np.stack(rows)).to(waveforms.device)  # (B, D)

    def _clip_features(self, clip: np.ndarray) -> np.ndarray:
        import librosa

        n_mfcc, n_mels, n_fft, hop_length, contrast_bands = (int(value) for value in self.settings)
        magnitude = np.abs(librosa.stft(clip, n_fft=n_fft, hop_length=hop_length))  # (F, frames)
        mel = librosa.feature.melspectrogram(S=magnitude**2, sr=self.sample_rate, n_mels=n_mels)  # (n_mels, frames)
        frames = np.concatenate([
            librosa.feature.mfcc(S=librosa.power_to_db(mel), n_mfcc=n_mfcc),  # (n_mfcc, frames)
            librosa.feature.chroma_stft(S=magnitude**2, sr=self.sample_rate),  # (12, frames)
            librosa.feature.spectral_contrast(S=magnitude, sr=self.sample_rate, n_bands=contrast_bands),  # (bands + 1, frames)
        ])
        return np.concatenate([frames.mean(axis=1), frames.std(axis=1)]).astype(np.float32)  # (D,)


def save_encoder_checkpoint(folder: Path, encoder: nn.Module) -> Path:
    """Save ``encoder`` as the verified checkpoint of the model folder ``folder`` (once).

    Example
    -------
    >>> import tempfile
    >>> from semisupcon_recipe.checkpoints import load_encoder_from_checkpoint
    >>> folder = handcrafted_model(Path(tempfile.mkdtemp()), sample_rate=16000, clip_len=8000)
    >>> loaded = load_encoder_from_checkpoint(folder)
    >>> type(loaded.module).__name__, loaded.clip_len
    ('HandcraftedFeatures', 8000)
    """
    from semisupcon_recipe.checkpoints import VerifiedCheckpointer

    checkpointer = VerifiedCheckpointer(folder / "save", {"encoder": encoder})
    if not checkpointer.list_checkpoints():
        checkpointer.save_checkpoint()
    return folder


def handcrafted_model(folder: Path, sample_rate: int, clip_len: int) -> Path:
    """The handcrafted-features baseline as a model folder (written once)."""
    import yaml

    from semisupcon_recipe.encoder_spec import SPEC_FILE
    from semisupcon_recipe.files import atomic_write_text

    encoder = HandcraftedFeatures(sample_rate)
    spec = {
        "sample_rate": sample_rate, "clip_len": clip_len, "embedding_dim": encoder.embedding_dim,
        "encoder": {"class": "semisupcon_recipe.demo.baselines.HandcraftedFeatures", "kwargs": {"sample_rate": sample_rate}},
    }
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_text(folder / SPEC_FILE, yaml.safe_dump(spec, sort_keys=False))
    return save_encoder_checkpoint(folder, encoder)


def random_init_model(settings: DemoSettings, model: str, seed: int, manifests: dict, folder: Path) -> Path:
    """The encoder of ``model``'s pretraining of ``seed`` before its first step, as a model folder.

    The pretraining yaml seeds everything (``seed_everything``) before it builds the
    encoder, so loading it with the run's overrides rebuilds the run's initial weights.
    """
    from hyperpyyaml import load_hyperpyyaml

    from semisupcon_recipe.demo.models import pretraining_overrides
    from semisupcon_recipe.encoder_spec import write_encoder_spec

    yaml_file, overrides = pretraining_overrides(settings, model, seed, manifests, folder)
    with open(yaml_file, encoding="utf-8") as stream:
        hparams = load_hyperpyyaml(stream, overrides)
    write_encoder_spec(yaml_file, overrides, folder)
    return save_encoder_checkpoint(folder, hparams["encoder"])
