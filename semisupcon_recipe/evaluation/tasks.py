"""Tasks files of ``semisupcon evaluate``, ``robustness`` and ``s3prl-eval``: reading and checking them.

A tasks file is hyperpyyaml; the shared blocks of ``hparams/probe/`` can be included::

    training: !include:<repo>/hparams/probe/tuned.yaml {}      # protocol (tuned | paper) and
    features: !include:<repo>/hparams/probe/features.yaml {}   # its settings; chunking
    heads:                                                      # name -> block with `head`
        linear: !include:<repo>/hparams/probe/linear.yaml {}
        mlp: !include:<repo>/hparams/probe/mlp.yaml {}
    seeds: [1, 2, 3]
    tasks:
        - name: gtzan
          kind: multiclass                # multilabel | multiclass | regression
          train: /data/gtzan/train.csv
          valid: /data/gtzan/valid.csv
          test: /data/gtzan/test.csv
          select_on: accuracy             # optional; default roc_auc | accuracy | r2
          replacements: {data_root: /data} # optional $name replacements of the manifests

The protocols (``tuned``, the default, and the paper's ``paper``) are described in
:mod:`semisupcon_recipe.probe_protocols`. Every problem is reported as a
:class:`TasksFileError` (or :class:`MissingManifestsError`) naming the file, the entry
and the fix; the ``semisupcon`` command turns both into exit status 2.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping, Sequence

from semisupcon_recipe.cli_options import UsageError
from semisupcon_recipe.manifest import SPLITS

TASK_KINDS = ("multilabel", "multiclass", "regression")
TASK_FIELDS = ("name", "kind", "train", "valid", "test")
FEATURE_FIELDS = ("chunk_len", "max_chunks", "extract_batch_size", "shard_size", "num_workers", "corruption_seed")


class TasksFileError(UsageError):
    """A tasks file is malformed; the message names the file, the entry and the fix."""


class MissingManifestsError(FileNotFoundError):
    """Manifests a tasks file names do not exist; the message lists them all and the fix."""


@dataclass
class ProbeTask:
    """One downstream task: three manifests and how to score them."""

    name: str
    kind: str
    manifests: dict[str, str]
    select_on: str
    replacements: dict[str, str] = field(default_factory=dict)
    _rows: dict[str, dict[str, dict]] | None = field(default=None, repr=False, compare=False)

    def manifest_rows(self) -> dict[str, dict[str, dict]]:
        """Split -> the rows of its manifest (:func:`semisupcon_recipe.manifest.read_manifest`), read once.

        Example
        -------
        >>> import tempfile
        >>> from semisupcon_recipe.manifest import write_manifest
        >>> path = Path(tempfile.mkdtemp()) / "m.csv"
        >>> _ = write_manifest(path, [{"ID": "a", "duration": 1.0, "wav": "a.wav", "labels": "rock"}])
        >>> task = ProbeTask("genre", "multiclass", dict.fromkeys(("train", "valid", "test"), str(path)), "accuracy")
        >>> list(task.manifest_rows()["train"]), task.manifest_rows() is task.manifest_rows()
        (['a'], True)
        """
        if self._rows is None:
            from semisupcon_recipe.manifest import read_manifest

            self._rows = {split: read_manifest(path, self.replacements) for split, path in self.manifests.items()}
        return self._rows


@dataclass
class ProbeSettings:
    """Everything a tasks file sets besides the tasks."""

    training: dict
    features: dict
    heads: dict[str, Callable]
    seeds: list[int]


def _head_factory(block: object, where: str) -> Callable:
    if callable(block):
        return block
    if isinstance(block, Mapping) and callable(block.get("head")):
        return block["head"]
    raise TasksFileError(f"{where}: a head is a `!name:` constructor or a block with a `head` entry "
                         f"(e.g. !include:<repo>/hparams/probe/linear.yaml {{}})")


def _require(mapping: object, keys: Sequence[str], where: str) -> dict:
    if not isinstance(mapping, Mapping):
        raise TasksFileError(f"{where} must be a mapping with {list(keys)}")
    missing = [key for key in keys if key not in mapping]
    if missing:
        raise TasksFileError(f"{where} lacks {missing}; see hparams/probe/*.yaml for the expected entries")
    return dict(mapping)


def parse_settings(document: Mapping, where: str) -> ProbeSettings:
    """Check the ``training``, ``features``, ``heads`` and ``seeds`` blocks of a tasks file or recipe.

    ``training`` holds a ``protocol`` (``tuned`` or ``paper``, see
    :mod:`semisupcon_recipe.probe_protocols`) and that protocol's entries.

    Example
    -------
    >>> from semisupcon_recipe.probe import ProbeHead
    >>> settings = parse_settings({"training": {"protocol": "tuned", "max_iterations": 100,
    ...                                         "grid": {"weight_decay": [0.001, 0.01]}},
    ...                            "features": dict.fromkeys(FEATURE_FIELDS), "heads": {"linear": ProbeHead},
    ...                            "seeds": [1, 2]}, "tasks.yaml")
    >>> settings.training["protocol"], settings.seeds
    ('tuned', [1, 2])
    """
    from semisupcon_recipe.probe_protocols import PROTOCOL_FIELDS
    from semisupcon_recipe.probe_tuning import check_grid

    document = _require(document, ("training", "features", "heads", "seeds"), where)
    training = _require(document["training"], ("protocol",), f"{where}: training")
    protocol = training["protocol"]
    if protocol not in PROTOCOL_FIELDS:
        raise TasksFileError(f"{where}: training: protocol {protocol!r} is not one of {sorted(PROTOCOL_FIELDS)}; "
                             f"include hparams/probe/tuned.yaml (default) or hparams/probe/paper.yaml")
    training = _require(training, PROTOCOL_FIELDS[protocol], f"{where}: training ({protocol} protocol)")
    if protocol == "tuned" and check_grid(training["grid"]):
        raise TasksFileError(f"{where}: training: grid: {'; '.join(check_grid(training['grid']))}")
    features = _require(document["features"], FEATURE_FIELDS, f"{where}: features")
    if not isinstance(document["heads"], Mapping) or not document["heads"]:
        raise TasksFileError(f"{where}: heads must map names to heads, e.g. linear: !include:.../linear.yaml {{}}")
    heads = {str(name): _head_factory(block, f"{where}: heads: {name}") for name, block in document["heads"].items()}
    seeds = document["seeds"]
    if not isinstance(seeds, list) or not seeds or not all(isinstance(seed, int) for seed in seeds):
        raise TasksFileError(f"{where}: seeds must be a non-empty list of integers, got {seeds!r}")
    return ProbeSettings(training, features, heads, list(seeds))


def parse_task(entry: object, where: str) -> ProbeTask:
    """Check one task entry (``name``, ``kind``, ``train``, ``valid``, ``test``, optional
    ``select_on`` and ``replacements``) and return it as a :class:`ProbeTask`.

    Example
    -------
    >>> parse_task({"name": "gtzan", "kind": "multiclass", "train": "a.csv", "valid": "b.csv", "test": "c.csv",
    ...             "select_on": None}, "tasks.yaml: tasks[0]").select_on
    'accuracy'
    """
    from semisupcon_recipe.metrics import KEY_METRIC, METRICS_BY_KIND

    entry = _require(entry, TASK_FIELDS, where)
    name, kind = str(entry["name"]), entry["kind"]
    if not re.fullmatch(r"[\w.-]+", name):
        raise TasksFileError(f"{where}: task name {name!r} must use letters, digits, '_', '-' or '.' (it names folders)")
    if kind not in TASK_KINDS:
        raise TasksFileError(f"{where} ({name}): kind {kind!r} is not one of {TASK_KINDS}")
    allowed = METRICS_BY_KIND[kind] + ((KEY_METRIC,) if kind == "multiclass" else ())
    select_on = entry.get("select_on") or METRICS_BY_KIND[kind][0]
    if select_on not in allowed:
        raise TasksFileError(f"{where} ({name}): select_on {select_on!r} is not a {kind} metric; use one of {allowed}")
    manifests = {split: str(entry[split]) for split in SPLITS}
    return ProbeTask(name, kind, manifests, select_on, dict(entry.get("replacements") or {}))


def load_tasks_file(path: str | Path) -> tuple[ProbeSettings, list[ProbeTask]]:
    """Read and check a tasks file (format in the module docstring).

    Raises
    ------
    TasksFileError
        A missing entry, an unknown kind or protocol, a duplicate task name or a bad
        ``select_on``; the message names the file and the task.

    Example
    -------
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "tasks.yaml")
    >>> _ = open(path, "w").write('''
    ... training: {protocol: paper, batch_size: 64, max_epochs: 100, patience: 10,
    ...            opt_class: !name:torch.optim.Adam {lr: 0.0003}}
    ... features: {chunk_len: null, max_chunks: 64, extract_batch_size: 32, shard_size: 256,
    ...            num_workers: 0, corruption_seed: 0}
    ... heads: {linear: !name:semisupcon_recipe.probe.ProbeHead {hidden_size: 0}}
    ... seeds: [1]
    ... tasks:
    ...   - {name: gtzan, kind: multiclass, train: a.csv, valid: b.csv, test: c.csv}
    ... ''')
    >>> settings, tasks = load_tasks_file(path)
    >>> tasks[0].name, tasks[0].select_on, list(settings.heads), settings.seeds
    ('gtzan', 'accuracy', ['linear'], [1])
    """
    from hyperpyyaml import load_hyperpyyaml

    path = Path(path)
    if not path.is_file():
        raise TasksFileError(f"tasks file {path} does not exist")
    with open(path, encoding="utf-8") as stream:
        document = load_hyperpyyaml(stream)
    document = _require(document, ("training", "features", "heads", "seeds", "tasks"), f"tasks file {path}")
    settings = parse_settings(document, str(path))
    if not isinstance(document["tasks"], list) or not document["tasks"]:
        raise TasksFileError(f"{path}: tasks must be a non-empty list of tasks")
    tasks = []
    for index, entry in enumerate(document["tasks"]):
        task = parse_task(entry, f"{path}: tasks[{index}]")
        if any(other.name == task.name for other in tasks):
            raise TasksFileError(f"{path}: tasks[{index}]: task name {task.name!r} is used twice")
        tasks.append(task)
    return settings, tasks


def check_manifests_exist(tasks: Sequence[ProbeTask], tasks_file: str | Path) -> None:
    """Fail before any probing when a manifest of ``tasks`` is missing, listing every one.

    Example
    -------
    >>> task = ProbeTask("genre", "multiclass", {"train": "/nowhere/train.csv", "valid": "/nowhere/valid.csv",
    ...                  "test": "/nowhere/test.csv"}, "accuracy")
    >>> try:
    ...     check_manifests_exist([task], "tasks.yaml")
    ... except MissingManifestsError as error:
    ...     print(str(error).splitlines()[1])
      genre: train /nowhere/train.csv, valid /nowhere/valid.csv, test /nowhere/test.csv
    """
    missing = {
        task.name: [f"{split} {path}" for split, path in task.manifests.items() if not Path(path).is_file()]
        for task in tasks
    }
    lines = [f"  {name}: {', '.join(paths)}" for name, paths in missing.items() if paths]
    if lines:
        raise MissingManifestsError(
            f"{tasks_file} names manifests that do not exist:\n" + "\n".join(lines) + "\n"
            "run the datasets' prepare scripts (recipes/<Dataset>/README.md) to write them, "
            "or remove those tasks from the tasks file"
        )


def corruption_parameters(features: Mapping, corruptions: Sequence[str], tasks_file: str | Path) -> dict[str, dict]:
    """Parameters of each named corruption from the features block's ``corruptions`` entry.

    ``hparams/probe/features.yaml`` includes ``hparams/augment/corruptions.yaml`` there;
    a corruption without a block keeps the defaults of
    :mod:`semisupcon_recipe.corruptions`.

    Example
    -------
    >>> corruption_parameters({"corruptions": {"distortion": {"drive_db": 12.0}}}, ["distortion", "reverb"], "t.yaml")
    {'distortion': {'drive_db': 12.0}, 'reverb': {}}
    """
    blocks = features.get("corruptions") or {}
    if not isinstance(blocks, Mapping) or not all(isinstance(block, Mapping) for block in blocks.values()):
        raise TasksFileError(f"{tasks_file}: features: corruptions must map corruption names to parameter blocks "
                             f"(see hparams/augment/corruptions.yaml)")
    return {name: dict(blocks.get(name) or {}) for name in corruptions}


def pick_task(tasks: Sequence[ProbeTask], task_name: str | None, tasks_file: str | Path) -> ProbeTask:
    """The task named ``task_name`` (or the only task of the file when ``None``).

    Example
    -------
    >>> tasks = [ProbeTask(name, "multiclass", {}, "accuracy") for name in ("genre", "key")]
    >>> pick_task(tasks, "key", "tasks.yaml").name
    'key'
    >>> pick_task(tasks, None, "tasks.yaml")
    Traceback (most recent call last):
    ...
    semisupcon_recipe.evaluation.tasks.TasksFileError: tasks.yaml lists several tasks ['genre', 'key']; choose one with --task
    """
    names = [task.name for task in tasks]
    if task_name is None:
        if len(tasks) > 1:
            raise TasksFileError(f"{tasks_file} lists several tasks {names}; choose one with --task")
        return tasks[0]
    if task_name not in names:
        raise TasksFileError(f"task {task_name!r} is not in {tasks_file} (tasks: {names})")
    return tasks[names.index(task_name)]
