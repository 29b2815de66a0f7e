"""Dialect-aware idempotent upserts (INSERT ... ON CONFLICT) for SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


def _insert_for(session: Session, table: Table) -> Any:
    name = session.get_bind().dialect.name
    if name == "postgresql":
        return postgresql.insert(table)
    if name == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"upsert not supported on dialect {name!r}")


def upsert(
    session: Session,
    model: Any,
    rows: Sequence[dict[str, Any]],
    key: Sequence[str],
    update: Sequence[str] | None = None,
) -> None:
    """Insert ``rows``; on a key conflict update only ``update`` columns (``None``/empty = do nothing).

    Args:
        session: open session; the caller commits.
        model: mapped class.
        rows: column dicts, all with the same keys.
        key: columns of the natural key (a unique constraint or the primary key).
        update: columns to overwrite when the row exists.
    """
    if not rows:
        return
    table: Table = model.__table__
    stmt = _insert_for(session, table).values(list(rows))
    if update:
        stmt = stmt.on_conflict_do_update(index_elements=list(key), set_={c: stmt.excluded[c] for c in update})
    else:
        stmt = stmt.on_conflict_do_nothing(index_elements=list(key))
    session.execute(stmt)
