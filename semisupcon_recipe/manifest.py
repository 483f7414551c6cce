"""Manifests (SpeechBrain CSV) and label vocabularies.

A manifest is a SpeechBrain CSV with the columns ``ID,duration,wav`` and an optional
``labels`` column: for multi-label data the active tags separated by ``;`` (or by
spaces when no tag contains one), for multi-class data one class name, for regression
a number (several numbers separated by ``;`` for multi-output regression), and empty
for an unlabeled item. ``$name`` replacements work as in SpeechBrain.

Every dataset preparation script writes manifests with :func:`write_manifest`; every
reader goes through :func:`read_manifest`, which checks the columns and names the
offending row.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import torch
from speechbrain.dataio.dataio import load_data_csv

REQUIRED_COLUMNS = ("ID", "duration", "wav")
SUPERVISION_KINDS = ("multilabel", "multiclass", "regression")


class ManifestError(ValueError):
    """A manifest is malformed; the message names the file, the row and the fix."""


def write_manifest(path: str | Path, rows: Iterable[Mapping[str, object]]) -> int:
    """Write manifest rows to a SpeechBrain CSV.

    Parameters
    ----------
    path : str or Path
        Output CSV; parent folders are created.
    rows : iterable of mappings
        Each with ``ID``, ``duration`` (seconds), ``wav`` and optionally ``labels``
        (a string, or a list of tags joined with ``;``) and any extra columns.

    Returns
    -------
    int
        Number of rows written.

    Example
    -------
    >>> import tempfile, os
    >>> folder = tempfile.mkdtemp()
    >>> write_manifest(os.path.join(folder, "m.csv"),
    ...                [{"ID": "a", "duration": 3.0, "wav": "a.wav", "labels": ["rock", "hard rock"]}])
    1
    >>> open(os.path.join(folder, "m.csv")).read().splitlines()[1]
    'a,3.0,a.wav,rock;hard rock'
    """
    rows = [dict(row) for row in rows]
    columns = list(REQUIRED_COLUMNS) + ["labels"]
    for row in rows:
        if isinstance(row.get("labels"), (list, tuple)):
            row["labels"] = ";".join(str(tag) for tag in row["labels"])
        row.setdefault("labels", "")
        columns += [key for key in row if key not in columns]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, restval="")
        writer.writeheader()
        writer.writerows(rows)
    return len(rows)


def read_manifest(path: str | Path, replacements: Mapping[str, str] | None = None) -> dict[str, dict]:
    """Read and check a manifest; returns ``{ID: row}`` like SpeechBrain's ``load_data_csv``.

    Parameters
    ----------
    path : str or Path
        The CSV.
    replacements : mapping, optional
        ``$name`` replacements, e.g. ``{"data_root": "/data/mtat"}``.

    Raises
    ------
    ManifestError
        Missing file or column, duplicate ID, or a duration that is not a positive
        number; the message names the row.

    Example
    -------
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "m.csv")
    >>> _ = open(path, "w").write("ID,duration,wav,labels\\na,2.5,$root/a.wav,piano\\n")
    >>> read_manifest(path, {"root": "/data"})["a"]["wav"]
    '/data/a.wav'
    """
    path = Path(path)
    if not path.is_file():
        raise ManifestError(f"manifest {path} does not exist; run the dataset's *_prepare.py first")
    with open(path, newline="", encoding="utf-8") as handle:
        header = next(csv.reader(handle), [])
    missing = [column for column in REQUIRED_COLUMNS if column not in header]
    if missing:
        raise ManifestError(
            f"manifest {path} lacks column(s) {missing}; expected a header like "
            f"'ID,duration,wav,labels' (found {header})"
        )
    with open(path, newline="", encoding="utf-8") as handle:
        for line_number, row in enumerate(csv.DictReader(handle), start=2):
            try:
                duration = float(row["duration"])
            except (TypeError, ValueError):
                duration = float("nan")
            if not duration > 0 or math.isinf(duration):
                raise ManifestError(
                    f"manifest {path}, line {line_number} (ID {row.get('ID')!r}): duration "
                    f"{row.get('duration')!r} is not a positive number of seconds"
                )
    try:
        data = load_data_csv(str(path), replacements=dict(replacements or {}))
    except (KeyError, ValueError) as error:
        raise ManifestError(f"manifest {path}: {error}") from error
    for row in data.values():
        row.setdefault("labels", "")
        row["labels"] = row["labels"] or ""
    return data


def split_tags(text: str) -> list[str]:
    """Split a ``labels`` cell into tags: on ``;`` if present, else on whitespace.

    Example
    -------
    >>> split_tags("rock;hard rock")
    ['rock', 'hard rock']
    >>> split_tags("piano guitar")
    ['piano', 'guitar']
    >>> split_tags("")
    []
    """
    separator = ";" if ";" in text else None
    return [tag.strip() for tag in text.split(separator) if tag.strip()]


@dataclass
class LabelVocabulary:
    """Maps manifest ``labels`` cells to tensors for one supervision kind.

    Parameters
    ----------
    kind : str
        ``"multilabel"``, ``"multiclass"`` or ``"regression"``.
    names : list of str
        Tag or class names in index order (empty for regression).
    num_outputs : int
        Number of regression targets (ignored for the other kinds).

    Example
    -------
    >>> vocab = LabelVocabulary.from_cells("multilabel", ["piano;strings", "", "drums"])
    >>> vocab.names
    ['drums', 'piano', 'strings']
    >>> vocab.encode("strings;piano").tolist()
    [0.0, 1.0, 1.0]
    >>> LabelVocabulary.from_cells("multiclass", ["C major", "A minor"]).encode("C major").item()
    1
    """

    kind: str
    names: list[str] = field(default_factory=list)
    num_outputs: int = 1

    def __post_init__(self) -> None:
        if self.kind not in SUPERVISION_KINDS:
            raise ValueError(f"unknown supervision kind {self.kind!r}; use one of {SUPERVISION_KINDS}")
        self._index = {name: index for index, name in enumerate(self.names)}

    @classmethod
    def from_cells(cls, kind: str, cells: Iterable[str], min_count: int = 1) -> "LabelVocabulary":
        """Build the vocabulary from the ``labels`` cells of the labeled rows."""
        cells = [cell for cell in cells if cell and cell.strip()]
        if kind == "regression":
            widths = {len(split_tags(cell)) for cell in cells} or {1}
            if len(widths) != 1:
                raise ManifestError(f"regression labels have different numbers of values: {sorted(widths)}")
            return cls(kind, [], widths.pop())
        counts: dict[str, int] = {}
        for cell in cells:
            for name in split_tags(cell) if kind == "multilabel" else [cell.strip()]:
                counts[name] = counts.get(name, 0) + 1
        return cls(kind, sorted(name for name, count in counts.items() if count >= min_count))

    @property
    def size(self) -> int:
        """Width of an encoded label: number of names, or of regression outputs."""
        return self.num_outputs if self.kind == "regression" else len(self.names)

    def encode(self, cell: str, where: str = "") -> torch.Tensor:
        """Encode one non-empty ``labels`` cell; ``where`` names the row in errors.

        Returns a float multi-hot ``(C,)`` for multi-label, a long scalar for
        multi-class, a float ``(num_outputs,)`` for regression.
        """
        if self.kind == "regression":
            try:
                values = [float(value) for value in split_tags(cell)]
            except ValueError:
                raise ManifestError(f"{where}: regression label {cell!r} is not a number") from None
            if len(values) != self.num_outputs or not all(math.isfinite(v) for v in values):
                raise ManifestError(f"{where}: expected {self.num_outputs} finite number(s), got {cell!r}")
            return torch.tensor(values, dtype=torch.float32)
        names = split_tags(cell) if self.kind == "multilabel" else [cell.strip()]
        unknown = [name for name in names if name not in self._index]
        if unknown:
            raise ManifestError(
                f"{where}: unknown label(s) {unknown}; the vocabulary has {len(self.names)} "
                f"names (saved as label_vocabulary.json); fix the manifest or rebuild the vocabulary"
            )
        if self.kind == "multiclass":
            return torch.tensor(self._index[names[0]], dtype=torch.long)
        multi_hot = torch.zeros(len(self.names))
        multi_hot[[self._index[name] for name in names]] = 1.0
        return multi_hot

    def empty(self) -> torch.Tensor:
        """Placeholder label of an unlabeled item (ignored through the labeled mask)."""
        if self.kind == "multiclass":
            return torch.tensor(-1, dtype=torch.long)
        return torch.zeros(self.size)

    def save(self, path: str | Path) -> None:
        """Write the vocabulary as JSON."""
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps({"kind": self.kind, "names": self.names, "num_outputs": self.num_outputs}, indent=1))

    @classmethod
    def load(cls, path: str | Path) -> "LabelVocabulary":
        """Read a vocabulary written by :meth:`save`."""
        data = json.loads(Path(path).read_text())
        return cls(data["kind"], list(data["names"]), int(data.get("num_outputs", 1)))

    @classmethod
    def load_or_build(
        cls, path: str | Path, kind: str, cells: Sequence[str], names: Sequence[str] | None = None
    ) -> "LabelVocabulary":
        """Load the saved vocabulary if there is one (resume), else build and save it.

        ``names`` fixes the label names and their order (e.g. a dataset's official tag
        list); by default they are the names found in ``cells``, sorted.
        """
        path = Path(path)
        if path.is_file():
            vocabulary = cls.load(path)
            if vocabulary.kind != kind:
                raise ManifestError(f"{path} holds a {vocabulary.kind} vocabulary, the yaml asks for {kind}")
            return vocabulary
        vocabulary = cls(kind, list(names)) if names else cls.from_cells(kind, cells)
        vocabulary.save(path)
        return vocabulary
