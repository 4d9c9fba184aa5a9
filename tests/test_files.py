"""Writing files: the old file or the new one, never half of one."""

import json

import pytest

from digitlab.files import replaced_atomically, write_json


def test_a_failed_write_leaves_the_old_file_and_no_temporary_one(tmp_path):
    path = tmp_path / "card.json"
    write_json({"accuracy": 0.99}, path)
    with pytest.raises(RuntimeError):
        with replaced_atomically(path) as temporary:
            temporary.write_text("{half")
            raise RuntimeError("the disk filled up")
    assert json.loads(path.read_text()) == {"accuracy": 0.99}
    assert [p.name for p in tmp_path.iterdir()] == ["card.json"]


def test_a_write_replaces_the_file_and_makes_its_folder(tmp_path):
    path = tmp_path / "runs" / "history.json"
    write_json({"epochs": 1}, path)
    write_json({"epochs": 2}, path)
    assert json.loads(path.read_text()) == {"epochs": 2}
    assert [p.name for p in path.parent.iterdir()] == ["history.json"]
