"""PostgreSQL for the in-process tests on the scale-out backend, with one change: the flush
that ends every transactional test deletes the rows instead of truncating the tables.

TRUNCATE of Clarion's 35 tables swaps each table's files and took 0.2-0.8 s per test on the
2-core CI machine (0.22 s on average over the ~410 flushes of a scale-out pass); DELETE of
the few rows a test wrote takes 10-60 ms. Every foreign key Django creates on PostgreSQL is
DEFERRABLE INITIALLY DEFERRED and the flush runs in one transaction, so the order of the
DELETEs does not matter. The tables end up as empty as after a TRUNCATE.
"""

from django.db.backends.postgresql import base, operations


class DatabaseOperations(operations.DatabaseOperations):
    def sql_flush(self, style, tables, *, reset_sequences=False, allow_cascade=False):
        if reset_sequences:  # TRUNCATE ... RESTART IDENTITY: no DELETE does that
            return super().sql_flush(style, tables, reset_sequences=True, allow_cascade=allow_cascade)
        return [f"{style.SQL_KEYWORD('DELETE FROM')} {style.SQL_FIELD(self.quote_name(table))};"
                for table in tables]


class DatabaseWrapper(base.DatabaseWrapper):
    ops_class = DatabaseOperations
