"""The demo's pretrainings: their recipe overrides and commands, the pair of runs of one
seed (in parallel on CPU), the settings record of ``models/``, and fixed thread counts.

Determinism: every pretraining runs with one torch thread (``OMP_NUM_THREADS`` and
``MKL_NUM_THREADS`` are 1 in its process), feature extraction and probes with
``DemoSettings.probe_threads`` torch and BLAS threads (:func:`fix_threads`), and torch's
deterministic algorithms are on, so the numbers do not depend on how many cores the
machine has, on the thread variables of the caller's environment, or on running the two
pretrainings of a seed side by side or one after the other.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
from dataclasses import asdict
from pathlib import Path
from typing import Iterator, Sequence

from semisupcon_recipe.cli_options import UsageError
from semisupcon_recipe.demo.settings import (
    BESTRQ_YAML, CONTROL_MANIFEST, MODELS, PRETRAIN_YAML, PRETRAINING_SETTINGS, SUPERVISED_MODELS, DemoSettings,
)

PRETRAINING_THREADS = 1
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")


def fix_threads(threads: int, deterministic: bool = True) -> dict:
    """Use ``threads`` torch threads and ``threads`` threads in numpy's and scipy's BLAS
    (threadpoolctl), and (``deterministic``) torch's deterministic algorithms; returns
    what was set. The demo asks for deterministic algorithms on CPU only: on CUDA they
    would also need ``CUBLAS_WORKSPACE_CONFIG``.

    The BLAS limit matters because numpy's OpenBLAS otherwise takes its thread count from
    ``OMP_NUM_THREADS`` / ``OPENBLAS_NUM_THREADS`` (else the number of cores) when it is
    loaded, and its float32 products (librosa's mel projection in the handcrafted
    baseline) differ in the last bits between 1 and 2 threads. It applies to the BLAS
    libraries loaded when this is called.

    Example
    -------
    >>> import torch
    >>> from threadpoolctl import threadpool_limits
    >>> before = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    >>> with threadpool_limits(user_api="blas"):  # gives the BLAS libraries their thread counts back at the end
    ...     fixed = fix_threads(1)
    >>> fixed["torch_threads"], fixed["blas_threads"] in ([], [1]), fixed["deterministic_algorithms"]
    (1, True, True)
    >>> torch.set_num_threads(before[0]); torch.use_deterministic_algorithms(before[1])
    """
    import torch
    from threadpoolctl import threadpool_info, threadpool_limits

    torch.set_num_threads(threads)
    threadpool_limits(limits=threads, user_api="blas")
    if deterministic:
        torch.use_deterministic_algorithms(True)
    return {
        "torch_threads": torch.get_num_threads(),
        "blas_threads": sorted({library["num_threads"] for library in threadpool_info() if library["user_api"] == "blas"}),
        "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
    }


@contextlib.contextmanager
def thread_environment(threads: int) -> Iterator[None]:
    """Set ``OMP_NUM_THREADS`` / ``MKL_NUM_THREADS`` for the processes started inside (restored after).

    Example
    -------
    >>> with thread_environment(1):
    ...     os.environ["OMP_NUM_THREADS"]
    '1'
    """
    saved = {name: os.environ.get(name) for name in THREAD_VARIABLES}
    os.environ.update({name: str(threads) for name in THREAD_VARIABLES})
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def pretrain(settings: DemoSettings, model: str, seed: int, manifests: dict, output: Path, device: str) -> Path:
    """One pretraining run with :data:`PRETRAINING_THREADS` torch threads (resumes, or returns at once when finished)."""
    import torch
    from hyperpyyaml import load_hyperpyyaml
    from threadpoolctl import threadpool_limits

    from semisupcon_recipe.pretraining import run_pretraining

    threads = torch.get_num_threads()
    with threadpool_limits(user_api="blas"):  # the caller's BLAS thread counts come back at the end, like its torch threads
        fix_threads(PRETRAINING_THREADS, deterministic=device == "cpu")
        if model in SUPERVISED_MODELS and settings.label_control:
            clip_id_labels(manifests[f"labeled_{settings.supervised_label}"], output.parent / CONTROL_MANIFEST)
        yaml_file, overrides = pretraining_overrides(settings, model, seed, manifests, output)
        with open(yaml_file, encoding="utf-8") as stream:
            hparams = load_hyperpyyaml(stream, overrides)
        run_opts = {"device": device, "tqdm_colored_bar": False, "noprogressbar": True}
        try:
            run_pretraining(str(yaml_file), run_opts, overrides, hparams, command=pretraining_command(yaml_file, overrides, device))
        finally:
            torch.set_num_threads(threads)
    return output


def pretraining_overrides(settings: DemoSettings, model: str, seed: int, manifests: dict, output: Path) -> tuple[Path, dict]:
    """The yaml of one demo pretraining and every override the demo gives it.

    :func:`pretrain` runs exactly this, and the report prints it as a recipe command
    (:func:`pretraining_command`), so the printed commands reproduce the report's models.
    The supervised models (:data:`~.settings.SUPERVISED_MODELS`) get the labeled manifest
    of ``settings.supervised_label``, its supervision kind, ``labeled_sampling`` and
    ``label_weight``; the SSL-only ones none of them.

    Example
    -------
    >>> manifests = {"pretrain": "data/pretrain.csv", "labeled_instruments": "data/labeled_instruments.csv"}
    >>> settings = DemoSettings(supervised_label="instruments", labeled_sampling="pairs")
    >>> yaml_file, overrides = pretraining_overrides(settings, "semisupcon", 1, manifests, Path("models/semisupcon/1"))
    >>> yaml_file.name, overrides["labeled_manifest"], overrides["supervision"], overrides["labeled_sampling"]
    ('pretrain.yaml', 'data/labeled_instruments.csv', 'multilabel', 'pairs')
    >>> overrides["batch_size"], overrides["number_of_epochs"], overrides["label_weight"]
    (32, 6, 1.0)
    >>> "labeled_sampling" in pretraining_overrides(settings, "ssl", 1, manifests, Path("models/ssl/1"))[1]
    False
    """
    from semisupcon_recipe.demo.dataset import LABEL_TYPES

    labeled, supervision = None, {}
    if model in SUPERVISED_MODELS:
        labeled = manifests[f"labeled_{settings.supervised_label}"]
        if settings.label_control:
            labeled = output.parent / CONTROL_MANIFEST
        supervision = {
            "supervision": LABEL_TYPES[settings.supervised_label],
            "labeled_sampling": settings.labeled_sampling,
            "label_weight": settings.label_weight,
        }
    yaml_file, sizes = (PRETRAIN_YAML, settings.extra_overrides) if model in MODELS else (BESTRQ_YAML, settings.ssl_mix_overrides)
    return yaml_file, {
        "seed": seed,
        "output_folder": str(output),
        "unlabeled_manifest": str(manifests["pretrain"]),
        "labeled_manifest": str(labeled) if labeled else None,
        "labeled_share": settings.labeled_share if model in SUPERVISED_MODELS else 0.0,
        "temperature": settings.temperature,
        "batch_size": settings.batch_size,
        "number_of_epochs": settings.epochs,
        "batches_per_epoch": settings.batches_per_epoch,
        **supervision,
        **({"semisupcon_weight": 0.0} if model == "bestrq" else {}),  # BEST-RQ alone
        **sizes,
    }


def supervised_label_similarity(settings: DemoSettings, manifests: dict, out: Path):
    """The label similarity of the demo's SemiSupCon loss (its yaml loaded with the demo's overrides).

    What the pretraining's objective and its ``labeled_sampling: pairs`` use, so the
    diagnostics and plots that replay its batches (:mod:`.diagnostics`, :mod:`.plots`)
    use the same.

    Example
    -------
    >>> manifests = {"pretrain": "data/pretrain.csv", "labeled_instruments": "data/labeled_instruments.csv"}
    >>> supervised_label_similarity(DemoSettings(supervised_label="instruments", label_weight=0.5), manifests, Path("demo"))
    LabelSimilarity(supervision='multilabel', multilabel_similarity='threshold', threshold=1, radius=0.5, similarity=None, weight=0.5)
    """
    from hyperpyyaml import load_hyperpyyaml

    model = SUPERVISED_MODELS[0]
    seed = settings.seeds[0]
    yaml_file, overrides = pretraining_overrides(settings, model, seed, manifests, out / "models" / model / str(seed))
    with open(yaml_file, encoding="utf-8") as stream:
        return load_hyperpyyaml(stream, overrides)["loss"].label_similarity


def pretraining_command(yaml_file: Path, overrides: dict, device: str) -> str:
    """The recipe command that runs one demo pretraining as :func:`pretrain` does.

    Example
    -------
    >>> print(pretraining_command(PRETRAIN_YAML, {"seed": 0, "labeled_manifest": None, "tdnn_channels": [16, 32]}, "cpu"))
    OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 python recipes/Generic/pretrain/train.py semisupcon_recipe/demo/pretrain.yaml --seed=0 '--tdnn_channels=[16, 32]' --device=cpu
    """
    words = ["python", "recipes/Generic/pretrain/train.py", str(yaml_file.relative_to(yaml_file.parents[2]))]
    words += [f"--{key}={json.dumps(value) if isinstance(value, (list, dict)) else value}"
              for key, value in overrides.items() if value is not None]
    prefix = " ".join(f"{name}={PRETRAINING_THREADS}" for name in THREAD_VARIABLES)
    return f"{prefix} {shlex.join([*words, f'--device={device}'])}"


def clip_id_labels(manifest: Path, path: Path) -> Path:
    """A copy of ``manifest`` whose label is each clip's own ID (the ``--label-control`` run).

    Every label is unique, so the target matrix has the same-clip positives only, as in
    SSL, while the sampler still fills ``b_s`` of every batch from the small labeled pool:
    the control separates what the labels add from what re-sampling that pool does.

    Example
    -------
    >>> import tempfile
    >>> from semisupcon_recipe.manifest import read_manifest, write_manifest
    >>> folder = Path(tempfile.mkdtemp())
    >>> rows = [{"ID": "a", "duration": 3, "wav": "a.wav", "labels": "C major"},
    ...         {"ID": "b", "duration": 3, "wav": "b.wav", "labels": "C major"}]
    >>> write_manifest(folder / "key.csv", rows)
    2
    >>> control = clip_id_labels(folder / "key.csv", folder / "control.csv")
    >>> [row["labels"] for row in read_manifest(control).values()]
    ['a', 'b']
    """
    from semisupcon_recipe.manifest import read_manifest, write_manifest

    rows = [{**row, "ID": item_id, "labels": item_id} for item_id, row in read_manifest(manifest).items()]
    path.parent.mkdir(parents=True, exist_ok=True)
    write_manifest(path, rows)
    return path


class PretrainingCacheError(UsageError):
    """``--out`` holds pretrainings made with other settings (exit status 2)."""


def check_pretraining_record(settings: DemoSettings, models_folder: Path) -> None:
    """Refuse to reuse pretrainings that ran with other settings (else record these).

    Finished pretrainings are reused by folder, so ``--out`` must not mix settings. More
    epochs are allowed: training then resumes where it stopped, with the same result as a
    run started with that many epochs.

    Example
    -------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> check_pretraining_record(DemoSettings(), folder)
    >>> check_pretraining_record(DemoSettings(epochs=9), folder)
    >>> try:
    ...     check_pretraining_record(DemoSettings(labeled_share=0.5), folder)
    ... except PretrainingCacheError as error:
    ...     print(str(error).split("(")[1].split(")")[0])
    labeled_share: 0.25 there, 0.5 asked
    """
    from semisupcon_recipe.settings_record import describe_differences, read_record, write_record

    wanted = {key: value for key, value in asdict(settings).items() if key in PRETRAINING_SETTINGS}
    wanted = json.loads(json.dumps(wanted))
    record = models_folder / "pretraining_settings.json"
    found = read_record(record)
    if found is None:
        write_record(record, wanted)
        return
    details = describe_differences(found, wanted)
    if details:
        raise PretrainingCacheError(
            f"{models_folder} holds pretrainings with other settings ({details}); "
            f"pass another --out, or delete {models_folder} to pretrain again"
        )


def trained_steps(output: Path) -> int:
    """Optimizer steps of a pretraining output folder's newest complete checkpoint (0 before the first).

    Example
    -------
    >>> import tempfile
    >>> trained_steps(Path(tempfile.mkdtemp()))
    0
    """
    import yaml

    from semisupcon_recipe.checkpoints import VerifiedCheckpointer

    save = output / "save"
    if not save.is_dir():
        return 0
    newest = VerifiedCheckpointer(save).find_checkpoint()
    if newest is None:
        return 0
    return int(yaml.safe_load(newest.paramfiles["brain"].read_text(encoding="utf-8"))["optimizer_step"])


def refuse_overtrained(output: Path, steps: int) -> None:
    """Refuse a pretraining folder already trained past ``steps``: its checkpoint is not the one asked for.

    Example
    -------
    >>> import tempfile
    >>> refuse_overtrained(Path(tempfile.mkdtemp()), 300)
    """
    trained = trained_steps(output)
    if trained > steps:
        raise PretrainingCacheError(
            f"{output} is trained for {trained} optimizer steps, more than the {steps} asked (a checkpoint is not kept per "
            f"budget); pass another --out, or delete {output} to pretrain again"
        )


def pretrain_models(
    settings: DemoSettings, seed: int, manifests: dict, out: Path, device: str, parallel: bool, models: Sequence[str] = tuple(MODELS)
) -> dict[str, Path]:
    """A pair of models of one seed (e.g. SSL-only and SemiSupCon), side by side in two processes on CPU.

    Two single-threaded processes use two cores better than one process with two
    threads for a model this small; on a GPU (or with ``parallel=False``) the runs go one
    after the other in this process. Either way each run has one thread, so the
    weights are the same.
    """
    import multiprocessing

    outputs = {model: out / "models" / model / str(seed) for model in models}
    if not parallel:
        return {model: pretrain(settings, model, seed, manifests, outputs[model], device) for model in models}
    context = multiprocessing.get_context("spawn")
    processes = [
        context.Process(target=pretrain, args=(settings, model, seed, manifests, outputs[model], device))
        for model in models
    ]
    with thread_environment(PRETRAINING_THREADS):  # set before torch starts in the new processes
        for process in processes:
            process.start()
    for process in processes:
        process.join()
    failed = [model for model, process in zip(models, processes) if process.exitcode != 0]
    if failed:
        raise RuntimeError(f"pretraining of {failed} (seed {seed}) failed; see {out / 'models'}/<model>/{seed}/log.txt")
    return outputs
