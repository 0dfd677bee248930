"""node.devtools.workfolder: the demo's, the bench's and the chaos run's
folder is the one --dir names, kept, or a temporary one removed however the
run ends."""

from __future__ import annotations

import tempfile

import pytest

from node.devtools.workfolder import work_folder


@pytest.fixture
def temporary(tmp_path, monkeypatch):
    """The temporary directory, as tempfile sees it, moved to an empty folder of the test's own."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def test_a_temporary_folder_is_removed_with_everything_in_it(temporary):
    with work_folder(None, "consort-demo-") as folder:
        assert not folder.kept
        assert folder.path.parent == temporary and folder.path.name.startswith("consort-demo-")
        (folder.path / "bank-alpha" / "data").mkdir(parents=True)
        (folder.path / "bank-alpha" / "data" / "000003.log").write_bytes(b"x" * 1000)
    assert list(temporary.iterdir()) == []


def test_a_temporary_folder_is_removed_when_the_run_fails(temporary):
    with pytest.raises(RuntimeError, match="node 2 exited"):
        with work_folder(None, "consort-bench-") as folder:
            (folder.path / "consortium.json").write_text("{}")
            raise RuntimeError("node 2 exited")
    assert list(temporary.iterdir()) == []


def test_a_temporary_folder_is_removed_when_the_run_exits(temporary):
    with pytest.raises(SystemExit):
        with work_folder(None, "consort-bench-"):
            raise SystemExit("--workers 9 exceeds the 8 client keys of the consortium")
    assert list(temporary.iterdir()) == []


def test_a_folder_given_by_dir_is_kept_as_it_is(temporary, tmp_path):
    given = tmp_path / "work"
    given.mkdir()
    (given / "consortium.json").write_text("{}")
    with pytest.raises(RuntimeError):
        with work_folder(str(given), "consort-demo-") as folder:
            assert folder.kept and folder.path == given.resolve()
            (folder.path / "node.log").write_text("log")
            raise RuntimeError("the run failed")
    assert sorted(p.name for p in given.iterdir()) == ["consortium.json", "node.log"]
    assert list(temporary.iterdir()) == []
