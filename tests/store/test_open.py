"""Choosing and opening a store: default path, env, kubernetes, files that are not stores."""

import sqlite3

import pytest

from meshtool.errors import MeshtoolError
from meshtool.model.resource import Resource
from meshtool.store import default_store_path, open_store
from meshtool.store.local import LocalStore, StoreError


def test_default_path_follows_xdg_state_home(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    assert default_store_path() == tmp_path / "state" / "meshtool" / "store.db"
    monkeypatch.setenv("XDG_STATE_HOME", "relative/ignored")  # the spec says: ignore relative
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_store_path() == tmp_path / ".local" / "state" / "meshtool" / "store.db"
    monkeypatch.delenv("XDG_STATE_HOME")
    assert default_store_path() == tmp_path / ".local" / "state" / "meshtool" / "store.db"


def test_open_store_uses_env_then_default(monkeypatch, tmp_path):
    monkeypatch.setenv("MESHTOOL_STORE", str(tmp_path / "env" / "s.db"))
    with open_store(None) as s:
        assert s.location == str(tmp_path / "env" / "s.db")
    monkeypatch.delenv("MESHTOOL_STORE")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    with open_store(None) as s:
        assert s.location == str(tmp_path / "xdg" / "meshtool" / "store.db")
    assert (tmp_path / "xdg" / "meshtool" / "store.db").is_file()


def test_a_path_creates_parent_directories(tmp_path):
    with open_store(str(tmp_path / "a" / "b" / "s.db")) as s:
        assert s.revision() == 0


def test_kubernetes_store_without_a_kubeconfig_is_a_clear_error(tmp_path):
    with pytest.raises(MeshtoolError, match="kubeconfig .* not found"):
        open_store("kubernetes", kubeconfig=str(tmp_path / "none"))


def test_a_file_that_is_not_sqlite_is_a_clear_error(tmp_path):
    bad = tmp_path / "notes.txt"
    bad.write_text("this is not a database, just some notes\n" * 50)
    with pytest.raises(StoreError, match=r"notes.txt is not a meshtool store: file is not a database"):
        LocalStore(bad)
    assert bad.read_text().startswith("this is not a database")  # left untouched


def test_someone_elses_sqlite_database_is_refused(tmp_path):
    other = tmp_path / "other.db"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE t (x)")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="a SQLite database but not a meshtool store"):
        LocalStore(other)


def test_a_corrupted_store_is_a_clear_error(tmp_path):
    path = tmp_path / "s.db"
    with LocalStore(path) as s:
        s.create([Resource("RouteRule", f"r{i}", "default", {"x": "y" * 500}) for i in range(50)])
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    data = bytearray(path.read_bytes())
    data[4096:len(data)] = b"\xff" * (len(data) - 4096)  # everything past the first page
    path.write_bytes(bytes(data))
    with pytest.raises(StoreError, match="s.db is damaged: database disk image is malformed"):
        with LocalStore(path) as s:
            s.list()


def test_a_directory_is_not_a_store(tmp_path):
    with pytest.raises(StoreError, match="is a directory"):
        LocalStore(tmp_path)


def test_a_newer_store_format_is_refused(tmp_path):
    path = tmp_path / "s.db"
    LocalStore(path).close()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 99")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="newer meshtool"):
        LocalStore(path)
