"""SQL models: one `.sql` file per output table, executed inside the warehouse.

In the style of dbt's jaffle-shop (`models/marts/orders.sql`): each file is one SELECT with
named CTEs that yields exactly the rows of its table. The warehouse runs it (DuckDB or
PostgreSQL), so restated dates are recomputed where the facts live instead of being read back
into pandas. A model is a Jinja template with two kinds of names:

- `{{ ref('fact_claim_service') }}`: the schema-qualified name of a warehouse table;
- `{{ name }}` for each keyword passed to `render`/`insert_model`, e.g. `{{ dates }}`, the
  relation (one column `k`) of the dates being restated, as `Warehouse.stage_keys` returns it.

Write SQL both backends run unchanged: `percentile_cont(q) WITHIN GROUP (ORDER BY x)` for
percentiles, `CAST(x AS DOUBLE PRECISION)` before dividing counts (PostgreSQL divides integers
as integers, DuckDB does not), `GROUPING SETS`, `FILTER (WHERE ...)`.

Column lists come from the data dictionary, once: `insert_model` inserts the model's columns in
the order `dictionary.columns(table)` gives, with constants such as `loaded_at` and `run_id`
bound as parameters, so a model never repeats the table's column list for the load.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from claimpulse.dictionary import SQL_TYPES, TABLES

MODELS_DIR = Path(__file__).resolve().parent



def environment(directory: Path = MODELS_DIR) -> Environment:
    """The Jinja environment models render in (StrictUndefined: a missing variable is an error)."""
    return Environment(loader=FileSystemLoader(str(directory)), undefined=StrictUndefined,
                       keep_trailing_newline=True, autoescape=False)


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
    # Every value is cast to the dictionary's type, so a model (or a NULL constant) never
    # depends on how a backend infers a type.
    select = ", ".join(
        f"CAST({':' + c.name if c.name in constants else 'm.' + _q(c.name)} AS "
        f"{SQL_TYPES[c.type]().compile(dialect=conn.dialect)})" for c in cols)
    sql = (f"INSERT INTO {wh.table(table)} ({', '.join(_q(c.name) for c in cols)}) "
           f"SELECT {select} FROM (\n{render(table, wh, env, **variables)}\n) AS m")
    res = conn.execute(sa.text(sql), {k: _plain(v) for k, v in constants.items()})
    return max(int(res.rowcount or 0), 0)


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _plain(value: Any) -> Any:
    """pandas scalars to what DB-API drivers take."""
    to_py = getattr(value, "to_pydatetime", None)
    return to_py() if callable(to_py) else value
