"""Atomic writes: a reader sees the old file or the complete new one, never a part."""

import numpy as np
import pytest

from semisupcon_recipe.files import atomic_path, atomic_write_text


def test_a_writer_that_fails_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "index.json"
    atomic_write_text(path, "old")
    with pytest.raises(RuntimeError):
        with atomic_path(path) as temporary:
            temporary.write_text("half of the new")
            raise RuntimeError("killed mid-write")
    assert path.read_text() == "old"
    assert sorted(item.name for item in tmp_path.iterdir()) == ["index.json"]


def test_the_file_is_absent_until_the_writer_finishes(tmp_path):
    path = tmp_path / "clip.npy"
    with atomic_path(path) as temporary, open(temporary, "wb") as stream:
        np.save(stream, np.arange(3))
        assert not path.exists()
    assert np.load(path).tolist() == [0, 1, 2]
    assert sorted(item.name for item in tmp_path.iterdir()) == ["clip.npy"]
