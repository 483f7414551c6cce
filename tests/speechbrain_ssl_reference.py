"""SpeechBrain's BEST-RQ and wav2vec 2.0 recipes, step by step, as references for the tests.

Each function follows one recipe's ``dataio_prepare`` (collate with masks) and
``compute_forward`` / ``compute_objectives`` on a list of equal-length waveforms, with
the recipe's own module layout (``model = ModuleList([CNN, wrapper])``, ``Quantizer``,
``linear``; ``latent_extractor``, ``latent_encoder``, ``feat_proj``, ``target_quantiser``).
:func:`bestrq_modules` / :func:`wav2vec2_modules` build those modules at tiny sizes the
way the recipes' yaml files do, and :func:`save_run` checkpoints them under the
recoverable names of the recipes, i.e. a SpeechBrain SSL run folder.
"""

from pathlib import Path

import torch
import torch.nn.functional as F
from speechbrain.lobes.features import Fbank
from speechbrain.lobes.models.BESTRQ import brq_mask_collate_fn
from speechbrain.lobes.models.convolution import ConvolutionFrontEnd
from speechbrain.lobes.models.transformer.Transformer import TransformerEncoder
from speechbrain.lobes.models.transformer.TransformerASR import EncoderWrapper, TransformerASR
from speechbrain.lobes.models.wav2vec import (
    EncoderWrapper as W2VEncoderWrapper,
    W2VLatentExtractor,
    W2VTargetQuantiser,
    sample_negatives,
    w2v_mask_collate_fn,
)
from speechbrain.nnet.linear import Linear
from speechbrain.nnet.losses import ContrastiveLoss
from speechbrain.nnet.quantisers import RandomProjectionQuantizer
from speechbrain.processing.features import InputNormalization
from speechbrain.utils.checkpoints import Checkpointer


def bestrq_modules(n_mels=20, channels=(8, 4), d_model=32, nhead=2, num_layers=1, d_ffn=64, codebook_size=64):
    """The modules of SpeechBrain's BEST-RQ yaml at tiny sizes."""
    cnn = ConvolutionFrontEnd(
        input_shape=(8, 10, n_mels), num_blocks=2, num_layers_per_block=1, out_channels=channels,
        kernel_sizes=(3, 3), strides=(2, 2), residuals=(False, False),
    )
    transformer = TransformerASR(
        input_size=channels[-1] * ((n_mels + 3) // 4), tgt_vocab=2048, d_model=d_model, nhead=nhead,
        num_encoder_layers=num_layers, num_decoder_layers=0, d_ffn=d_ffn, dropout=0.1, activation=torch.nn.GELU,
        conformer_activation=torch.nn.GELU, encoder_module="conformer", attention_type="RelPosMHAXL",
        normalize_before=True, causal=False,
    )
    wrapper = EncoderWrapper(transformer)
    return {
        "compute_features": Fbank(sample_rate=16000, n_fft=400, n_mels=n_mels),
        "normalize": InputNormalization(norm_type="sentence"),
        "CNN": cnn,
        "wrapper": wrapper,
        "model": torch.nn.ModuleList([cnn, wrapper]),
        "Quantizer": RandomProjectionQuantizer(input_dim=4 * n_mels, cb_dim=16, cb_vocab=codebook_size),
        "linear": Linear(input_size=d_model, n_neurons=codebook_size),
    }


def bestrq_recipe_loss(modules, signals, mask_prob=0.15, mask_length=4, noise_mean=0.0, noise_std=0.1, n_mels=20):
    """BEST-RQ loss of SpeechBrain's recipe on ``signals`` (list of 1-d tensors at 16 kHz)."""
    samples = [{"id": str(index), "sig": signal} for index, signal in enumerate(signals)]
    get_out_len = lambda lengths: (lengths // (16000 * 10 / 1000) + 1).to(torch.long)  # noqa: E731 (the recipe's)
    wavs, wav_lens, mask = brq_mask_collate_fn(samples, get_out_len, mask_prob, mask_length, n_mels)
    feats = modules["compute_features"](wavs)
    feats = modules["normalize"](feats, wav_lens, epoch=1)
    feats = F.pad(feats, (0, 0, 0, -feats.shape[1] % 4))
    mask_idx = mask[::4] // 4
    batch, frames, bands = feats.shape
    targets = modules["Quantizer"](feats.view(batch, frames // 4, -1)[:, mask_idx, :])
    noise = torch.normal(mean=noise_mean, std=noise_std, size=(batch, mask.shape[0], bands))
    feats[:, mask, :] = noise
    src = modules["CNN"](feats)
    enc_out = modules["wrapper"](src, wav_lens)
    logits = modules["linear"](enc_out)[:, mask_idx, :]
    batch, steps, codes = logits.shape
    return F.cross_entropy(logits.reshape(batch * steps, codes), targets.reshape(batch * steps))


def wav2vec2_modules(channels=(32, 32, 32), kernels=(10, 4, 4), strides=(5, 4, 4), d_model=32, nhead=2,
                     num_layers=1, d_ffn=64, quantized_dim=16, num_vars=8):
    """The modules of SpeechBrain's wav2vec 2.0 yaml at tiny sizes."""
    extractor = W2VLatentExtractor(out_channels=list(channels), kernel_sizes=list(kernels), strides=list(strides))
    encoder = TransformerEncoder(
        num_layers=num_layers, nhead=nhead, d_ffn=d_ffn, d_model=d_model, dropout=0.1, layerdrop_prob=0.05,
        normalize_before=True, activation=torch.nn.GELU,
    )
    return {
        "latent_extractor": extractor,
        "latent_encoder": W2VEncoderWrapper(in_dim=channels[-1], embedding_dim=d_model, latent_encoder=encoder,
                                            dropout_encoder_input=0.1),
        "feat_proj": torch.nn.Linear(d_model, quantized_dim),
        "target_quantiser": W2VTargetQuantiser(in_dim=channels[-1], out_dim=quantized_dim, num_vars=num_vars),
    }


def wav2vec2_recipe_loss(modules, signals, mask_prob=0.65, mask_length=4, num_negatives=10, diversity_loss_weight=0.1):
    """wav2vec 2.0 ``backprop_loss`` of SpeechBrain's recipe on ``signals`` (list of 1-d tensors)."""
    samples = [{"id": str(index), "sig": F.layer_norm(signal, signal.shape)} for index, signal in enumerate(signals)]
    get_out_len = modules["latent_extractor"].get_output_lengths
    wavs, wav_lens, mask = w2v_mask_collate_fn(samples, get_out_len, mask_prob, mask_length)
    batch = wavs.size(0)
    latents = modules["latent_extractor"](wavs, normalize_signal=False)
    results = modules["latent_encoder"](latents, mask=mask, wav_lens=wav_lens)
    embeddings = modules["feat_proj"](results["embeddings"][mask])
    embeddings = embeddings.view(batch, -1, embeddings.size(1))
    latents = latents[mask].view(batch, -1, latents.size(2))
    targets, meta = modules["target_quantiser"](latents)
    negs = sample_negatives(targets, num_negatives)
    loss, _ = ContrastiveLoss(logit_temp=0.1)(embeddings, targets, negs)
    return loss + meta["diversity_loss"] * diversity_loss_weight * results["num_masked"]


def save_run(folder: Path, recoverables: dict, valid_loss: float) -> Path:
    """Checkpoint ``recoverables`` the way the recipes' Checkpointer does; returns the CKPT folder."""
    return Checkpointer(Path(folder) / "save", recoverables).save_checkpoint(meta={"valid_loss": valid_loss}).path
