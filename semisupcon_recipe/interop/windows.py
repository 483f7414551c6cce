"""The one definition of frame and track embeddings that every interop path shares.

An encoder maps a window of ``window`` samples to one ``D``-dimensional vector. A
recording of ``T`` samples (at the encoder's rate) is described by

- **frames**: ``N = max(1, ceil(T / hop))`` embeddings; frame ``k`` is the encoder's
  embedding of the window *centred* on sample ``k * hop``, i.e. samples
  ``[k * hop - window // 2, k * hop - window // 2 + window)``, zero-padded wherever
  that range leaves the recording. Its timestamp is ``k * hop`` samples, so frame
  times are regular, start at 0 and stay inside the recording, and a 16 kHz frame
  stride of ``hop * 16000 / sample_rate`` gives s3prl's frame count exactly.
- **track embedding**: the mean of the ``N`` frames.

s3prl (hidden states and their mean over time), the HEAR API (timestamp and scene
embeddings), SpeechBrain inference (``encode_batch`` / ``encode_file``) and
``semisupcon embed`` all go through :class:`SlidingWindowEncoder`, so they agree.
In eval mode the encoder runs under the probes' fixed seed
(:func:`~semisupcon_recipe.features.seeded_randomness`): an encoder that draws random
numbers at inference (SpeechBrain's x-vector pooling adds noise to its mean) gives the
same embeddings for the same batch in every process.
"""

from __future__ import annotations

import contextlib
import math
from typing import Sequence

import torch
from torch import nn

from semisupcon_recipe.audio import check_waveform
from semisupcon_recipe.features import EXTRACTION_SEED, seeded_randomness


def num_frames(num_samples: int, hop: int) -> int:
    """Number of frames of a recording of ``num_samples``: ``max(1, ceil(T / hop))``.

    Example
    -------
    >>> num_frames(16000, 4000), num_frames(16001, 4000), num_frames(1, 4000)
    (4, 5, 1)
    """
    return max(1, math.ceil(num_samples / hop))


def frame_windows(waveform: torch.Tensor, window: int, hop: int) -> torch.Tensor:
    """Cut a waveform into the centred, zero-padded windows of its frames.

    Parameters
    ----------
    waveform : torch.Tensor
        ``(T,)`` samples at the encoder's rate.
    window, hop : int
        Window length and frame hop in samples.

    Returns
    -------
    torch.Tensor
        ``(N, window)`` with ``N = num_frames(T, hop)``; a view where no padding is needed.

    Example
    -------
    >>> windows = frame_windows(torch.arange(1.0, 11.0), window=4, hop=3)
    >>> windows.tolist()
    [[0.0, 0.0, 1.0, 2.0], [2.0, 3.0, 4.0, 5.0], [5.0, 6.0, 7.0, 8.0], [8.0, 9.0, 10.0, 0.0]]
    """
    if waveform.dim() != 1:
        raise ValueError(f"frame_windows expects one (samples,) waveform, got shape {tuple(waveform.shape)}")
    count = num_frames(waveform.shape[0], hop)
    left = window // 2
    needed = (count - 1) * hop + window  # padded length that holds every window
    right = max(0, needed - left - waveform.shape[0])
    padded = nn.functional.pad(waveform, (left, right))  # (left + T + right,)
    return padded.unfold(0, window, hop)[:count]  # (N, window)


def frame_timestamps(count: int, hop: int, sample_rate: int) -> torch.Tensor:
    """Frame centres in milliseconds: ``k * hop / sample_rate * 1000``.

    Example
    -------
    >>> frame_timestamps(3, 4000, 16000).tolist()
    [0.0, 250.0, 500.0]
    """
    return torch.arange(count, dtype=torch.float64).mul(1000.0 * hop / sample_rate).float()  # (N,)


def track_from_frames(frames: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
    """Track embeddings ``(B, D)``: the mean of each row's first ``counts`` frames.

    Parameters
    ----------
    frames : torch.Tensor
        ``(B, N_max, D)``, zero beyond each row's count (as :meth:`SlidingWindowEncoder.frames` gives).
    counts : torch.Tensor
        ``(B,)`` valid frames per row.

    Example
    -------
    >>> track_from_frames(torch.tensor([[[1.0], [3.0]], [[4.0], [0.0]]]), torch.tensor([2, 1])).tolist()
    [[2.0], [4.0]]
    """
    return frames.sum(dim=1) / counts.unsqueeze(1).to(frames.dtype)  # (B, D)


class SlidingWindowEncoder(nn.Module):
    """An encoder applied to centred sliding windows: frames and track embeddings.

    Parameters
    ----------
    encoder : nn.Module
        ``(B, window)`` waveforms at ``encoder.sample_rate`` to ``(B, D)``, with an
        integer ``embedding_dim``.
    window, hop : int
        Window length and frame hop in samples at the encoder's rate.
    max_windows_per_call : int
        At most this many windows go through the encoder at once (bounds memory on
        long recordings; the result does not depend on it).

    Example
    -------
    >>> from semisupcon_recipe.encoders import SampleCNN
    >>> model = SlidingWindowEncoder(SampleCNN(16000, channels=(4, 4, 8)).eval(), window=27, hop=9)
    >>> frames, counts = model.frames([torch.randn(40), torch.randn(5)])
    >>> tuple(frames.shape), counts.tolist()
    ((2, 5, 8), [5, 1])
    >>> tracks = model.track([torch.randn(40), torch.randn(5)])
    >>> tuple(tracks.shape)
    (2, 8)
    """

    def __init__(self, encoder: nn.Module, window: int, hop: int, max_windows_per_call: int = 64) -> None:
        super().__init__()
        if window < 1 or hop < 1 or max_windows_per_call < 1:
            raise ValueError(
                f"window ({window}), hop ({hop}) and max_windows_per_call ({max_windows_per_call}) must be positive"
            )
        self.encoder = encoder
        self.window = int(window)
        self.hop = int(hop)
        self.max_windows_per_call = int(max_windows_per_call)
        self.sample_rate = int(encoder.sample_rate)
        self.embedding_dim = int(encoder.embedding_dim)

    def _as_list(self, waveforms: Sequence[torch.Tensor] | torch.Tensor, lengths: torch.Tensor | None) -> list[torch.Tensor]:
        """Waveforms as a list of ``(T_i,)`` tensors (a padded batch is cut to ``lengths``)."""
        if isinstance(waveforms, torch.Tensor):
            if waveforms.dim() == 1:
                waveforms = waveforms.unsqueeze(0)  # (1, T)
            if waveforms.dim() != 2:
                raise ValueError(f"expected (batch, samples) waveforms, got shape {tuple(waveforms.shape)}")
            if lengths is None:
                return list(waveforms)
            return [wave[: int(length)] for wave, length in zip(waveforms, lengths)]
        items = list(waveforms)
        for index, wave in enumerate(items):
            if wave.dim() != 1 or wave.shape[0] == 0:
                raise ValueError(f"waveform {index} must be a non-empty 1-D tensor, got shape {tuple(wave.shape)}")
        return items

    def _windowed(self, waveforms, lengths, embed) -> tuple[list[torch.Tensor], torch.Tensor]:
        """Apply ``embed`` (``(n, window)`` -> list of ``(n, D_l)``) to every frame's window.

        Returns one ``(B, N_max, D_l)`` tensor per output of ``embed`` (zero beyond each
        row's count) and the frame counts ``(B,)``.
        """
        items = self._as_list(waveforms, lengths)
        items = [check_waveform(wave, f"waveform {index}") for index, wave in enumerate(items)]  # as files are
        windows = [frame_windows(wave, self.window, self.hop) for wave in items]  # each (N_i, window)
        counts = [chunk.shape[0] for chunk in windows]
        stacked = torch.cat(windows)  # (sum N_i, window)
        fixed = contextlib.nullcontext() if self.encoder.training else seeded_randomness(EXTRACTION_SEED, stacked.device)
        with fixed:  # training keeps the run's random stream
            parts = [embed(part) for part in stacked.split(self.max_windows_per_call)]  # each a list of (n, D_l)
        outputs = []
        for layer in zip(*parts):
            per_item = torch.cat(layer).split(counts)  # each (N_i, D_l)
            outputs.append(nn.utils.rnn.pad_sequence(list(per_item), batch_first=True))  # (B, N_max, D_l)
        return outputs, torch.tensor(counts, dtype=torch.long, device=outputs[0].device)

    def frames(
        self, waveforms: Sequence[torch.Tensor] | torch.Tensor, lengths: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Frame embeddings of each recording, zero-padded to the longest.

        Parameters
        ----------
        waveforms : list of ``(T_i,)`` tensors, or ``(B, T)``
            Recordings at ``sample_rate``.
        lengths : torch.Tensor, optional
            ``(B,)`` valid samples per row when ``waveforms`` is a padded ``(B, T)`` batch.

        Returns
        -------
        (torch.Tensor, torch.Tensor)
            Frames ``(B, N_max, D)`` and frame counts ``(B,)`` (int64).
        """
        (frames,), counts = self._windowed(waveforms, lengths, lambda part: [self.encoder(part)])
        return frames, counts

    def stage_frames(
        self, waveforms: Sequence[torch.Tensor] | torch.Tensor, lengths: torch.Tensor | None = None
    ) -> tuple[list[torch.Tensor], torch.Tensor]:
        """Frames of every stage of the encoder (see :func:`~semisupcon_recipe.encoders.stage_embeddings`).

        Frame ``k`` of stage ``l`` is stage ``l``'s clip embedding of the same window as
        frame ``k`` of :meth:`frames`, so every stage has the same frame times; the last
        stage equals :meth:`frames`.

        Returns
        -------
        (list of torch.Tensor, torch.Tensor)
            ``[(B, N_max, D_1), ..., (B, N_max, D)]`` and frame counts ``(B,)``.

        Example
        -------
        >>> from semisupcon_recipe.encoders import SampleCNN
        >>> model = SlidingWindowEncoder(SampleCNN(16000, channels=(4, 8)).eval(), window=9, hop=3)
        >>> stages, counts = model.stage_frames([torch.randn(10)])
        >>> [tuple(stage.shape) for stage in stages], counts.tolist()
        ([(1, 4, 4), (1, 4, 8), (1, 4, 8)], [4])
        """
        from semisupcon_recipe.encoders import stage_embeddings

        return self._windowed(waveforms, lengths, lambda part: stage_embeddings(self.encoder, part))

    def track(
        self, waveforms: Sequence[torch.Tensor] | torch.Tensor, lengths: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Track embeddings ``(B, D)``: the mean of each recording's frames."""
        frames, counts = self.frames(waveforms, lengths)  # (B, N_max, D), (B,)
        return track_from_frames(frames, counts)  # (B, D)

    def forward(
        self, waveforms: Sequence[torch.Tensor] | torch.Tensor, lengths: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Track embeddings ``(B, D)`` (see :meth:`track`)."""
        return self.track(waveforms, lengths)
