"""SQL models: one `.sql` file per output table, executed inside the warehouse.

In the style of dbt's jaffle-shop (`models/marts/orders.sql`): each file is one SELECT with
named CTEs that yields exactly the rows of its table. The warehouse runs it (DuckDB or
PostgreSQL), so restated dates are recomputed where the facts live instead of being read back
into pandas. A model is a Jinja template with two kinds of names:

- `{{ ref('fact_claim_service') }}`: the schema-qualified name of a warehouse table;
- `{{ name }}` for each keyword passed to `render`/`insert_model`, e.g. `{{ dates }}`, the
  relation (one column `k`) of the dates being restated, as `Warehouse.stage_keys` returns it.

Write SQL both backends run unchanged: `percentile_cont(q) WITHIN GROUP (ORDER BY x)` for
percentiles (`percentile_cont(array[0.5, 0.9]) ...` then `[1]`, `[2]`: both from one sort),
`CAST(x AS DOUBLE PRECISION)` before dividing counts (PostgreSQL divides integers as integers,
DuckDB does not), `GROUPING SETS`, `FILTER (WHERE ...)`.

Configured values (a standard's max, target, applies_to values) reach a model as data and
are written with the `literal` / `literals` filters: quoted SQL literals, never raw text;
identifiers in a model (a standard's measure and applies_to columns) are those the config
validates against fixed lists.

`query_frames` runs the same model over in-memory Arrow tables on an in-process DuckDB: the
pure entry point that `claimpulse.metrics` and the tests use, so there is one definition.

Column lists come from the data dictionary, once: `insert_model` inserts the model's columns in
the order `dictionary.columns(table)` gives, with constants such as `loaded_at` and `run_id`
bound as parameters, so a model never repeats the table's column list for the load.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import sqlalchemy as sa
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from claimpulse.dictionary import SQL_TYPES, TABLES

MODELS_DIR = Path(__file__).resolve().parent


def literal(value: Any) -> str:
    """A value as an SQL literal both backends read the same way (the `literal` filter).

    Text is single-quoted with quotes doubled (standard SQL; PostgreSQL's
    standard_conforming_strings is on by default and DuckDB has no backslash escapes);
    numbers are finite doubles. Anything else is refused rather than pasted in.
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError("an SQL text literal cannot hold NUL")
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, (int, float)):
        x = float(value)
        if not math.isfinite(x):
            raise ValueError(f"not a finite number: {value!r}")
        return f"cast({x!r} as double precision)"
    raise TypeError(f"no SQL literal for {type(value).__name__}")


def literals(values: str | Iterable[Any]) -> str:
    """One value or a list of them as a comma-separated list of literals (for `in (...)`)."""
    items = [values] if isinstance(values, str) else list(values)
    if not items:
        raise ValueError("an empty value list")
    return ", ".join(literal(v) for v in items)


def environment(directory: Path = MODELS_DIR) -> Environment:
    """The Jinja environment models render in (StrictUndefined: a missing variable is an error)."""
    env = Environment(loader=FileSystemLoader(str(directory)), undefined=StrictUndefined,
                      keep_trailing_newline=True, autoescape=False)
    env.filters["literal"] = literal
    env.filters["literals"] = literals
    return env




_ENV = environment()


def model_names() -> list[str]:
    """Every model shipped (one per output table it builds)."""
    return sorted(p.stem for p in MODELS_DIR.glob("*.sql"))


def render(name: str, wh: Any, env: Environment = _ENV, **variables: Any) -> str:
    """The SQL of model `name` for warehouse `wh` (anything with `.table(name)`)."""
    return env.get_template(f"{name}.sql").render(ref=wh.table, **variables)


def insert_model(wh: Any, conn: sa.Connection, table: str, constants: dict[str, Any] | None = None,
                 env: Environment = _ENV, **variables: Any) -> int:
    """Append the rows of model `table` to the warehouse table of that name; returns the count.

    `constants` fills columns the model does not select (e.g. loaded_at, run_id), the same
    value on every row; every other dictionary column must be selected by the model.
    """
    constants = dict(constants or {})
    cols = TABLES[table].columns
    select = _select_list(table, lambda t: SQL_TYPES[t]().compile(dialect=conn.dialect), constants)
    sql = (f"INSERT INTO {wh.table(table)} ({', '.join(_q(c.name) for c in cols)}) "
           f"SELECT {select} FROM (\n{render(table, wh, env, **variables)}\n) AS m")
    res = conn.execute(sa.text(sql), {k: _plain(v) for k, v in constants.items()})
    return max(int(res.rowcount or 0), 0)


# The types a model's rows take in a frame: as Warehouse.read_table returns them (money as
# float64, like every frame the metric code handles).
_FRAME_TYPES = {"text": "VARCHAR", "money": "DOUBLE", "double": "DOUBLE", "int": "BIGINT",
                "bool": "BOOLEAN", "date": "DATE", "timestamptz": "TIMESTAMPTZ"}


def _select_list(table: str, type_sql: Callable[[str], str], constants: dict[str, Any],
                 skip: Iterable[str] = ()) -> str:
    """`CAST(m.col AS type)` for every dictionary column of `table` (constants bound as `:name`).

    Every value is cast to the dictionary's type, so a model (or a NULL constant) never
    depends on how a backend infers a type.
    """
    skip = set(skip)
    return ", ".join(
        f"CAST({':' + c.name if c.name in constants else 'm.' + _q(c.name)} AS {type_sql(c.type)})"
        + f" AS {_q(c.name)}"
        for c in TABLES[table].columns if c.name not in skip)


class _FrameRefs:
    """`ref()` for a model run over in-memory frames: a table is the frame registered under its name."""

    @staticmethod
    def table(name: str) -> str:
        return _q(name)


def query_frames(table: str, inputs: dict[str, pa.Table], env: Environment = _ENV,
                 dates: Iterable[Any] | None = None, **variables: Any) -> pa.Table:
    """The rows of model `table` over in-memory inputs, on an in-process DuckDB.

    The same SQL as `insert_model` runs in the warehouse, so tests of the metric logic test
    the model itself. `inputs` maps each `ref()`'d table name to an Arrow table with (at
    least) the columns the model reads; `dates` (None: every date) is staged as the `dates`
    relation. Columns are the dictionary's, minus the load's constants (loaded_at, run_id),
    ordered by the table's key.
    """
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        for name, arrow in inputs.items():
            con.register(name, arrow)
        if dates is not None:
            con.register("_dates", pa.table({"k": pa.array(list(dates), type=pa.date32())}))
        select = _select_list(table, _FRAME_TYPES.__getitem__, {}, skip=("loaded_at", "run_id"))
        key = ", ".join(_q(k) for k in TABLES[table].key)
        model = render(table, _FrameRefs, env, dates="_dates" if dates is not None else None, **variables)
        return con.sql(f"SELECT {select} FROM (\n{model}\n) AS m ORDER BY {key}").to_arrow_table()
    finally:
        con.close()


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _plain(value: Any) -> Any:
    """pandas scalars to what DB-API drivers take."""
    to_py = getattr(value, "to_pydatetime", None)
    return to_py() if callable(to_py) else value
