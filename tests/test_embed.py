"""``semisupcon embed``: layout, unreadable files, resume, exit status, model mismatch."""

from __future__ import annotations

import errno
import json
import os

import numpy as np
import pytest
import soundfile
from interop_fixtures import exported_model, tone  # noqa: F401  (session fixture)

from semisupcon_recipe.cli import main as cli_main


def make_inputs(root):
    """A folder tree with two readable clips, a corrupt one and a text file, plus a loose file."""
    (root / "album" / "disc2").mkdir(parents=True)
    soundfile.write(root / "album" / "a.wav", tone(330.0, 0.7), 16000)
    soundfile.write(root / "album" / "disc2" / "b.flac", tone(660.0, 2.1), 16000)
    (root / "album" / "broken.wav").write_bytes(b"RIFF not really a wav file")
    (root / "album" / "notes.txt").write_text("not audio")
    soundfile.write(root / "loose.ogg", tone(990.0, 0.4, 22050), 22050)
    return [root / "album", root / "loose.ogg"]


def test_embeds_tree_skips_unreadable_and_resumes(exported_model, tmp_path, capsys):
    inputs = make_inputs(tmp_path / "in")
    out = tmp_path / "out"
    arguments = ["embed", *map(str, inputs), "--model", str(exported_model), "--out", str(out)]
    assert cli_main(arguments) == 0
    captured = capsys.readouterr()
    assert "4 audio files: 3 embedded, 0 already done, 1 failed" in captured.out
    assert "broken.wav" in captured.err and "embed" in captured.err  # failure listed, progress bar shown
    produced = sorted(str(path.relative_to(out)) for path in out.rglob("*.npy"))
    assert produced == ["a.wav.npy", "disc2/b.flac.npy", "loose.ogg.npy"]
    assert np.load(out / "a.wav.npy").shape == (64,) and np.load(out / "a.wav.npy").dtype == np.float32
    record = json.loads((out / "embed.json").read_text())
    assert record["hop"] == 4000 and len(record["weights_sha256"]) == 64

    before = {path: path.stat().st_mtime_ns for path in out.rglob("*.npy")}
    assert cli_main(arguments) == 0
    assert "0 embedded, 3 already done, 1 failed" in capsys.readouterr().out
    assert {path: path.stat().st_mtime_ns for path in out.rglob("*.npy")} == before  # nothing recomputed

    assert cli_main(arguments + ["--frames"]) == 0  # frames requested later: computed now, tracks rewritten identically
    assert "3 embedded" in capsys.readouterr().out
    frames = np.load(out / "disc2" / "b.flac.frames.npy")
    assert frames.shape == (int(np.ceil(2.1 * 16000 / 4000)), 64)
    assert np.allclose(frames.mean(axis=0), np.load(out / "disc2" / "b.flac.npy"), atol=1e-6)


def test_interrupted_write_is_not_taken_for_done(exported_model, tmp_path, capsys):
    soundfile.write(tmp_path / "clip.wav", tone(440.0, 0.5), 16000)
    out = tmp_path / "out"
    out.mkdir()
    (out / "clip.wav.npy.partial").write_bytes(b"half written")
    assert cli_main(["embed", str(tmp_path / "clip.wav"), "--model", str(exported_model), "--out", str(out)]) == 0
    assert "1 embedded" in capsys.readouterr().out
    assert np.load(out / "clip.wav.npy").shape == (64,)


def test_exit_status_when_everything_fails_or_nothing_is_found(exported_model, tmp_path, capsys):
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "x.wav").write_bytes(b"garbage")
    (tmp_path / "bad" / "y.mp3").write_bytes(b"")
    common = ["--model", str(exported_model), "--out", str(tmp_path / "out")]
    assert cli_main(["embed", str(tmp_path / "bad"), *common]) == 1
    assert "0 embedded, 0 already done, 2 failed" in capsys.readouterr().out
    (tmp_path / "empty").mkdir()
    assert cli_main(["embed", str(tmp_path / "empty"), *common]) == 2
    assert "no audio files" in capsys.readouterr().err
    assert cli_main(["embed", str(tmp_path / "missing.wav"), *common]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_refuses_output_of_another_model_and_name_clashes(exported_model, tmp_path, capsys):
    soundfile.write(tmp_path / "clip.wav", tone(440.0, 0.5), 16000)
    out = tmp_path / "out"
    assert cli_main(["embed", str(tmp_path / "clip.wav"), "--model", str(exported_model), "--out", str(out)]) == 0
    record = json.loads((out / "embed.json").read_text())
    record["weights_sha256"] = "0" * 64
    (out / "embed.json").write_text(json.dumps(record))
    assert cli_main(["embed", str(tmp_path / "clip.wav"), "--model", str(exported_model), "--out", str(out)]) == 2
    assert "another model" in capsys.readouterr().err
    for folder in ("one", "two"):
        (tmp_path / folder).mkdir()
        soundfile.write(tmp_path / folder / "same.wav", tone(440.0, 0.5), 16000)
    arguments = ["embed", str(tmp_path / "one"), str(tmp_path / "two"), "--model", str(exported_model), "--out", str(tmp_path / "o2")]
    assert cli_main(arguments) == 2
    assert "would both be written" in capsys.readouterr().err


def test_bad_model_folder_is_a_usage_error(tmp_path, capsys):
    soundfile.write(tmp_path / "clip.wav", tone(440.0, 0.5), 16000)
    assert cli_main(["embed", str(tmp_path / "clip.wav"), "--model", str(tmp_path), "--out", str(tmp_path / "out")]) == 2
    assert "semisupcon export" in capsys.readouterr().err


def test_audio_changed_since_its_embedding_was_written_is_embedded_again(exported_model, tmp_path, capsys):
    clip = tmp_path / "clip.wav"
    soundfile.write(clip, tone(440.0, 0.5), 16000)
    arguments = ["embed", str(clip), "--model", str(exported_model), "--out", str(tmp_path / "out")]
    assert cli_main(arguments) == 0
    before = np.load(tmp_path / "out" / "clip.wav.npy")
    soundfile.write(clip, tone(1760.0, 0.5, seed=3), 16000)  # same name and size, other music
    status = clip.stat()
    os.utime(clip, ns=(status.st_atime_ns, status.st_mtime_ns + 10**9))  # a later write, whatever the clock's resolution
    capsys.readouterr()
    assert cli_main(arguments) == 0
    assert "1 embedded, 0 already done" in capsys.readouterr().out
    assert not np.allclose(np.load(tmp_path / "out" / "clip.wav.npy"), before)
    assert cli_main(arguments) == 0
    assert "0 embedded, 1 already done" in capsys.readouterr().out


def test_two_embeds_writing_into_one_folder_at_once_both_finish(exported_model, tmp_path, monkeypatch, capsys):
    """The second embed runs to completion inside the first one's rename of its first file."""
    from semisupcon_recipe import files

    clip = tmp_path / "clip.wav"
    soundfile.write(clip, tone(440.0, 0.5), 16000)
    arguments = ["embed", str(clip), "--model", str(exported_model), "--out", str(tmp_path / "out")]
    real_replace = os.replace
    outcomes = []

    def replace_after_another_embed(source, target):
        if not outcomes and str(target).endswith("clip.wav.npy"):
            outcomes.append("running")
            outcomes[0] = cli_main(arguments)  # the other process, between our write and our rename
        return real_replace(source, target)

    monkeypatch.setattr(files.os, "replace", replace_after_another_embed)
    assert cli_main(arguments) == 0 and outcomes == [0]
    assert np.load(tmp_path / "out" / "clip.wav.npy").shape == (64,)
    assert not list((tmp_path / "out").glob(".*.tmp"))


def test_a_full_disk_is_a_run_time_failure_with_a_one_line_message(exported_model, tmp_path, monkeypatch, capsys):
    from semisupcon_recipe import files

    clip = tmp_path / "clip.wav"
    soundfile.write(clip, tone(440.0, 0.5), 16000)

    def disk_full(descriptor):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(files.os, "fsync", disk_full)  # where a full disk reports a buffered write
    assert cli_main(["embed", str(clip), "--model", str(exported_model), "--out", str(tmp_path / "out")]) == 1
    error = capsys.readouterr().err
    assert error.startswith("semisupcon embed: error: ") and len(error.strip().splitlines()) == 1
    assert "the disk is full" in error and "rerun the same command" in error and "Traceback" not in error
    written = {path.name for path in (tmp_path / "out").rglob("*") if path.is_file()}
    assert written == {"log.txt", "command.txt"}  # the run's records, no half-written file
    with pytest.raises(SystemExit):
        cli_main(["--help"])
    assert "exit status: 0 success, 1 failure at run time, 2 usage or bad input" in capsys.readouterr().out
