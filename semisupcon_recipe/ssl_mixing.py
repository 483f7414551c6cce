"""SemiSupCon mixed with SpeechBrain's own SSL methods (BEST-RQ, wav2vec 2.0).

One training step of :class:`JointSSLBrain` computes

    loss = ssl_weight * SSL loss (masked frames of the clean views)
         + semisupcon_weight * SemiSupCon loss (pooled embeddings of the augmented views)

with one shared encoder, the mixed-label sampler and the data pipeline of the Generic
pretraining recipe. The SSL losses are computed the way SpeechBrain's recipes compute
them (``recipes/LibriSpeech/self-supervised-learning/BEST-RQ`` and ``.../wav2vec2``),
from SpeechBrain's own pieces: :class:`BestRQObjective` (``BESTRQ.compute_mask``,
``RandomProjectionQuantizer``, cross-entropy on masked frames) and
:class:`Wav2Vec2Objective` (``wav2vec.compute_mask``, ``W2VTargetQuantiser``,
``sample_negatives``, ``ContrastiveLoss`` plus the diversity loss). A weight of 0 skips
its branch, so either weight at 0 is the pure method.

SpeechBrain draws masks, noise, negatives and Gumbel samples from the global random
generators; here they are drawn inside :func:`seeded_randomness`, seeded from (seed,
epoch, step, rank), so a step's SSL draws do not depend on the rest of the step and a
resumed run draws what the interrupted one would have.

:func:`initialise_from_ssl_run` loads an encoder from a SpeechBrain BEST-RQ or wav2vec
2.0 run folder (weights only) to continue it with SemiSupCon.
"""

from __future__ import annotations

import contextlib
import logging
import random
from pathlib import Path
from typing import Iterator, Mapping, Sequence

import numpy as np
import speechbrain as sb
import torch
import torch.nn.functional as F
from speechbrain.lobes.models import BESTRQ, wav2vec
from speechbrain.nnet.linear import Linear
from speechbrain.nnet.losses import ContrastiveLoss
from speechbrain.nnet.quantisers import RandomProjectionQuantizer
from torch import nn

from semisupcon_recipe.brains import SemiSupConBrain
from semisupcon_recipe.checkpoints import find_checkpoint, load_weights
from semisupcon_recipe.data import ViewBatch

logger = logging.getLogger(__name__)


@contextlib.contextmanager
def seeded_randomness(seed: int) -> Iterator[None]:
    """Seed Python's, NumPy's and torch's global generators with ``seed`` inside the
    block and give them back their states afterwards.

    Example
    -------
    >>> with seeded_randomness(3):
    ...     first = torch.rand(1), random.random()
    >>> with seeded_randomness(3):
    ...     second = torch.rand(1), random.random()
    >>> first == second
    True
    """
    python_state, numpy_state = random.getstate(), np.random.get_state()
    devices = [torch.cuda.current_device()] if torch.cuda.is_available() and torch.cuda.is_initialized() else []
    with torch.random.fork_rng(devices=devices):
        random.seed(seed)
        np.random.seed(seed % 2**32)
        torch.manual_seed(seed)
        try:
            yield
        finally:
            random.setstate(python_state)
            np.random.set_state(numpy_state)


def _pad_time(features: torch.Tensor, multiple: int) -> torch.Tensor:
    """Zero-pad ``(B, T, F)`` on the right of the time axis to a multiple of ``multiple``."""
    missing = -features.shape[1] % multiple
    return F.pad(features, (0, 0, 0, missing))  # (B, T + missing, F)


class MaskedSSLObjective(nn.Module):
    """What the SSL objectives share: SpeechBrain's masking settings, and the call
    ``objective(encoder, waveforms (V, L)) -> (loss, statistics)`` that
    :class:`JointSSLBrain` makes.

    Parameters
    ----------
    mask_prob : float
        Probability for a frame to start a mask (SpeechBrain's meaning).
    mask_length : int
        Frames per mask.
    """

    def __init__(self, mask_prob: float, mask_length: int) -> None:
        super().__init__()
        self.mask_prob = float(mask_prob)
        self.mask_length = int(mask_length)

    def on_optimizer_step(self, optimizer_step: int) -> None:
        """Follow the optimizer steps (nothing by default)."""


class BestRQObjective(MaskedSSLObjective):
    """BEST-RQ's masked prediction loss, computed as SpeechBrain's BEST-RQ recipe does.

    Features of the encoder (``compute_features``) are padded to a multiple of
    ``frame_stack``; ``BESTRQ.compute_mask`` picks masked frames (blocks of
    ``mask_length``); the random-projection quantizer labels each masked block of
    stacked frames (before masking); masked frames are replaced by Gaussian noise; the
    encoder (``encode_features``) and a linear head predict the labels; the loss is the
    cross-entropy over the masked output frames.

    Parameters
    ----------
    encoder_dim : int
        Width ``D`` of the encoder frames.
    n_mels : int
        Feature bands ``F``.
    frame_stack : int
        Feature frames per encoder frame (4 for :class:`~semisupcon_recipe.encoders.ConformerEncoder`).
    codebook_dim, codebook_size : int
        Quantizer code width and number of codes (the head's classes).
    mask_prob, mask_length : float, int
        See :class:`MaskedSSLObjective`; ``mask_length`` must equal ``frame_stack``.
    noise_mean, noise_std : float
        The noise that replaces masked frames.

    Example
    -------
    >>> from semisupcon_recipe.encoders import ConformerEncoder
    >>> encoder = ConformerEncoder(n_mels=16, front_end_channels=(8, 4), d_model=16, nhead=2, num_layers=1, d_ffn=32)
    >>> objective = BestRQObjective(encoder_dim=16, n_mels=16, codebook_size=32)
    >>> loss, statistics = objective(encoder, torch.randn(3, 8000))
    >>> loss.shape, sorted(statistics)
    (torch.Size([]), ['ssl_accuracy', 'ssl_masked_frames'])
    """

    def __init__(
        self,
        encoder_dim: int,
        n_mels: int,
        frame_stack: int = 4,
        codebook_dim: int = 16,
        codebook_size: int = 8192,
        mask_prob: float = 0.15,
        mask_length: int = 4,
        noise_mean: float = 0.0,
        noise_std: float = 0.1,
    ) -> None:
        super().__init__(mask_prob, mask_length)
        if mask_length != frame_stack:
            raise ValueError(
                f"mask_length ({mask_length}) must equal frame_stack ({frame_stack}): BEST-RQ masks whole "
                "encoder frames; set mask_length to the encoder's frame_stack in the yaml"
            )
        self.frame_stack = int(frame_stack)
        self.noise_mean = float(noise_mean)
        self.noise_std = float(noise_std)
        self.quantizer = RandomProjectionQuantizer(input_dim=frame_stack * n_mels, cb_dim=codebook_dim, cb_vocab=codebook_size)
        self.linear = Linear(input_size=encoder_dim, n_neurons=codebook_size)

    def forward(self, encoder: nn.Module, waveforms: torch.Tensor) -> tuple[torch.Tensor, dict]:
        """The loss on waveforms ``(V, L)`` and its statistics (accuracy, masked frames)."""
        features = encoder.compute_features(waveforms)  # (V, T, F)
        num_frames = features.shape[1]
        features = _pad_time(features, self.frame_stack)  # (V, T4, F), T4 a multiple of frame_stack
        views, padded_frames, bands = features.shape
        mask = BESTRQ.compute_mask(features.shape, [num_frames] * views, self.mask_prob, self.mask_length)  # (M,)
        mask = mask.to(features.device)
        masked_outputs = mask[:: self.mask_length] // self.frame_stack  # (K,) encoder frames, K = M / mask_length
        stacked = features.view(views, padded_frames // self.frame_stack, self.frame_stack * bands)  # (V, T4/s, s*F)
        targets = self.quantizer(stacked[:, masked_outputs, :])  # (V, K) code indices
        noise = torch.normal(
            mean=self.noise_mean, std=self.noise_std, size=(views, mask.shape[0], bands), device=features.device
        )  # (V, M, F)
        features[:, mask, :] = noise
        hidden = encoder.encode_features(features)  # (V, T4/s, D)
        logits = self.linear(hidden)[:, masked_outputs, :]  # (V, K, codes)
        logits = logits.reshape(-1, logits.shape[-1])  # (V*K, codes)
        targets = targets.reshape(-1)  # (V*K,)
        loss = F.cross_entropy(logits, targets)
        accuracy = (logits.argmax(dim=-1) == targets).float().mean()
        return loss, {"ssl_accuracy": accuracy.item(), "ssl_masked_frames": float(mask.shape[0])}


class Wav2Vec2Objective(MaskedSSLObjective):
    """wav2vec 2.0's contrastive loss, computed as SpeechBrain's wav2vec 2.0 recipe does.

    ``wav2vec.compute_mask`` masks latent frames; the encoder's Transformer sees the
    mask embedding there; its masked outputs, projected, must pick the quantised latent
    of their frame among ``num_negatives`` quantised latents of other frames of the same
    clip (``sample_negatives``, ``ContrastiveLoss``: summed over masked frames), plus
    ``diversity_loss_weight * diversity loss * masked frames``.

    Parameters
    ----------
    latent_dim, encoder_dim : int
        Widths of the encoder's latents ``C`` and contextual frames ``D``.
    quantized_dim : int
        Width of the quantised targets and of the projection of the outputs.
    num_vars : int
        Codes per group of the Gumbel quantiser (two groups).
    temperature_decay : sequence of float
        Gumbel temperature (start, end, decay per optimizer step).
    mask_prob, mask_length : float, int
        See :class:`MaskedSSLObjective` (about ``mask_prob`` of the frames are masked).
    num_negatives : int
        Distractors per masked frame.
    logit_temperature : float
        Temperature of the contrastive logits.
    diversity_loss_weight : float
        Weight of the codebook diversity loss.

    Example
    -------
    >>> from semisupcon_recipe.encoders import Wav2Vec2Encoder
    >>> encoder = Wav2Vec2Encoder(latent_channels=(16, 16), latent_kernels=(10, 3), latent_strides=(5, 2),
    ...                           embedding_dim=16, num_layers=1, nhead=2, d_ffn=32)
    >>> objective = Wav2Vec2Objective(latent_dim=16, encoder_dim=16, quantized_dim=8, num_vars=4,
    ...                               mask_length=3, num_negatives=5)
    >>> loss, statistics = objective(encoder, torch.randn(2, 1000))
    >>> loss.shape, sorted(statistics)
    (torch.Size([]), ['ssl_accuracy', 'ssl_diversity_loss', 'ssl_masked_frames'])
    """

    def __init__(
        self,
        latent_dim: int,
        encoder_dim: int,
        quantized_dim: int = 256,
        num_vars: int = 320,
        temperature_decay: Sequence[float] = (2.0, 0.25, 0.999995),
        mask_prob: float = 0.65,
        mask_length: int = 10,
        num_negatives: int = 100,
        logit_temperature: float = 0.1,
        diversity_loss_weight: float = 0.1,
    ) -> None:
        super().__init__(mask_prob, mask_length)
        self.num_negatives = int(num_negatives)
        self.diversity_loss_weight = float(diversity_loss_weight)
        self.target_quantiser = wav2vec.W2VTargetQuantiser(
            in_dim=latent_dim, out_dim=quantized_dim, num_vars=num_vars, temperature_decay=tuple(temperature_decay)
        )
        self.feat_proj = nn.Linear(encoder_dim, quantized_dim)
        self.loss = ContrastiveLoss(logit_temp=logit_temperature)

    def forward(self, encoder: nn.Module, waveforms: torch.Tensor) -> tuple[torch.Tensor, dict]:
        """The loss on waveforms ``(V, L)`` and its statistics (accuracy, diversity loss, masked frames)."""
        latents = encoder.latents(waveforms)  # (V, T, C)
        views, frames, channels = latents.shape
        if frames <= self.mask_length:
            raise ValueError(
                f"views give {frames} latent frames, not more than mask_length {self.mask_length}: "
                "use longer views (clip_len) or a smaller mask_length"
            )
        mask = wav2vec.compute_mask((views, frames), [frames] * views, self.mask_prob, self.mask_length)
        mask = torch.as_tensor(mask, dtype=torch.bool, device=latents.device)  # (V, T)
        results = encoder.contextual(latents, mask=mask)
        embeddings = self.feat_proj(results["embeddings"][mask])  # (V*K, Q)
        embeddings = embeddings.view(views, -1, embeddings.shape[-1])  # (V, K, Q)
        targets, meta = self.target_quantiser(latents[mask].view(views, -1, channels))  # (V, K, Q)
        negatives = wav2vec.sample_negatives(targets, self.num_negatives)  # (N, V, K, Q)
        loss, accuracy = self.loss(embeddings, targets, negatives)
        if self.diversity_loss_weight != 0.0:
            loss = loss + meta["diversity_loss"] * self.diversity_loss_weight * results["num_masked"]
        statistics = {
            "ssl_accuracy": float(accuracy),
            "ssl_diversity_loss": float(meta["diversity_loss"].detach()),
            "ssl_masked_frames": float(results["num_masked"]),
        }
        return loss, statistics

    def on_optimizer_step(self, optimizer_step: int) -> None:
        """Anneal the Gumbel temperature as SpeechBrain's recipe does after each optimizer step."""
        self.target_quantiser.quantiser.update_temp(optimizer_step)


class JointSSLBrain(SemiSupConBrain):
    """SemiSupConBrain plus an SSL objective on the same encoder.

    Expected ``modules``: ``encoder``, ``projector`` and ``ssl_objective`` (a
    :class:`MaskedSSLObjective`: :class:`BestRQObjective`, :class:`Wav2Vec2Objective`
    or your own). Expected ``hparams``:
    those of :class:`SemiSupConBrain` plus ``ssl_weight`` and ``semisupcon_weight``
    (>= 0, not both 0). The SSL branch sees the clean views; the SemiSupCon branch
    the augmented ones. One process only: under torchrun an SSL weight is refused.
    """

    statistic_names = SemiSupConBrain.statistic_names + (
        "semisupcon_loss", "ssl_loss", "ssl_accuracy", "ssl_diversity_loss", "ssl_masked_frames",
    )  # the SSL objectives' statistics: BEST-RQ gives no diversity loss

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.distributed_launch and self.hparams.ssl_weight:
            raise ValueError(
                "the joint SSL + SemiSupCon recipes run on one process (the SSL branch calls the encoder outside "
                "DDP); launch without torchrun, or set ssl_weight: 0"
            )
        weights = (float(self.hparams.ssl_weight), float(self.hparams.semisupcon_weight))
        if min(weights) < 0 or max(weights) == 0:
            raise ValueError(
                f"ssl_weight and semisupcon_weight must be >= 0 and not both 0, got {weights[0]} and {weights[1]}"
            )

    def compute_forward(self, batch: ViewBatch, stage: sb.Stage) -> tuple:
        """``(projections (V, P) or None, (SSL loss, statistics) or None)``; a branch with weight 0 is skipped."""
        projections = super().compute_forward(batch, stage) if self.hparams.semisupcon_weight else None
        ssl = None
        if self.hparams.ssl_weight:
            views = batch.views.to(self.device)
            waveforms = views.reshape(-1, views.shape[-1])  # (V, L), clip-major, not augmented
            with seeded_randomness(self._ssl_seed()):
                ssl = self.modules.ssl_objective(self.modules.encoder, waveforms)
        return projections, ssl

    def _ssl_seed(self) -> int:
        """This step's seed of the SSL draws: from (seed, epoch, step, rank) like the augmentations', but another stream."""
        step_seed = self._augment_generator().initial_seed()
        return int(np.random.SeedSequence([step_seed, 1]).generate_state(1, dtype=np.uint64)[0] >> 1)

    def compute_objectives(self, outputs: tuple, batch: ViewBatch, stage: sb.Stage) -> torch.Tensor:
        """``ssl_weight * SSL loss + semisupcon_weight * SemiSupCon loss``; logs both parts."""
        projections, ssl = outputs
        loss = torch.zeros((), device=self.device)
        logged = self._logs_statistics(stage)  # statistics cost host-device syncs: logged steps only
        statistics = {}
        if projections is not None:
            semisupcon_loss = self.semisupcon_loss(projections, batch, stage)
            loss = loss + self.hparams.semisupcon_weight * semisupcon_loss
            if logged:
                statistics.update(self.hparams.loss.last_statistics or {}, semisupcon_loss=semisupcon_loss.item())
        if ssl is not None:
            ssl_loss, ssl_statistics = ssl
            loss = loss + self.hparams.ssl_weight * ssl_loss
            if logged:
                statistics.update(ssl_statistics, ssl_loss=ssl_loss.item())
        self.record_batch(stage, batch, statistics)
        return loss

    def on_fit_batch_end(self, batch: ViewBatch, outputs, loss: torch.Tensor, should_step: bool) -> None:
        """Log as SemiSupConBrain does; let the SSL objective follow the optimizer steps."""
        super().on_fit_batch_end(batch, outputs, loss, should_step)
        objective = getattr(self.modules.ssl_objective, "module", self.modules.ssl_objective)  # DDP-wrapped or not
        if should_step:
            objective.on_optimizer_step(self.optimizer_step)


def initialise_from_ssl_run(
    encoder: nn.Module, run_folder: str | Path | None, parts: Mapping[str, str], collect_in: str | Path
) -> Path | None:
    """Load encoder weights from a SpeechBrain SSL run folder with SpeechBrain's ``Pretrainer``.

    Parameters
    ----------
    encoder : nn.Module
        The encoder to initialise (in place).
    run_folder : str or Path or None
        A BEST-RQ / wav2vec 2.0 run (output folder, ``save/`` or one ``CKPT+`` folder);
        the checkpoint is chosen by :func:`~semisupcon_recipe.checkpoints.find_checkpoint`
        (lowest ``valid_loss``, else the latest). ``None``: nothing is loaded (the encoder
        keeps its random initialisation).
    parts : mapping
        Checkpoint file stem -> attribute of ``encoder`` it fills (``""``: the whole
        encoder). SpeechBrain's BEST-RQ recipe: ``{model: lobe}`` for
        :class:`~semisupcon_recipe.encoders.ConformerEncoder`; its wav2vec 2.0 recipe:
        ``{latent_extractor: latent_extractor, latent_encoder: latent_encoder}`` for
        :class:`~semisupcon_recipe.encoders.Wav2Vec2Encoder`; a run of this package:
        ``{encoder: ""}``.
    collect_in : str or Path
        Folder where the Pretrainer links the files it loads.

    Returns
    -------
    Path or None
        The checkpoint loaded.

    Example
    -------
    >>> import tempfile
    >>> from speechbrain.utils.checkpoints import Checkpointer
    >>> run = Path(tempfile.mkdtemp())
    >>> _ = Checkpointer(run / "save", {"model": torch.nn.Linear(2, 2)}).save_checkpoint()
    >>> encoder = torch.nn.Sequential(torch.nn.Linear(2, 2))
    >>> checkpoint = initialise_from_ssl_run(encoder, run, {"model": "0"}, run / "init")
    >>> checkpoint.parent.name
    'save'
    """
    from speechbrain.utils.parameter_transfer import Pretrainer

    if run_folder is None:
        return None
    checkpoint = find_checkpoint(run_folder, verified=False).path
    loadables, paths = {}, {}
    for stem, attribute in parts.items():
        path = checkpoint / f"{stem}.ckpt"
        if not path.is_file():
            raise FileNotFoundError(f"{path} not found: the SSL run's checkpoints have no `{stem}` recoverable; check `parts` in the yaml")
        loadables[stem] = encoder.get_submodule(attribute) if attribute else encoder
        paths[stem] = str(path)
    Path(collect_in).mkdir(parents=True, exist_ok=True)
    pretrainer = Pretrainer(
        collect_in=collect_in,
        loadables=loadables,
        paths=paths,
        custom_hooks={stem: _load_ssl_weights for stem in loadables},
    )
    pretrainer.collect_files()
    pretrainer.load_collected()
    logger.info("encoder initialised from %s (%s)", checkpoint, ", ".join(parts))
    return checkpoint


def _load_ssl_weights(module: nn.Module, path: str | Path) -> None:
    """The Pretrainer's loading hook: tensors only, a strict match (see :func:`~semisupcon_recipe.checkpoints.load_weights`)."""
    load_weights(module, Path(path), "the yaml's encoder (it must have the architecture of the SSL run)")
