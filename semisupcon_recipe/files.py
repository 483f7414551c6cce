"""Atomic file writes: a file is either absent (or its old version) or complete.

Every file another process or a rerun may read (checkpoint checksums, caches, manifests,
records, exported models) is written to a uniquely named temporary file next to it,
flushed to disk, then renamed over it. A kill mid-write leaves at most a hidden
``.<name>.<pid>-<random>.tmp`` file, never a truncated ``<name>``.
"""

from __future__ import annotations

import json
import os
import secrets
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; when the block ends, rename it onto ``path``.

    For writers that take a file name (``torch.save``, ``soundfile.write``,
    ``tarfile``). The temporary name ends in ``.tmp``: give writers that add their own
    extension (``np.save``) an open file instead. If the block raises, the temporary
    file is removed and ``path`` is left as it was.

    Example
    -------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "shard.bin"
    >>> with atomic_path(path) as temporary:
    ...     _ = temporary.write_bytes(b"complete")
    >>> path.read_bytes(), sorted(p.name for p in path.parent.iterdir())
    (b'complete', ['shard.bin'])
    """
    path = Path(path)
    temporary = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
    try:
        yield temporary
        with open(temporary, "rb") as written:
            os.fsync(written.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` into ``path`` atomically (see :func:`atomic_path`).

    Example
    -------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "a.txt"
    >>> atomic_write_bytes(path, b"done")
    >>> path.read_bytes(), sorted(p.name for p in path.parent.iterdir())
    (b'done', ['a.txt'])
    """
    with atomic_path(path) as temporary:
        temporary.write_bytes(data)


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write ``text`` (UTF-8) into ``path`` atomically (see :func:`atomic_path`).

    Example
    -------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "record.json"
    >>> atomic_write_text(path, '{"seed": 1}')
    >>> path.read_text(encoding="utf-8")
    '{"seed": 1}'
    """
    atomic_write_bytes(path, text.encode("utf-8"))


def write_json(path: str | Path, data: object) -> None:
    """Write ``data`` as JSON (``indent=1``, non-JSON values as ``str``) into ``path``
    atomically, creating its folder: how results and reports are written.

    Example
    -------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "run" / "r.json"
    >>> write_json(path, {"a": 1}); json.loads(path.read_text())
    {'a': 1}
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(data, indent=1, default=str))
