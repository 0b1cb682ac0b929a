"""The user an access token names, with the role and the session cutoff, loaded by SQL that the
ORM compiled once per process instead of once per call.

Every socket connect and every REST request authenticates this way. Building the query (queryset
clone, filter, select_related, compiling to SQL) cost about 230 µs per call on the serving
process, thirty times the query itself (8 µs on SQLite) and a fifth of a whole connect (issue 11,
item 6). The ORM still does all the work that matters: it writes the SQL, converts the parameter
(``Field.get_prep_value``), converts the columns and builds the instances through the same
related-object populators a queryset uses. Only the compiled statement is kept and replayed.

Whatever the ORM compiles differently than expected (a user model whose lookup needs more than
one parameter, say) is not replayed: ``load`` then answers with the plain queryset.
"""

import threading

from django.contrib.auth import get_user_model
from django.core.exceptions import ObjectDoesNotExist
from django.db import connections, router
from django.db.models.query import get_related_populators

RELATED = ("clarion_role", "clarion_session_cutoff")


def queryset(field: str, value):
    """The queryset that defines the lookup (and answers it when it cannot be replayed)."""
    users = get_user_model()._default_manager.select_related(*RELATED).order_by()
    return users.filter(**{field: value})[:1]


class _Probe:
    """A parameter no real id equals: it marks where the id goes in the compiled parameters."""


class CompiledLookup:
    """One compiled ``queryset(field, ...)`` for one database alias."""

    def __init__(self, field: str, alias: str):
        model = get_user_model()
        self.field = model._meta.get_field(field) if field != "pk" else model._meta.pk
        compiler = queryset(field, 0).query.get_compiler(using=alias)
        sql, params = compiler.as_sql()
        if len(params) != 1:
            raise LookupError(f"the user lookup compiled to {len(params)} parameters, not one")
        self.alias = alias
        self.sql = sql
        self.model = compiler.klass_info["model"]
        select_fields = compiler.klass_info["select_fields"]
        self.own_columns = slice(select_fields[0], select_fields[-1] + 1)
        self.init_list = [column[0].target.attname for column in compiler.select[self.own_columns]]
        self.related = get_related_populators(compiler.klass_info, compiler.select, alias)
        self.converters = compiler.get_converters([column[0] for column in compiler.select])

    def load(self, value):
        connection = connections[self.alias]
        # As the ORM's exact lookup prepares it; an integer out of the column's range matches
        # no row there, and must not reach the database, which would refuse it.
        prepared = self.field.get_db_prep_value(self.field.get_prep_value(value), connection, prepared=True)
        if isinstance(prepared, int) and not self._in_range(prepared, connection):
            return None
        with connection.cursor() as cursor:
            cursor.execute(self.sql, [prepared])
            row = cursor.fetchone()
        if row is None:
            return None
        row = list(row)
        for position, (functions, expression) in self.converters.items():
            converted = row[position]
            for function in functions:
                converted = function(converted, expression, connection)
            row[position] = converted
        user = self.model.from_db(self.alias, self.init_list, row[self.own_columns])
        for populator in self.related:
            populator.populate(row, user)
        return user

    def _in_range(self, value: int, connection) -> bool:
        low, high = connection.ops.integer_field_ranges.get(self.field.get_internal_type(), (None, None))
        return (low is None or value >= low) and (high is None or value <= high)


_compiled: dict[tuple[str, str], CompiledLookup | None] = {}
_compiling = threading.Lock()


def _lookup_for(field: str, alias: str) -> CompiledLookup | None:
    key = (field, alias)
    try:
        return _compiled[key]
    except KeyError:
        pass
    with _compiling:
        if key not in _compiled:
            try:
                _compiled[key] = CompiledLookup(field, alias)
            except (LookupError, KeyError, TypeError, ValueError, AttributeError):
                _compiled[key] = None
    return _compiled[key]


def load(field: str, value):
    """The user whose ``field`` is ``value``, role and session cutoff loaded with it; None when
    there is none or ``value`` cannot be such an id."""
    alias = router.db_for_read(get_user_model())
    lookup = _lookup_for(field, alias)
    try:
        if lookup is not None:
            return lookup.load(value)
        found = list(queryset(field, value).using(alias))
    except (TypeError, ValueError, ObjectDoesNotExist):  # a user id of the wrong type
        return None
    return found[0] if found else None


def forget_compiled() -> None:
    """Drop the compiled statements (tests that swap the user model or the database)."""
    with _compiling:
        _compiled.clear()
