"""Which cases a page or an export is about: one filter type for the Cases page, Export and
``offload-console export``, turned into one SQL ``WHERE``."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from storage.dialect import POSTGRESQL, SQLITE, Dialect


def day_start_ms(day: dt.date) -> int:
    """Midnight UTC of ``day``, in Unix ms: every date filter's bound (pages, export, CLI)."""
    return int(dt.datetime.combine(day, dt.time(), dt.UTC).timestamp() * 1000)


def like_pattern(text: str) -> str:
    """``%text%`` for ``LIKE … ESCAPE '\\'``, with LIKE's own wildcards taken literally."""
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


@dataclass
class CaseFilter:
    """Every field narrows the set; the defaults match every case. Times are Unix ms; the
    ``until`` bounds are exclusive."""

    statuses: list[str] = field(default_factory=list)
    created_since_ms: int | None = None
    created_until_ms: int | None = None
    completed_since_ms: int | None = None
    completed_until_ms: int | None = None
    result_statuses: list[str] = field(default_factory=list)
    # The Cases page's search box: reference, counterparty, objective (substring), case id
    # (exact). Three characters or more use the trigram index.
    text: str = ""
    objective: str = ""  # objective contains this (Export)
    client_reference: str = ""  # client reference contains this (Export)
    needs_attention: bool = False  # waiting on an operator, or repaired by the reconciler

    def search_text(self) -> str:
        return self.text.replace("\x00", "").strip()  # FTS5 reads NUL as the end of a query

    def only_status(self) -> bool:
        """No filter but status: counts come from the kept per-status table."""
        return self == CaseFilter(statuses=self.statuses)

    def uses_search_index(self) -> bool:
        return len(self.search_text()) >= 3

    def searched_status(self) -> str:
        """``status`` as a WHERE clause should name it: with a search, an expression no index
        covers, so the database starts from the search's matches (a few) rather than walking
        every case of the status on its index and testing each (SQLite, 100k cases, completed
        and searched: 148 ms, 1 ms)."""
        return "status || ''" if self.uses_search_index() else "status"

    def where(self, include_status: bool = True, sql: Dialect = SQLITE) -> tuple[str, list]:
        """`` WHERE …`` (or ``""``) and its parameters, in ``sql``'s words."""
        clauses: list[str] = []
        params: list = []

        def among(column: str, values: list[str]) -> None:
            if values:
                clauses.append(f"{column} IN ({','.join('?' for _ in values)})")
                params.extend(values)

        def compare(sql: str, value: int | None) -> None:
            if value is not None:
                clauses.append(sql)
                params.append(value)

        if include_status:  # with a search, its matches first (see ``searched_status``)
            among(self.searched_status(), list(self.statuses))
        among("result_status", list(self.result_statuses))
        compare("created_at >= ?", self.created_since_ms)
        compare("created_at < ?", self.created_until_ms)
        compare("state_rank = 1 AND updated_at >= ?", self.completed_since_ms)
        compare("state_rank = 1 AND updated_at < ?", self.completed_until_ms)
        for column, value in (
            ("objective", self.objective),
            ("client_reference_id", self.client_reference),
        ):
            if value.strip():
                clauses.append(f"{column} {sql.like} ? ESCAPE '\\'")
                params.append(like_pattern(value.strip()))
        text = self.search_text()
        if len(text) >= 3 and sql is POSTGRESQL:  # the pg_trgm index over these columns
            from storage.pg_schema import SEARCH_TEXT

            clauses.append(f"(({SEARCH_TEXT}) ILIKE ? ESCAPE '\\' OR case_id = ?)")
            params += [like_pattern(text), text]
        elif len(text) >= 3:
            clauses.append(
                "(rowid IN (SELECT rowid FROM cases_search WHERE cases_search MATCH ?)"
                " OR case_id = ?)"
            )
            params += ['"' + text.replace('"', '""') + '"', text]
        elif text:
            columns = (
                "client_reference_id",
                "counterparty_name",
                "counterparty_address",
                "counterparty_company",
                "objective",
            )
            clauses.append(
                "("
                + " OR ".join(f"{column} {sql.like} ? ESCAPE '\\'" for column in columns)
                + " OR case_id = ?)"
            )
            params += [like_pattern(text)] * len(columns) + [text]
        if self.needs_attention:
            clauses.append(
                "(status = 'INPUT_NEEDED' OR state_event_id LIKE 'poll\\_%' ESCAPE '\\')"
            )
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", params
