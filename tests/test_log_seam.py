"""The log's one seam for its stores: every reader goes through EventStore,
and only overseer/log/ knows which kind of store it is talking to."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from overseer.errors import UsageError
from overseer.log import AuditLog, EventStore, is_store_url, local_log_path, open_store
from overseer.log.base import EventStore as Base

ROOT = Path(__file__).resolve().parents[1]

# Words that only the log package may use: a store's kind, its connection,
# its SQL. A reader that needs one of these is missing a method on EventStore.
BACKEND_WORDS = re.compile(
    r"\bPgStore\b|\bpsycopg\b|is_store_url|sqlite_master|\blog\.conn\b|\bstore\.conn\b|"
    r"startswith\([^)]*postgres|isinstance\([^)]*\b(AuditLog|PgStore)\b"
)
# Pruning deletes from the local file with its own SQL; it is moving into
# overseer/log/ (issue 14), after which this list is empty.
NOT_YET_MOVED = {"overseer/audit/prune.py"}


def _sources() -> list[Path]:
    out = []
    for top in ("overseer", "tools", "tui"):
        for path in (ROOT / top).rglob("*.py"):
            rel = path.relative_to(ROOT).as_posix()
            if rel.startswith("overseer/log/") or rel in NOT_YET_MOVED:
                continue
            out.append(path)
    return out


def test_no_module_outside_the_log_package_knows_the_kind_of_store() -> None:
    offenders = []
    for path in _sources():
        for n, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("#", 1)[0]
            if BACKEND_WORDS.search(code):
                offenders.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert not offenders, "backend knowledge outside overseer/log/:\n" + "\n".join(offenders)


def test_both_stores_implement_every_method_of_the_interface() -> None:
    from overseer.log.pg_store import PgStore

    abstract = {
        name
        for name, member in inspect.getmembers(Base)
        if getattr(member, "__isabstractmethod__", False)
    }
    assert {"events", "verify", "post", "take", "search_rows", "replay_db"} <= abstract
    for cls in (AuditLog, PgStore):
        assert issubclass(cls, EventStore)
        assert not getattr(cls, "__abstractmethods__", None), cls


def test_the_factory_opens_a_local_log_from_a_path(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    with pytest.raises(Exception, match="no audit log"):
        open_store(path)
    with open_store(path, create=True) as store:
        assert isinstance(store, AuditLog)
        assert store.location == str(path)
        assert store.sessions() == []
    with open_store(str(path)) as again:
        assert again.integrity() == ("sqlite integrity_check", "ok")


@pytest.mark.parametrize(
    ("location", "url"),
    [
        ("postgresql://u@db/overseer", True),
        ("POSTGRES://db/x", True),
        ("/var/lib/overseer/audit.db", False),
        ("host=db dbname=overseer", False),  # a --log is a path unless it is a URL
        (None, False),
    ],
)
def test_store_urls_are_told_from_paths(location: str | None, url: bool) -> None:
    assert is_store_url(location) is url


def test_what_only_a_local_log_can_do_refuses_a_store_url() -> None:
    with pytest.raises(UsageError, match="needs a local audit log"):
        local_log_path("postgresql://u:secret@db/x", "prune")
    try:
        local_log_path("postgresql://u:secret@db/x", "prune")
    except UsageError as exc:
        assert "secret" not in str(exc)
