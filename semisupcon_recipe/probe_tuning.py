"""The tuned probe protocol: standardised track embeddings and a validation grid.

A HEAR-style protocol (``hparams/probe/tuned.yaml``, the default of every tasks file;
the paper's protocol is :mod:`semisupcon_recipe.probe_brain`): the head is trained on
track embeddings (the mean of each track's chunk embeddings, the level validation and
test are scored at) standardised with the training tracks' mean and standard
deviation; a grid of weight decays (x hidden sizes for MLP heads) is searched, each
configuration trained to convergence with full-batch L-BFGS (for a linear head a
convex problem: the solution does not depend on a learning rate, an epoch count or the
seed), and the configuration with the best validation score (ties: lower validation
loss) is tested (:func:`tune_probe`). Weight decay is an L2 penalty
``weight_decay / 2 * ||W||^2`` on the weights (not the biases) added to the mean loss,
i.e. ``C = 1 / (weight_decay * n_train)`` of scikit-learn's ``LogisticRegression``,
the reference the protocol is checked against (:func:`logistic_regression_reference`).

Training runs on the cached features held in memory as tensors (no data pipeline per
configuration), so a grid costs seconds on a CPU for thousands of tracks. The
standardisation is part of the saved probe (:class:`StandardizedProbe`,
``probe.ckpt``), so test-time features get the training map.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import math
import time
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import numpy as np
import torch
from torch import nn
from torch.utils.data import TensorDataset

from semisupcon_recipe.metrics import compute_metrics
from semisupcon_recipe.files import write_json
from semisupcon_recipe.probe import ProbeRun, probe_loss
from semisupcon_recipe.probe_data import ProbeData

GRID_FIELDS = ("weight_decay",)

logger = logging.getLogger(__name__)


class Standardizer(nn.Module):
    """``(x - mean) / std`` with statistics of the training inputs, kept as buffers.

    Dimensions that are constant in the training inputs keep a standard deviation of 1.

    Example
    -------
    >>> standardizer = Standardizer.fit(torch.tensor([[1.0, 5.0], [3.0, 5.0]]))
    >>> standardizer(torch.tensor([[2.0, 5.0], [3.0, 6.0]])).tolist()
    [[0.0, 0.0], [1.0, 1.0]]
    """

    def __init__(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("mean", mean)  # (D,)
        self.register_buffer("std", std)  # (D,)

    @classmethod
    def fit(cls, inputs: torch.Tensor) -> "Standardizer":
        """Statistics of ``(N, D)`` training inputs."""
        std = inputs.std(dim=0, unbiased=False)  # (D,)
        return cls(inputs.mean(dim=0), torch.where(std > 0, std, torch.ones_like(std)))

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        """``(B, D)`` -> ``(B, D)``."""
        return (inputs - self.mean) / self.std


class StandardizedProbe(nn.Module):
    """A probe head applied to standardised embeddings: the unit that is saved and tested.

    Example
    -------
    >>> from semisupcon_recipe.probe import ProbeHead
    >>> probe = StandardizedProbe(Standardizer.fit(torch.randn(10, 4)), ProbeHead(4, 3))
    >>> probe(torch.randn(2, 4)).shape, sorted(probe.state_dict())[:2]
    (torch.Size([2, 3]), ['head.layers.0.bias', 'head.layers.0.weight'])
    """

    def __init__(self, standardizer: Standardizer, head: nn.Module) -> None:
        super().__init__()
        self.standardizer = standardizer
        self.head = head

    def forward(self, embeddings: torch.Tensor) -> torch.Tensor:
        """``(B, D)`` raw embeddings -> ``(B, C)`` outputs."""
        return self.head(self.standardizer(embeddings))


def head_hidden_size(head_factory: Callable) -> int:
    """The hidden size a head constructor (a yaml ``!name:``) sets; 0 for a linear head.

    Example
    -------
    >>> import functools
    >>> from semisupcon_recipe.probe import ProbeHead
    >>> head_hidden_size(functools.partial(ProbeHead, hidden_size=512)), head_hidden_size(ProbeHead)
    (512, 0)
    """
    return int(getattr(head_factory, "keywords", {}).get("hidden_size", 0) or 0)


def grid_configurations(grid: Mapping, head_factory: Callable) -> list[dict]:
    """Every configuration of the grid for one head, in a fixed order.

    ``hidden_size`` is searched for MLP heads only (a head with ``hidden_size > 0``);
    without a ``hidden_size`` entry in the grid an MLP keeps its own.

    Example
    -------
    >>> import functools
    >>> from semisupcon_recipe.probe import ProbeHead
    >>> grid = {"weight_decay": [0.001, 0.01], "hidden_size": [64, 128]}
    >>> len(grid_configurations(grid, ProbeHead)), len(grid_configurations(grid, functools.partial(ProbeHead, hidden_size=8)))
    (2, 4)
    >>> grid_configurations(grid, ProbeHead)[1]
    {'weight_decay': 0.01}
    """
    axes = {name: [float(value) for value in grid[name]] for name in GRID_FIELDS}
    if head_hidden_size(head_factory) and grid.get("hidden_size"):
        axes["hidden_size"] = [int(value) for value in grid["hidden_size"]]
    return [dict(zip(axes, values)) for values in itertools.product(*axes.values())]


def check_grid(grid: object) -> list[str]:
    """Problems of a ``grid`` block (empty when it is well formed).

    Example
    -------
    >>> check_grid({"weight_decay": []})
    ['weight_decay must be a non-empty list of numbers >= 0']
    """
    if not isinstance(grid, Mapping):
        return ["grid must map weight_decay (and optionally hidden_size) to lists"]
    problems = []
    for name in GRID_FIELDS:
        values = grid.get(name)
        if not isinstance(values, list) or not values or not all(
                isinstance(value, (int, float)) and value >= 0 for value in values):
            problems.append(f"{name} must be a non-empty list of numbers >= 0")
    hidden = grid.get("hidden_size")
    if hidden is not None and (not isinstance(hidden, list) or not hidden
                               or not all(isinstance(value, int) and value > 0 for value in hidden)):
        problems.append("hidden_size must be a non-empty list of positive integers")
    unknown = sorted(set(grid) - {*GRID_FIELDS, "hidden_size"})
    if unknown:
        problems.append(f"unknown grid entries {unknown}")
    return problems


@dataclass
class FittedProbe:
    """One trained configuration: the converged probe and its validation scores."""

    model: StandardizedProbe
    valid: dict
    valid_loss: float
    iterations: int


def probe_outputs(model: nn.Module, dataset: TensorDataset) -> torch.Tensor:
    """``(M, C)`` outputs of ``model`` on the inputs of a ``(inputs (M, D), targets)`` dataset."""
    model.eval()
    with torch.no_grad():
        return model(dataset.tensors[0].to(next(model.parameters()).device)).float().cpu()  # (M, C)


def score_probe(model: nn.Module, dataset: TensorDataset, kind: str, names, task_name: str) -> tuple[dict, float]:
    """All metrics and the loss of ``model`` on a ``(inputs (M, D), targets)`` dataset."""
    outputs, targets = probe_outputs(model, dataset), dataset.tensors[1]
    loss = float(probe_loss(kind, outputs, targets))
    return compute_metrics(kind, outputs, targets, names=names, task=task_name), loss


def fit_configuration(
    data: ProbeData, head_factory: Callable, config: Mapping, max_iterations: int, run: ProbeRun
) -> FittedProbe:
    """Train one grid configuration to convergence on standardised training tracks (full-batch L-BFGS).

    Parameters
    ----------
    data : ProbeData
        Its ``train_tracks`` and ``valid`` datasets are used.
    head_factory : callable
        ``head_factory(input_size=D, num_outputs=C[, hidden_size=H])``.
    config : mapping
        ``weight_decay`` and, for MLP heads, optionally ``hidden_size``.
    max_iterations : int
        L-BFGS iterations at most.
    run : ProbeRun
        Its ``seed`` (initialization of MLP heads; a linear head converges to one
        solution), ``device``, ``select_on`` (checked to be defined) and ``task_name``.
    """
    inputs, targets = (tensor.to(run.device) for tensor in data.train_tracks.tensors)  # (M, D), (M,) or (M, C)
    torch.manual_seed(run.seed)
    sizes = {"hidden_size": int(config["hidden_size"])} if "hidden_size" in config else {}
    head = head_factory(input_size=data.embedding_dim, num_outputs=data.vocabulary.size, **sizes)
    model = StandardizedProbe(Standardizer.fit(inputs), head).to(run.device)
    weights = [parameter for parameter in model.parameters() if parameter.ndim > 1]
    weight_decay = float(config["weight_decay"])
    optimizer = torch.optim.LBFGS(model.parameters(), lr=1.0, max_iter=int(max_iterations),
                                  tolerance_grad=1e-6, tolerance_change=1e-9, history_size=20,
                                  line_search_fn="strong_wolfe")

    def penalized_loss() -> torch.Tensor:
        optimizer.zero_grad()
        loss = probe_loss(data.kind, model(inputs), targets)
        loss = loss + 0.5 * weight_decay * sum(weight.pow(2).sum() for weight in weights)  # L2 on weights, not biases
        loss.backward()
        return loss

    model.train()
    optimizer.step(penalized_loss)
    iterations = int(optimizer.state[next(iter(model.parameters()))].get("n_iter", 0))
    valid, valid_loss = score_probe(model, data.valid, data.kind, data.vocabulary.names, run.task_name)
    if math.isnan(valid[run.select_on]):
        raise ValueError(f"validation {run.select_on} is undefined for {run.task_name} (no tag has both positive and "
                         f"negative validation examples); use a larger validation split")
    return FittedProbe(model, valid, valid_loss, iterations)


def data_digest(data: ProbeData) -> str:
    """Hash of the probe's input and target tensors (a rerun reuses results only for the same data)."""
    digest = hashlib.sha256()
    for dataset in (data.train_tracks, data.valid, data.test):
        for tensor in dataset.tensors:
            digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def tune_probe(data: ProbeData, head_factory: Callable, training: Mapping, run: ProbeRun) -> dict:
    """Search the grid, test the configuration best on validation, write ``results.json``.

    Parameters
    ----------
    data : ProbeData
        From :func:`semisupcon_recipe.probe_data.probe_datasets`.
    head_factory : callable
        ``head_factory(input_size=D, num_outputs=C)`` (a yaml ``!name:``).
    training : mapping
        The ``tuned`` block (``hparams/probe/tuned.yaml``): ``max_iterations``, ``grid``.
    run : ProbeRun
        Task, selection metric of the grid choice, seed (every configuration's
        initialization), device, and the run folder: it receives ``results.json`` and
        ``probe.ckpt`` (the chosen probe with its standardisation); a rerun on the same
        data and settings reuses the results.

    Returns
    -------
    dict
        ``test`` and ``valid`` metrics of the chosen configuration, ``config``, and
        ``grid`` (every configuration with its validation score).
    """
    started = time.time()
    select_on, max_iterations = run.select_on, int(training["max_iterations"])
    configs = grid_configurations(training["grid"], head_factory)
    record = {"protocol": "tuned", "configs": configs, "seed": run.seed, "select_on": select_on,
              "data": data_digest(data), "max_iterations": max_iterations, "head": repr(head_factory)}
    results_path = run.output_folder / "results.json"
    if results_path.is_file():
        previous = json.loads(results_path.read_text())
        if previous.get("settings") == json.loads(json.dumps(record)):
            return previous
    trials, best = [], None
    for config in configs:
        fitted = fit_configuration(data, head_factory, config, max_iterations, run)
        trials.append({**config, select_on: fitted.valid[select_on], "valid_loss": fitted.valid_loss,
                       "iterations": fitted.iterations})
        if best is None or (fitted.valid[select_on], -fitted.valid_loss) > (best[1].valid[select_on], -best[1].valid_loss):
            best = (config, fitted)
    config, fitted = best
    test, test_loss = score_probe(fitted.model, data.test, data.kind, data.vocabulary.names, run.task_name)
    run.output_folder.mkdir(parents=True, exist_ok=True)
    head = repr(fitted.model.head).replace("\n", " ")
    torch.save({"state_dict": fitted.model.state_dict(), "config": config, "head": head},
               run.output_folder / "probe.ckpt")
    results = {
        **dict(run.extra_results),
        "task": run.task_name,
        "seed": run.seed,
        "protocol": "tuned",
        "kind": data.kind,
        "select_on": select_on,
        "config": config,
        "iterations": fitted.iterations,
        "valid": {**{key: value for key, value in fitted.valid.items() if isinstance(value, float)},
                  "loss": fitted.valid_loss},
        "test": {**test, "loss": test_loss},
        "grid": trials,
        "head": head,
        "labels": data.vocabulary.names if data.kind != "regression" else data.vocabulary.num_outputs,
        "data": data.summary,
        "settings": record,
        "seconds": round(time.time() - started, 2),
    }
    write_json(results_path, results)
    logger.info("%s, seed %d: %d configurations, chosen %s (valid %s %.4f), test %s %.4f", run.task_name, run.seed,
                len(configs), config, select_on, fitted.valid[select_on], select_on, test[select_on])
    return results


def logistic_regression_reference(data: ProbeData, select_on: str, c_values: Sequence[float] = tuple(
        10.0 ** exponent for exponent in range(-4, 4))) -> dict:
    """The scikit-learn reference of the tuned protocol (multi-class and multi-label tasks).

    ``LogisticRegression`` (one-vs-rest for multi-label) on the training track
    embeddings standardised by ``StandardScaler``, its ``C`` chosen on the validation
    ``select_on`` score among ``c_values``; the probe the tuned protocol is checked
    against (tests/test_probe_protocols.py, scripts/compare_probe_protocols.py).

    Returns
    -------
    dict
        ``C``, ``valid`` and ``test`` (the ``select_on`` scores of the chosen ``C``).

    Example
    -------
    >>> from semisupcon_recipe.manifest import LabelVocabulary
    >>> inputs = torch.randn(40, 3); targets = (inputs[:, 0] > 0).long()
    >>> tracks = TensorDataset(inputs, targets)
    >>> data = ProbeData("multiclass", LabelVocabulary("multiclass", ["a", "b"]), tracks, tracks, tracks, 3,
    ...                  train_tracks=tracks)
    >>> logistic_regression_reference(data, "accuracy", c_values=[1.0])["test"] > 0.9
    True
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.preprocessing import StandardScaler

    if data.kind not in ("multiclass", "multilabel"):
        raise ValueError(f"the logistic-regression reference covers multiclass and multilabel tasks, not {data.kind}")
    train_inputs, train_targets = (tensor.numpy() for tensor in data.train_tracks.tensors)
    scaler = StandardScaler().fit(train_inputs)
    best = None
    for c in c_values:
        model = LogisticRegression(C=c, max_iter=5000)
        if data.kind == "multilabel":
            model = OneVsRestClassifier(model)
        model.fit(scaler.transform(train_inputs), train_targets)
        scores = {"C": c}
        for split, dataset in (("valid", data.valid), ("test", data.test)):
            inputs = scaler.transform(dataset.tensors[0].numpy())  # (M, D)
            if data.kind == "multilabel":
                outputs = model.decision_function(inputs)  # (M, C)
            else:  # class probabilities in vocabulary order; classes absent from training never win
                outputs = np.full((len(inputs), data.vocabulary.size), -1.0)  # (M, C)
                outputs[:, model.classes_] = model.predict_proba(inputs)
            scores[split] = compute_metrics(data.kind, outputs, dataset.tensors[1].numpy(),
                                            names=data.vocabulary.names)[select_on]
        if best is None or scores["valid"] > best["valid"]:
            best = scores
    return best
