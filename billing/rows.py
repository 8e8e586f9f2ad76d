"""The money path's row statements, with their SQL compiled once.

A money service writes a handful of one-row statements (lock the member and the invoice, insert the payment, its
allocation, their activity and outbox rows, move the invoice's amounts). The ORM compiles each statement again on
every call, which costs more Python time than the database spends running it; on PostgreSQL these helpers keep the
SQL of each model and shape and only bind the new values, through the same field conversions as the ORM (so the
rows written and read are the ORM's to the byte). On other databases (SQLite: one writer, no concurrency to win)
they are the plain ORM calls.

- `rows_insert(objects)`: INSERT new objects of one model in one statement, their ids set from RETURNING (as
  `bulk_create`: no `save()` and no signals; the project has no receivers). `row_insert_unless_exists(instance,
  unique=)`: INSERT ... ON CONFLICT DO NOTHING, True when the row was new (a webhook event stored once).
- `row_lock(model, pk, fields=None)`: the row `SELECT ... FOR UPDATE`, as `select_for_update().get()` (with `fields`:
  `.only(*fields)`).
- `row_update(instance, fields)`: UPDATE the instance's columns `fields` by its id, as `filter(pk=).update()`.
- `rows_together()`: the INSERTs and UPDATEs of a block sent as one statement when it ends.

On PostgreSQL they run on a cursor that binds on the server and prepares each statement (BILLING_DATABASE_PREPARE).
"""

import contextlib
import functools
import threading
from collections.abc import Sequence

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.backends.utils import CursorDebugWrapper, CursorWrapper
from django.db.models import Model
from djmoney.money import Money

_inserts: dict[tuple, tuple[str, list]] = {}
_locks: dict[tuple, tuple[str, list[str], dict]] = {}
_updates: dict[tuple, tuple[str, list]] = {}
_combined: dict[tuple, str] = {}
# The open `rows_together()` block of this thread: the writes it sends when it ends.
_together = threading.local()


def _connection():
    """The default database's connection of this thread, or None where the ORM's own calls serve (SQLite). Looked
    up once a call: each attribute read through `django.db.connection` looks the thread's connection up again."""
    connection = connections[DEFAULT_DB_ALIAS]
    return connection if connection.vendor == "postgresql" else None


@functools.cache
def _prepared_cursor_class():
    import psycopg

    class PreparedCursor(psycopg.Cursor):
        """Binds the values on the server, and prepares the statement there (parsed and planned once a connection)
        unless BILLING_DATABASE_PREPARE is off (a pooler in transaction mode that keeps no prepared statements)."""

        def execute(self, query, params=None, *, prepare=None, binary=None):
            return super().execute(query, params, prepare=settings.BILLING_DATABASE_PREPARE, binary=binary)

    return PreparedCursor


class _LoggedCursor(CursorDebugWrapper):
    """Django's logging cursor (DEBUG, or a test counting queries), logging the statement as written: psycopg keeps
    no text of a prepared statement's execution for Django to read back."""

    def execute(self, sql, params=None):
        with self.debug_sql(sql, params):
            return CursorWrapper.execute(self, sql, params)


def _cursor(connection):
    """The compiled statements' cursor, wrapped as Django wraps its own (queries are logged and counted alike)."""
    if connection.vendor != "postgresql":
        return connection.cursor()
    connection.ensure_connection()
    connection.validate_thread_sharing()
    with connection.wrap_database_errors:
        cursor = _prepared_cursor_class()(connection.connection)
    return (_LoggedCursor if connection.queries_logged else CursorWrapper)(cursor, connection)


def rows_insert(objects: Sequence[Model]) -> None:
    """INSERT the unsaved `objects` (all of one model, ids unset) in one statement, in their order."""
    if not objects:
        return
    model = type(objects[0])
    for instance in objects:
        if type(instance) is not model or instance.pk is not None:
            raise ValueError(f"rows_insert takes new objects of one model: {instance!r}")
    connection = _connection()
    if connection is None:
        model._default_manager.bulk_create(objects)
        return
    sql, parameters = _insert_statement(connection, objects)
    writes = getattr(_together, "writes", None)
    if writes is not None:
        writes.append((sql, parameters, list(objects)))  # a copy: the caller may empty its list (activities_save)
        return
    with _cursor(connection) as cursor:
        cursor.execute(sql, parameters)
        _ids_set(connection, objects, [pk for (pk,) in cursor.fetchall()])


def row_insert_unless_exists(instance: Model, *, unique: Sequence[str]) -> bool:
    """INSERT the unsaved object unless a row with its values of `unique` (the fields of a unique constraint) exists:
    True when it was inserted (its id set), False when that row was there (nothing written, no error, the
    transaction goes on)."""
    if instance.pk is not None:
        raise ValueError(f"row_insert_unless_exists takes a new object: {instance!r}")
    connection = connections[DEFAULT_DB_ALIAS]  # SQLite has ON CONFLICT ... RETURNING too
    sql, parameters = _insert_statement(connection, [instance], unique=tuple(unique))
    with _cursor(connection) as cursor:
        cursor.execute(sql, parameters)
        ids = [pk for (pk,) in cursor.fetchall()]
    _ids_set(connection, [instance] if ids else [], ids)
    return bool(ids)


def _insert_statement(connection, objects: Sequence[Model], *, unique: tuple[str, ...] = ()) -> tuple[str, list]:
    """The compiled INSERT of `objects` (ON CONFLICT on `unique` DO NOTHING when given), RETURNING their ids, and
    its values."""
    model = type(objects[0])
    opts = model._meta
    key = (connection.alias, model, len(objects), unique)
    if key not in _inserts:
        fields = [field for field in opts.concrete_fields if not field.primary_key]
        columns = ", ".join(connection.ops.quote_name(field.column) for field in fields)
        row = "(" + ", ".join(["%s"] * len(fields)) + ")"
        conflict = ""
        if unique:
            targets = ", ".join(connection.ops.quote_name(opts.get_field(name).column) for name in unique)
            conflict = f" ON CONFLICT ({targets}) DO NOTHING"
        _inserts[key] = (
            f"INSERT INTO {connection.ops.quote_name(opts.db_table)} ({columns}) VALUES "
            f"{', '.join([row] * len(objects))}{conflict} RETURNING {connection.ops.quote_name(opts.pk.column)}",
            fields,
        )
    sql, fields = _inserts[key]
    parameters = []
    for instance in objects:
        instance._prepare_related_fields_for_save(operation_name="rows_insert")
        for field in fields:
            value = field.pre_save(instance, add=True)
            if hasattr(value, "resolve_expression"):
                raise ValueError(f"rows_insert takes values, not expressions: {field.name} of {instance!r}")
            parameters.append(field.get_db_prep_save(value, connection=connection))
    return sql, parameters


def _ids_set(connection, objects: Sequence[Model], ids: list) -> None:
    for instance, pk in zip(objects, ids, strict=True):
        instance.pk = pk
        instance._state.adding = False
        instance._state.db = connection.alias


def row_lock(model: type[Model], pk, *, fields: Sequence[str] | None = None) -> Model:
    """The row of `model` with this id, locked FOR UPDATE until the transaction ends (`model.DoesNotExist` when
    there is none); with `fields`, only those are loaded (the others load when read)."""
    connection = _connection()
    key = (connection and connection.alias, model, tuple(fields or ()))
    if connection is None or key not in _locks:
        queryset = model._default_manager.select_for_update().order_by()
        if fields is not None:
            queryset = queryset.only(*fields)
        if connection is None:
            return queryset.get(pk=pk)
        compiler = queryset.filter(pk=pk).query.get_compiler(connection=connection)
        sql, _parameters = compiler.as_sql()
        selected = [expression for expression, _sql, _alias in compiler.select]
        names = [expression.target.attname for expression in selected]
        _locks[key] = (sql, names, compiler.get_converters(selected))
    sql, names, converters = _locks[key]
    with _cursor(connection) as cursor:
        cursor.execute(sql, [model._meta.pk.get_db_prep_value(pk, connection)])
        row = cursor.fetchone()
    if row is None:
        raise model.DoesNotExist(f"{model._meta.object_name} matching query does not exist.")
    values = list(row)
    for position, (functions, expression) in converters.items():
        for function in functions:
            values[position] = function(values[position], expression, connection)
    return model.from_db(connection.alias, names, values)


def row_update(instance: Model, fields: Sequence[str]) -> None:
    """UPDATE the columns of `fields` (field names) of the instance's row to the instance's values."""
    model = type(instance)
    connection = _connection()
    if connection is None:
        values = {name: getattr(instance, model._meta.get_field(name).attname) for name in fields}
        model._default_manager.filter(pk=instance.pk).update(
            **{name: value.amount if isinstance(value, Money) else value for name, value in values.items()}
        )
        return
    key = (connection.alias, model, tuple(fields))
    if key not in _updates:
        opts = model._meta
        targets = [opts.get_field(name) for name in fields]
        assignments = ", ".join(f"{connection.ops.quote_name(field.column)} = %s" for field in targets)
        _updates[key] = (
            f"UPDATE {connection.ops.quote_name(opts.db_table)} SET {assignments} "
            f"WHERE {connection.ops.quote_name(opts.pk.column)} = %s",
            targets,
        )
    sql, targets = _updates[key]
    parameters = [field.get_db_prep_save(getattr(instance, field.attname), connection=connection) for field in targets]
    parameters.append(instance._meta.pk.get_db_prep_value(instance.pk, connection))
    writes = getattr(_together, "writes", None)
    if writes is not None:
        writes.append((sql, parameters, None))
        return
    with _cursor(connection) as cursor:
        cursor.execute(sql, parameters)


@contextlib.contextmanager
def rows_together():
    """The `rows_insert` and `row_update` writes of the block are sent together when it ends, as one statement
    (PostgreSQL's data-modifying WITH: one round trip, one statement to plan), in their order; the inserted objects
    get their ids then. So inside the block no code may need the id of an object inserted there, nor read back a
    row written there (other statements run as they come). Writes whose values are computed in the block are
    bound when they are asked for. On SQLite, and inside another such block, the writes are sent as they come.
    Nothing is written when the block raises."""
    connection = _connection()
    if connection is None or getattr(_together, "writes", None) is not None:
        yield
        return
    _together.writes = writes = []
    try:
        yield
    finally:
        _together.writes = None
    if not writes:
        return
    key = tuple(sql for sql, _parameters, _objects in writes)
    if key not in _combined:
        parts = [f"w{index} AS ({sql})" for index, sql in enumerate(key)]
        selects = [
            f"SELECT {index} AS write, * FROM w{index}"  # * is the id: all they return
            for index, (_sql, _parameters, objects) in enumerate(writes)
            if objects is not None
        ] or ["SELECT 0 AS write, 0 AS id WHERE false"]
        _combined[key] = f"WITH {', '.join(parts)} {' UNION ALL '.join(selects)}"
    with _cursor(connection) as cursor:
        cursor.execute(_combined[key], [value for _sql, parameters, _objects in writes for value in parameters])
        returned = cursor.fetchall()
    for index, (_sql, _parameters, objects) in enumerate(writes):
        if objects is not None:  # ids follow the order of the VALUES (one sequence, one statement)
            _ids_set(connection, objects, sorted(pk for write, pk in returned if write == index))
