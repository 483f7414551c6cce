"""Manifests (SpeechBrain CSV) and label vocabularies.

A manifest is a SpeechBrain CSV (UTF-8, a byte-order mark is accepted) with the
columns ``ID,duration,wav`` and an optional ``labels`` column: for multi-label data the
active tags, for multi-class data one class name, for regression a number (several
numbers for multi-output regression), and empty for an unlabeled item. ``$name``
replacements work as in SpeechBrain.

The label-cell rule: ``;`` is the only separator between tags (or numbers), and a
tag may contain spaces, so ``new age`` is one tag and ``rock;new age`` two. Tags are
stripped of surrounding spaces; an empty tag (``rock;;pop``, a leading or trailing
``;``) is an error naming the file and the line.

Every dataset preparation script writes manifests with :func:`write_manifest`; every
reader goes through :func:`read_manifest`, which checks the columns and names the
offending row.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Mapping, Sequence

from semisupcon_recipe.files import atomic_path

if TYPE_CHECKING:
    import torch

REQUIRED_COLUMNS = ("ID", "duration", "wav")
SUPERVISION_KINDS = ("multilabel", "multiclass", "regression")
TAG_SEPARATOR = ";"
SPLITS = ("train", "valid", "test")  # the manifests of a task (probe) or a prepared dataset
REPLACEMENT = re.compile(r"\$([\w.]+)")  # SpeechBrain's ``$name`` syntax


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
        (a cell following the label-cell rule, or a list of tags or numbers, written
        joined with ``;``) and any extra columns.

    Returns
    -------
    int
        Number of rows written.

    Raises
    ------
    ManifestError
        An empty ID, or a label that the label-cell rule cannot read back (an empty
        tag, a tag containing ``;``); the message names the row.

    Example
    -------
    >>> import tempfile, os
    >>> folder = tempfile.mkdtemp()
    >>> write_manifest(os.path.join(folder, "m.csv"),
    ...                [{"ID": "a", "duration": 3.0, "wav": "a.wav", "labels": ["rock", "new age"]},
    ...                 {"ID": "b", "duration": 2.0, "wav": "b.wav", "labels": ["new age"]}])
    2
    >>> open(os.path.join(folder, "m.csv")).read().splitlines()[1:]
    ['a,3.0,a.wav,rock;new age', 'b,2.0,b.wav,new age']
    """
    rows = [dict(row) for row in rows]
    columns = list(REQUIRED_COLUMNS) + ["labels"]
    for number, row in enumerate(rows, start=1):
        where = f"{path}, row {number} (ID {row.get('ID')!r})"
        if not str(row.get("ID", "")).strip():
            raise ManifestError(f"{where}: empty ID; give every row a non-empty ID")
        labels = row.get("labels")
        if isinstance(labels, (list, tuple)):
            tags = [str(tag).strip() for tag in labels]
            bad = [tag for tag in tags if not tag or TAG_SEPARATOR in tag]
            if bad:
                raise ManifestError(
                    f"{where}: tag(s) {bad} cannot be written: a tag must be non-empty and must not "
                    f"contain {TAG_SEPARATOR!r}, the separator between tags; rename them"
                )
            row["labels"] = TAG_SEPARATOR.join(tags)
        row["labels"] = "" if labels is None else row["labels"]
        split_tags(str(row["labels"]), where=where)
        columns += [key for key in row if key not in columns]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as temporary, open(temporary, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, restval="")
        writer.writeheader()
        writer.writerows(rows)
    return len(rows)


def _decode(path: Path) -> str:
    """The text of a UTF-8 file (with or without a byte-order mark); errors name the line."""
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise ManifestError(
            f"manifest {path}, line {line}: byte {raw[error.start:error.start + 1]!r} is not UTF-8; "
            f"save the file as UTF-8 (e.g. 'CSV UTF-8' in a spreadsheet, or iconv -t UTF-8)"
        ) from None


def read_manifest(path: str | Path, replacements: Mapping[str, str] | None = None) -> dict[str, dict]:
    """Read and check a manifest; returns ``{ID: row}`` like SpeechBrain's ``load_data_csv``.

    Fields are read as SpeechBrain reads them (spaces after a comma are skipped,
    ``$name`` is replaced, ``duration`` becomes a float), and every row is checked.

    Parameters
    ----------
    path : str or Path
        The CSV (UTF-8; a byte-order mark, as spreadsheets write, is accepted).
    replacements : mapping, optional
        ``$name`` replacements, e.g. ``{"data_root": "/data/mtat"}``.

    Raises
    ------
    ManifestError
        Missing file or column, bytes that are not UTF-8, a row with too few or too
        many fields, an empty or duplicate ID, a duration that is not a positive number,
        a ``$name`` without replacement, or a ``labels`` cell the label-cell rule
        cannot read; the message names the file and the line.

    Example
    -------
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "m.csv")
    >>> _ = open(path, "w").write("ID,duration,wav,labels\\na,2.5,$root/a.wav,new age;piano\\n")
    >>> row = read_manifest(path, {"root": "/data"})["a"]
    >>> row["wav"], split_tags(row["labels"])
    ('/data/a.wav', ['new age', 'piano'])
    """
    path = Path(path)
    if not path.is_file():
        raise ManifestError(f"manifest {path} does not exist; run the dataset's *_prepare.py first")
    replacements = dict(replacements or {})
    reader = csv.reader(io.StringIO(_decode(path), newline=""), skipinitialspace=True)
    header = next(reader, [])
    missing = [column for column in REQUIRED_COLUMNS if column not in header]
    if missing:
        raise ManifestError(
            f"manifest {path} lacks column(s) {missing}; expected a header like "
            f"'ID,duration,wav,labels' (found {header})"
        )
    data: dict[str, dict] = {}
    for fields in reader:
        if not fields:
            continue
        where = f"manifest {path}, line {reader.line_num}"
        if len(fields) != len(header):
            raise ManifestError(
                f"{where}: {len(fields)} field(s) where the header has {len(header)} ({','.join(header)}); "
                f"quote a field that contains a comma, and give every row one value per column"
            )
        row = dict(zip(header, fields))
        item_id = row.pop("ID")
        where = f"{where} (ID {item_id!r})"
        if not item_id.strip():
            raise ManifestError(f"{where}: empty ID; give every row a non-empty, unique ID")
        if item_id in data:
            raise ManifestError(f"{where}: Duplicate id {item_id!r}; IDs must be unique")
        for column, value in row.items():
            try:
                row[column] = REPLACEMENT.sub(lambda match: str(replacements[match[1]]), value)
            except KeyError as error:
                raise ManifestError(f"{where}: column {column} needs the replacement ${error.args[0]}, which was not given") from None
        try:
            row["duration"] = float(row["duration"])
        except ValueError:
            row["duration"] = float("nan")
        if not row["duration"] > 0 or math.isinf(row["duration"]):
            raise ManifestError(f"{where}: duration {fields[header.index('duration')]!r} is not a positive number of seconds")
        row["labels"] = row.get("labels", "")
        split_tags(row["labels"], where=where)
        data[item_id] = row
    return data


def split_tags(text: str, where: str = "") -> list[str]:
    """Split a ``labels`` cell into tags by the label-cell rule (``;`` only, tags stripped).

    Raises
    ------
    ManifestError
        An empty tag (``a;;b``, a leading or trailing ``;``); ``where`` names the row.

    Example
    -------
    >>> split_tags("rock;hard rock")
    ['rock', 'hard rock']
    >>> split_tags("new age")
    ['new age']
    >>> split_tags("")
    []
    >>> split_tags("rock;;pop", where="m.csv, line 3")
    Traceback (most recent call last):
    ...
    semisupcon_recipe.manifest.ManifestError: m.csv, line 3: labels cell 'rock;;pop' has an empty tag; ...
    """
    if not text.strip():
        return []
    tags = [tag.strip() for tag in text.split(TAG_SEPARATOR)]
    if not all(tags):
        raise ManifestError(
            f"{where or 'labels'}: labels cell {text!r} has an empty tag; ';' is the only separator "
            f"between tags (a tag may contain spaces): remove the extra ';'"
        )
    return tags


def _cell_names(kind: str, cell: str, where: str) -> list[str]:
    """The tag names of a multi-label cell, or the one class name of a multi-class cell."""
    names = split_tags(cell, where)
    if kind == "multiclass" and len(names) != 1:
        raise ManifestError(f"{where}: multi-class label {cell!r} holds {len(names)} names; give one class per row")
    return names


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
    def from_cells(cls, kind: str, cells: Iterable[str]) -> "LabelVocabulary":
        """Build the vocabulary from the ``labels`` cells of the labeled rows."""
        cells = [cell for cell in cells if cell and cell.strip()]
        if kind == "regression":
            widths = {len(split_tags(cell, where=f"labels cell {number}")) for number, cell in enumerate(cells, start=1)} or {1}
            if len(widths) != 1:
                raise ManifestError(f"regression labels have different numbers of values: {sorted(widths)}")
            return cls(kind, [], widths.pop())
        names = {name for number, cell in enumerate(cells, start=1) for name in _cell_names(kind, cell, where=f"labels cell {number}")}
        return cls(kind, sorted(names))

    @property
    def size(self) -> int:
        """Width of an encoded label: number of names, or of regression outputs."""
        return self.num_outputs if self.kind == "regression" else len(self.names)

    def encode(self, cell: str, where: str = "") -> torch.Tensor:
        """Encode one non-empty ``labels`` cell; ``where`` names the row in errors.

        Returns a float multi-hot ``(C,)`` for multi-label, a long scalar for
        multi-class, a float ``(num_outputs,)`` for regression.
        """
        import torch  # here, so that the torch-free command line and prepare scripts can read manifests

        if self.kind == "regression":
            try:
                values = [float(value) for value in split_tags(cell, where)]
            except ValueError:
                raise ManifestError(f"{where}: regression label {cell!r} is not a number") from None
            if len(values) != self.num_outputs or not all(math.isfinite(v) for v in values):
                raise ManifestError(f"{where}: expected {self.num_outputs} finite number(s), got {cell!r}")
            return torch.tensor(values, dtype=torch.float32)
        names = _cell_names(self.kind, cell, where)
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
        import torch

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
