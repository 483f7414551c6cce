"""The probe training protocols by name, and the one call that runs either.

``semisupcon evaluate`` and ``recipes/Generic/probe/train.py`` train their probes under
the protocol the ``protocol`` entry of the ``training`` block names:

``paper`` (``hparams/probe/paper.yaml``)
    The paper's protocol (METHOD.md section 9): raw chunk embeddings, Adam at one
    learning rate and weight decay, early stopping on the validation metric
    (:func:`semisupcon_recipe.probe_brain.train_probe`).
``tuned`` (``hparams/probe/tuned.yaml``, the default of every tasks file)
    Standardised track embeddings, a validation grid of weight decays (x hidden
    sizes), each configuration trained to convergence with L-BFGS
    (:func:`semisupcon_recipe.probe_tuning.tune_probe`).

Both receive the same :class:`semisupcon_recipe.probe.ProbeRun` and write the same
kind of ``results.json``, which names its protocol.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Mapping

from semisupcon_recipe.probe import ProbeRun
from semisupcon_recipe.probe_brain import train_probe
from semisupcon_recipe.probe_data import ProbeData
from semisupcon_recipe.probe_tuning import tune_probe

PROTOCOL_FIELDS = {
    "paper": ("batch_size", "max_epochs", "patience", "opt_class"),
    "tuned": ("max_iterations", "grid"),
}
PROTOCOL_DESCRIPTIONS = {
    "paper": "paper (raw chunk embeddings, one learning rate and weight decay, early stopping; hparams/probe/paper.yaml)",
    "tuned": "tuned (standardised track embeddings, weight decay [x hidden size] chosen on the validation split, "
             "L-BFGS to convergence; hparams/probe/tuned.yaml)",
}
PROTOCOLS = {"paper": train_probe, "tuned": tune_probe}


def run_protocol(
    data: ProbeData,
    head_factory: Callable,
    training: Mapping,
    select_on: str,
    seed: int,
    output_folder: str | Path,
    task_name: str,
    device: str = "cpu",
    extra_results: Mapping[str, object] | None = None,
) -> dict:
    """Train and test one probe under the protocol ``training["protocol"]`` names.

    ``data`` and ``head_factory`` go to the protocol as they are; ``training`` is the
    ``training`` block (``protocol`` and the entries :data:`PROTOCOL_FIELDS` lists for
    it); the other arguments are the fields of :class:`semisupcon_recipe.probe.ProbeRun`.

    Returns
    -------
    dict
        The content of the run's ``results.json``.

    Example
    -------
    >>> run_protocol(None, None, {"protocol": "fast"}, "accuracy", 1, "run", "gtzan")
    Traceback (most recent call last):
    ...
    ValueError: unknown probe protocol 'fast'; use one of ['paper', 'tuned']
    """
    protocol = training["protocol"]
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown probe protocol {protocol!r}; use one of {sorted(PROTOCOLS)}")
    run = ProbeRun(task_name, select_on, seed, Path(output_folder), device, dict(extra_results or {}))
    return PROTOCOLS[protocol](data, head_factory, training, run)
