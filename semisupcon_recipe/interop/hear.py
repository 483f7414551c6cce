"""HEAR API (https://hearbenchmark.com/hear-api.html) for exported SemiSupCon encoders.

Use the module itself as the HEAR module name: ``semisupcon_recipe.interop.hear`` with
``model_file_path`` = a folder written by ``semisupcon export``. Audio is expected at
``model.sample_rate`` (the encoder's rate). Timestamp embeddings are the frames of
:mod:`semisupcon_recipe.interop.windows` (one every ``hop`` samples, centred on the
timestamp); the scene embedding is their mean, the same track embedding as every other
interop path. Clips of any length work, including clips shorter than one window.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from semisupcon_recipe.interop.export import load_sliding_encoder
from semisupcon_recipe.interop.windows import SlidingWindowEncoder, frame_timestamps


class HearModel(nn.Module):
    """An exported encoder with the attributes the HEAR API requires.

    Attributes
    ----------
    sample_rate : int
        Rate of the audio given to the embedding functions.
    scene_embedding_size, timestamp_embedding_size : int
        ``D``.
    sliding : SlidingWindowEncoder
        The frame / track computation.
    """

    def __init__(self, sliding: SlidingWindowEncoder) -> None:
        super().__init__()
        self.sliding = sliding
        self.sample_rate = sliding.sample_rate
        self.scene_embedding_size = sliding.embedding_dim
        self.timestamp_embedding_size = sliding.embedding_dim


def load_model(model_file_path: str = "", device: str | torch.device = "cpu", trust_code: bool = False) -> HearModel:
    """Load an exported encoder as a HEAR model (in eval mode).

    Parameters
    ----------
    model_file_path : str
        The folder written by ``semisupcon export``. No default model is shipped.
    device : str or torch.device
        Where to put the model; the audio given later must be on the same device.
    trust_code : bool
        Accept an encoder class outside the allow-list (only for folders you trust);
        loading never runs code otherwise (see :func:`semisupcon_recipe.exported.load_exported`).

    Example
    -------
    >>> import tempfile
    >>> from semisupcon_recipe.interop.export import export_untrained_encoder
    >>> exported = export_untrained_encoder("recipes/Generic/pretrain/hparams/tiny_cpu.yaml", tempfile.mkdtemp())
    >>> model = load_model(str(exported))
    >>> model.sample_rate, model.scene_embedding_size
    (16000, 64)
    >>> embeddings, timestamps = get_timestamp_embeddings(torch.zeros(3, 10000), model)
    >>> tuple(embeddings.shape), timestamps[0].tolist()
    ((3, 3, 64), [0.0, 250.0, 500.0])
    >>> tuple(get_scene_embeddings(torch.zeros(3, 10000), model).shape)
    (3, 64)
    """
    if not model_file_path:
        raise ValueError(
            "semisupcon_recipe.interop.hear ships no default model: pass the folder written by "
            "`semisupcon export CHECKPOINT_DIR OUT_DIR` as model_file_path"
        )
    sliding, _ = load_sliding_encoder(Path(model_file_path), device=device, trust_code=trust_code)
    return HearModel(sliding).eval()


def _check_audio(audio: torch.Tensor) -> torch.Tensor:
    if audio.dim() != 2 or audio.shape[1] == 0:
        raise ValueError(f"HEAR audio must be (n_sounds, n_samples) with n_samples > 0, got shape {tuple(audio.shape)}")
    return audio.float()


def get_timestamp_embeddings(audio: torch.Tensor, model: HearModel) -> tuple[torch.Tensor, torch.Tensor]:
    """Frame embeddings and their centres.

    Parameters
    ----------
    audio : torch.Tensor
        ``(n_sounds, n_samples)`` at ``model.sample_rate``, on the model's device.
    model : HearModel
        From :func:`load_model`.

    Returns
    -------
    (torch.Tensor, torch.Tensor)
        Embeddings ``(n_sounds, n_timestamps, D)`` float32 and timestamps
        ``(n_sounds, n_timestamps)`` in milliseconds (``k * hop / sample_rate * 1000``).
    """
    audio = _check_audio(audio)  # (n_sounds, n_samples)
    with torch.no_grad():
        frames, counts = model.sliding.frames(audio)  # (n_sounds, N, D), (n_sounds,)
    stamps = frame_timestamps(frames.shape[1], model.sliding.hop, model.sample_rate).to(frames.device)  # (N,)
    return frames.float(), stamps.unsqueeze(0).expand(audio.shape[0], -1).contiguous()  # (n_sounds, N)


def get_scene_embeddings(audio: torch.Tensor, model: HearModel) -> torch.Tensor:
    """Scene embeddings ``(n_sounds, D)`` float32: the track embedding (mean of the frames).

    ``audio`` and ``model`` are as in :func:`get_timestamp_embeddings`.
    """
    audio = _check_audio(audio)  # (n_sounds, n_samples)
    with torch.no_grad():
        return model.sliding.track(audio).float()  # (n_sounds, D)
