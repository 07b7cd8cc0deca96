"""The one table from database URL scheme to storage backend."""

from __future__ import annotations

from pathlib import Path

import pytest
from invitekit_service.storage import BACKENDS, check_database_url, open_store
from invitekit_service.storage.postgres import PostgresBlobStore
from invitekit_service.storage.sqlite import SqliteBlobStore


def test_every_scheme_opens_its_backend(tmp_path: Path) -> None:
    assert set(BACKENDS) == {"sqlite", "postgresql", "postgres"}
    assert isinstance(open_store(f"sqlite:///{tmp_path / 'x.sqlite3'}"), SqliteBlobStore)
    for scheme in ("postgresql", "postgres"):
        store = open_store(f"{scheme}://user@127.0.0.1/db", pool_size=3)
        assert isinstance(store, PostgresBlobStore)
        assert store.pool_max == 3


@pytest.mark.parametrize(
    "url",
    ["", "sqlite:", "sqlite://x", "sqlite:///", "postgresql:db", "postgres:/x", "mysql://h/db",
     "SQLITE:///x", "x.sqlite3"],
)
def test_a_url_no_backend_understands_is_a_value_error(url: str) -> None:
    with pytest.raises(ValueError, match="look like"):
        check_database_url(url)
    with pytest.raises(ValueError, match="look like"):
        open_store(url)


def test_a_good_url_comes_back_unchanged() -> None:
    for url in ("sqlite:///:memory:", "sqlite:////abs/db.sqlite3", "postgres://h/db"):
        assert check_database_url(url) == url
