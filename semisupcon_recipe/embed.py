"""``semisupcon embed``: embeddings of audio files and folders with an exported encoder.

    semisupcon embed music/ extra.flac --model exported_model/ --out embeddings/ [--frames]

Inputs are files or folders (searched recursively for the extensions in
:data:`AUDIO_EXTENSIONS`). Each audio file gets ``<name>.npy`` (its file name with
``.npy`` appended, so ``song.mp3`` -> ``song.mp3.npy``): the ``(D,)`` float32 track
embedding; with ``--frames`` also ``<name>.frames.npy``: the ``(N, D)`` frame embeddings,
frame ``k`` centred on ``k * hop / sample_rate`` seconds. A file given directly lands in
``OUT``; a file found in a folder lands under ``OUT`` at its path relative to that
folder. ``OUT/embed.json`` records the model (weights sha256, rate, window, hop in samples and ``hop_seconds``).

Embeddings follow :mod:`semisupcon_recipe.interop.windows`, so they equal the s3prl,
HEAR and SpeechBrain ones. Files are written atomically (a uniquely named temporary
file renamed into place, so two commands writing into one ``OUT`` never mix their
bytes); next to each track embedding, ``<name>.source.json`` records the size and
modification time of the audio it came from. Rerunning the command skips files whose
outputs exist and whose audio is unchanged (resume), re-embeds audio that changed, and
refuses an ``OUT`` filled by another model. Unreadable files are reported and skipped.
Loading the model runs no code (see :func:`semisupcon_recipe.exported.load_exported`;
``--trust-code`` accepts an encoder class outside the allow-list).

Exit status (:mod:`semisupcon_recipe.cli_options`): 0 when at least one file has its
embeddings (new or already there), 1 when every file failed or the disk filled up (what
was written stays; free space and rerun to resume), 2 on a usage or bad-input error (no
audio found, missing input, another model's ``OUT``, a model folder that is incomplete,
modified or unsafe).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from semisupcon_recipe.cli_options import (
    UsageError,
    add_device_argument,
    add_model_argument,
    add_trust_code_argument,
    default_device,
    positive_int,
)

logger = logging.getLogger(__name__)

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif", ".aiff", ".aifc", ".au", ".w64", ".caf")
TRACK_SUFFIX = ".npy"
FRAMES_SUFFIX = ".frames.npy"
SOURCE_SUFFIX = ".source.json"
RECORD_FILE = "embed.json"


class EmbedUsageError(UsageError):
    """The command cannot start (no audio found, missing input, another model's output folder)."""


@dataclass
class EmbedReport:
    """What :func:`embed_paths` did: counts of embedded and resumed files, and the failures."""

    embedded: int = 0
    already_done: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.embedded + self.already_done + len(self.failed)


def find_audio_files(inputs: Sequence[str | Path]) -> list[tuple[Path, Path]]:
    """Audio files of ``inputs`` with their output names relative to ``OUT`` (without suffix).

    Example
    -------
    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp())
    >>> (root / "album").mkdir()
    >>> for name in ("album/a.wav", "album/notes.txt", "b.flac"):
    ...     _ = (root / name).write_bytes(b"")
    >>> [str(name) for _, name in find_audio_files([root / "album", root / "b.flac"])]
    ['a.wav', 'b.flac']
    """
    found: list[tuple[Path, Path]] = []
    for entry in map(Path, inputs):
        if entry.is_dir():
            files = sorted(path for path in entry.rglob("*") if path.is_file() and path.suffix.lower() in AUDIO_EXTENSIONS)
            found += [(path, path.relative_to(entry)) for path in files]
        elif entry.is_file():
            found.append((entry, Path(entry.name)))
        else:
            raise EmbedUsageError(f"input {entry} does not exist")
    owners: dict[Path, Path] = {}
    for path, name in found:
        if name in owners and owners[name].resolve() != path.resolve():
            raise EmbedUsageError(
                f"{owners[name]} and {path} would both be written to {name}{TRACK_SUFFIX}; embed them into separate --out folders"
            )
        owners.setdefault(name, path)
    return [(path, name) for name, path in owners.items()]


def _atomic_save(path: Path, array: np.ndarray) -> None:
    """Write ``array`` as ``.npy`` so that ``path`` is either absent or complete."""
    import io

    from semisupcon_recipe.files import atomic_write_bytes

    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    np.save(buffer, array)
    atomic_write_bytes(path, buffer.getvalue())


def _source_stamp(path: Path, frames: bool) -> dict:
    """What must stay the same for an existing embedding of ``path`` to be reused."""
    status = path.stat()
    return {"audio": str(path.resolve()), "size": status.st_size, "mtime_ns": status.st_mtime_ns, "frames": frames}


def _is_current(stamp_path: Path, stamp: dict) -> bool:
    """True when the embeddings recorded by ``stamp_path`` came from the audio ``stamp`` describes."""
    try:
        recorded = json.loads(stamp_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return False
    return all(recorded.get(key) == stamp[key] for key in ("audio", "size", "mtime_ns")) and (
        recorded.get("frames") or not stamp["frames"]
    )


def _atomic_write_json(path: Path, document: dict) -> None:
    from semisupcon_recipe.files import atomic_write_bytes

    atomic_write_bytes(path, (json.dumps(document, indent=2) + "\n").encode("utf-8"))


def _check_record(out: Path, record: dict) -> None:
    """Refuse an output folder written by another model; otherwise record this one."""
    path = out / RECORD_FILE
    if path.is_file():
        previous = json.loads(path.read_text(encoding="utf-8"))
        keys = ("weights_sha256", "sample_rate", "window", "hop")
        if any(previous.get(key) != record[key] for key in keys):
            raise EmbedUsageError(
                f"{out} holds embeddings of another model ({path} differs from this model's weights/window/hop); "
                "use a new --out folder or empty this one"
            )
        return
    out.mkdir(parents=True, exist_ok=True)
    _atomic_write_json(path, record)


def _model_record(model_dir: str | Path, metadata: dict) -> dict:
    """What ``embed.json`` records of the model (and what a rerun into the same ``OUT`` must match)."""
    return {
        "model": str(Path(model_dir).resolve()),
        **{key: metadata[key] for key in ("weights_sha256", "sample_rate", "window", "hop", "embedding_dim")},
        "hop_seconds": metadata["hop"] / metadata["sample_rate"],
        "track": f"<name>{TRACK_SUFFIX}: (D,) mean of the frames",
        "frames": f"<name>{FRAMES_SUFFIX}: (N, D), frame k centred on k * hop / sample_rate seconds",
    }


def embed_paths(
    inputs: Sequence[str | Path],
    model_dir: str | Path,
    out_dir: str | Path,
    frames: bool = False,
    device: str | None = None,
    max_windows_per_call: int = 64,
    progress: bool = True,
    trust_code: bool = False,
) -> EmbedReport:
    """Write track (and optionally frame) embeddings of every audio file of ``inputs``.

    Parameters
    ----------
    inputs : sequence of str or Path
        Audio files and folders (searched recursively).
    model_dir : str or Path
        Folder written by ``semisupcon export``.
    out_dir : str or Path
        Output folder (see the module docstring for the layout).
    frames : bool
        Also write frame embeddings.
    device : str, optional
        Torch device of the encoder (default: cuda when available, else cpu).
    max_windows_per_call : int
        Windows per encoder call (memory bound; results do not depend on it).
    progress : bool
        Show a tqdm progress bar on stderr.
    trust_code : bool
        Accept an encoder class outside the allow-list (only for model folders you trust).

    Returns
    -------
    EmbedReport

    Example
    -------
    >>> import tempfile, soundfile
    >>> from semisupcon_recipe.interop.export import export_untrained_encoder
    >>> run = Path(tempfile.mkdtemp())
    >>> exported = export_untrained_encoder("recipes/Generic/pretrain/hparams/tiny_cpu.yaml", run)
    >>> soundfile.write(run / "tone.wav", np.sin(np.arange(12000) / 10.0).astype("float32"), 16000)
    >>> report = embed_paths([run / "tone.wav"], exported, run / "out", frames=True, progress=False)
    >>> report.embedded, np.load(run / "out" / "tone.wav.npy").shape, np.load(run / "out" / "tone.wav.frames.npy").shape
    (1, (64,), (3, 64))
    >>> embed_paths([run / "tone.wav"], exported, run / "out", progress=False).already_done
    1
    """
    import torch
    from tqdm import tqdm

    from semisupcon_recipe.audio import AudioError, read_audio
    from semisupcon_recipe.interop.export import load_sliding_encoder
    from semisupcon_recipe.interop.windows import track_from_frames

    files = find_audio_files(inputs)
    if not files:
        raise EmbedUsageError(
            f"no audio files ({', '.join(AUDIO_EXTENSIONS)}) found in {', '.join(map(str, inputs))}"
        )
    device = device or default_device()
    sliding, metadata = load_sliding_encoder(model_dir, device, max_windows_per_call, trust_code)
    out = Path(out_dir)
    _check_record(out, _model_record(model_dir, metadata))
    report = EmbedReport()
    bar = tqdm(files, unit="file", disable=not progress, desc="embed")
    for path, name in bar:
        track_path = out / (str(name) + TRACK_SUFFIX)
        frames_path = out / (str(name) + FRAMES_SUFFIX)
        stamp_path = out / (str(name) + SOURCE_SUFFIX)
        stamp = _source_stamp(path, frames)
        if track_path.is_file() and (not frames or frames_path.is_file()) and _is_current(stamp_path, stamp):
            report.already_done += 1
            continue
        try:
            waveform = read_audio(path, sliding.sample_rate).to(device)  # (T,)
        except AudioError as error:
            report.failed.append((str(path), str(error)))
            bar.write(f"skipped {path}: {error}")
            continue
        with torch.no_grad():
            frame_batch, counts = sliding.frames([waveform])  # (1, N, D), (1,)
            track = track_from_frames(frame_batch, counts)  # (1, D)
        if frames:
            _atomic_save(frames_path, frame_batch[0].cpu().numpy().astype(np.float32))
        _atomic_save(track_path, track[0].cpu().numpy().astype(np.float32))
        _atomic_write_json(stamp_path, stamp)
        report.embedded += 1
    return report


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``semisupcon embed``."""
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="audio files or folders (searched recursively)")
    add_model_argument(parser)
    parser.add_argument("--out", required=True, help="output folder for the .npy files")
    parser.add_argument("--frames", action="store_true",
                        help="also write frame-level embeddings (<name>.frames.npy): frame k is centred on k * hop "
                        "seconds, the hop the model was exported with (OUT/embed.json records it as hop_seconds)")
    add_device_argument(parser)
    parser.add_argument("--max-windows-per-call", type=positive_int, default=64,
                        help="windows per encoder call; lower it if memory runs out (default: 64)")
    add_trust_code_argument(parser, "the model's hyperparams.yaml")


def main(args: argparse.Namespace) -> int:
    """Run ``semisupcon embed``; returns 0, or 1 when every file failed (see the module docstring)."""
    report = embed_paths(
        args.inputs, args.model, args.out, args.frames, args.device, args.max_windows_per_call,
        trust_code=args.trust_code,
    )
    for path, reason in report.failed:
        print(f"failed: {path}: {reason}", file=sys.stderr)
    print(
        f"{report.total} audio files: {report.embedded} embedded, {report.already_done} already done, "
        f"{len(report.failed)} failed (unreadable, skipped)"
    )
    return 1 if report.failed and len(report.failed) == report.total else 0
