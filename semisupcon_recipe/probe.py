"""A probe on frozen features: its head, its loss, the settings of one run.

The downstream protocol (METHOD.md section 9) trains a linear or one-hidden-layer MLP
head (:class:`ProbeHead`) on the cached chunk embeddings of a frozen encoder. The
probe modules, lowest first:

- :mod:`semisupcon_recipe.probe` (this one): the head, the loss by task kind,
  :class:`ProbeRun` (the settings every training protocol receives); both protocols
  write ``results.json`` with :func:`semisupcon_recipe.files.write_json`.
- :mod:`semisupcon_recipe.probe_data`: cached features and manifest labels ->
  the tensors a probe trains and is scored on.
- :mod:`semisupcon_recipe.probe_brain`: the paper protocol (a SpeechBrain Brain,
  early stopping on the validation metric).
- :mod:`semisupcon_recipe.probe_tuning`: the tuned protocol (a validation grid,
  L-BFGS to convergence) and its scikit-learn reference.
- :mod:`semisupcon_recipe.probe_protocols`: the protocol names and the one call
  that runs either.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

import torch
from torch import nn

from semisupcon_recipe.metrics import METRICS_BY_KIND


class ProbeHead(nn.Module):
    """Linear (``hidden_size=0``) or one-hidden-layer MLP head on embeddings.

    Parameters
    ----------
    input_size : int
        Embedding size ``D``.
    num_outputs : int
        Tags, classes or regression targets.
    hidden_size : int
        Width of the hidden ReLU layer; 0 for a linear probe.
    dropout : float
        Dropout after the hidden layer (MLP only).

    Example
    -------
    >>> ProbeHead(8, 3)(torch.randn(5, 8)).shape
    torch.Size([5, 3])
    >>> ProbeHead(8, 3, hidden_size=16, dropout=0.1)
    ProbeHead(
      (layers): Sequential(
        (0): Linear(in_features=8, out_features=16, bias=True)
        (1): ReLU()
        (2): Dropout(p=0.1, inplace=False)
        (3): Linear(in_features=16, out_features=3, bias=True)
      )
    )
    """

    def __init__(self, input_size: int, num_outputs: int, hidden_size: int = 0, dropout: float = 0.0) -> None:
        super().__init__()
        if hidden_size:
            layers = [nn.Linear(input_size, hidden_size), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden_size, num_outputs)]
        elif dropout:
            raise ValueError("dropout applies to the hidden layer of the MLP head; set hidden_size > 0 or dropout: 0")
        else:
            layers = [nn.Linear(input_size, num_outputs)]
        self.layers = nn.Sequential(*layers)

    def forward(self, embeddings: torch.Tensor) -> torch.Tensor:
        """``(B, D)`` embeddings -> ``(B, num_outputs)`` logits or predictions."""
        return self.layers(embeddings)


def probe_loss(kind: str, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Loss of a probe: BCE-with-logits, cross-entropy or MSE by task kind.

    Example
    -------
    >>> round(float(probe_loss("multiclass", torch.zeros(2, 4), torch.tensor([0, 3]))), 4)
    1.3863
    """
    if kind == "multilabel":
        return nn.functional.binary_cross_entropy_with_logits(outputs, targets)
    if kind == "multiclass":
        return nn.functional.cross_entropy(outputs, targets)
    if kind == "regression":
        return nn.functional.mse_loss(outputs, targets)
    raise ValueError(f"unknown task kind {kind!r}; use one of {sorted(METRICS_BY_KIND)}")


@dataclass(frozen=True)
class ProbeRun:
    """One probe to train and test, whatever the protocol: what selects it and where it goes.

    Attributes
    ----------
    task_name : str
        For messages and the results.
    select_on : str
        Validation metric (of :func:`semisupcon_recipe.metrics.compute_metrics`) that
        chooses the probe: early stopping and checkpoint choice (paper protocol), grid
        choice (tuned protocol).
    seed : int
        Seeds the head initialization (and the chunk order of the paper protocol).
    output_folder : Path
        Run folder; receives ``results.json``.
    device : str
        ``"cpu"`` or ``"cuda[:i]"``.
    extra_results : mapping
        Added to ``results.json`` as is (head name, encoder path, corruption...).

    Example
    -------
    >>> run = ProbeRun("gtzan", "accuracy", seed=1, output_folder="runs/linear/seed_1")
    >>> run.output_folder, run.device
    (PosixPath('runs/linear/seed_1'), 'cpu')
    """

    task_name: str
    select_on: str
    seed: int
    output_folder: Path
    device: str = "cpu"
    extra_results: Mapping[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "output_folder", Path(self.output_folder))
