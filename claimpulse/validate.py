"""Row rules of SOURCE.md: Great Expectations suites plus the cross-table rules, in one pass.

`validate_sources(typed, raw, coercion_failures, settings, run_time, partition)` splits every
source table into the rows that pass every rule (`accepted`) and the rows that break at least
one (`quarantine`, with *every* reason), and reports one `dq_validation_results` row per
expectation and per cross-table rule. Nothing is dropped silently: for every table
rows read = rows accepted + rows quarantined (checked, not assumed).

How it works
------------
1. Row rules run as one GX ExpectationSuite per table (``expectations/suites/<table>.json``; every
   expectation's ``meta.reason`` is its reason code). Configurable values are suite
   parameters: ``product_lines``, ``channels``, ``currency`` (one-element list) and
   ``max_occurred_at`` (run time + 1 hour). Conditional rules use GX ``row_condition``
   Condition objects (``Column("outcome") == "denied"``), stored as structured JSON. The
   failing rows of an expectation are GX's ``unexpected_index_list`` (GX is given the frame
   with a positional index; positions are mapped back to the caller's index labels).
   GX sees the same rows and values in a cheaper form (only the columns the suite reads,
   value-set text as categoricals, nullable integers as float64, text tested only for null
   as 1.0/NaN; see ``_gx_frame``).
2. Cast failures reported by extraction (``coercion_failures``, codes like
   ``reported_at_invalid``) join the row's reasons; the null they left in the typed cell does
   not additionally count as ``<col>_missing`` (nor, for a cost's amount, as
   ``evidence_fee_without_amount``). A code names its column by prefix (``<col>_...``).
3. Cross-table rules (numpy/pyarrow; every claim_id is matched once to its position among the
   distinct claim ids): ``evidence_fee_without_amount``, ``orphan_claim``,
   ``milestone_order`` (first occurrences taken only from events that passed their own rules;
   the claim and all its events get the code), then ``claim_quarantined`` for events, surveys,
   complaints and costs whose claim exists but is quarantined. An event of a claim quarantined
   only for ``milestone_order`` carries ``milestone_order`` rather than ``claim_quarantined``.

Reason codes (stable; dq_quarantine.reasons is the sorted unique set joined by ";")
---------------------------------------------------------------------------------

=================================  ==========================================================
code                               meaning
=================================  ==========================================================
``<col>_missing``                  a required value is null. Required: claims.claim_id,
                                   policy_id, customer_id, product_line, channel, region,
                                   complexity, claimed_amount, currency, reported_at,
                                   updated_at; claim_events.event_id, claim_id, event_type,
                                   occurred_at, actor_role, updated_at; surveys.response_id,
                                   claim_id, responded_at, updated_at; complaints.complaint_id,
                                   claim_id, received_at, source, updated_at;
                                   customer_costs.cost_id, claim_id, cost_type, incurred_at,
                                   updated_at
``denial_reason_missing``          claims: outcome is ``denied`` but denial_reason is null
``quantity_missing``               customer_costs: quantity null and cost_type is not
                                   ``evidence_fee``
``currency_missing``               claims: currency null; customer_costs: currency null
                                   while amount is set
``<col>_not_allowed``              value outside its allowed set (claims.region: ``ALL``;
                                   claims.team: ``ALL`` or ``UNASSIGNED``): claims.product_line
                                   (config ``product_lines``), channel (config ``channels``),
                                   complexity, outcome, denial_reason, currency (config
                                   ``currency``); claim_events.event_type, actor_role;
                                   complaints.source; customer_costs.cost_type, currency
``denial_reason_without_denial``   claims: denial_reason set but outcome is not ``denied``
``<col>_out_of_range``             claimed_amount, paid_amount, quantity or amount < 0;
                                   csat not in 1..5; nps not in 0..10; effort not in 1..7
``occurred_at_in_future``          claim_events: occurred_at later than run time + 1 hour
``resolved_before_received``       complaints: resolved_at earlier than received_at
``<key>_not_unique``               claim_id / event_id / response_id / complaint_id / cost_id
                                   appears more than once in its table: every copy is held
``<col>_invalid``                  the source value could not be cast to the column's type
                                   (reported by extraction in ``coercion_failures``)
``evidence_fee_without_amount``    customer_costs: an ``evidence_fee`` without an amount
                                   cannot be valued
``orphan_claim``                   claim_id is set but is in no claims row at all
``milestone_order``                the claim's milestones break ``reported_at <= accepted_at
                                   <= decided_at <= paid_at`` / ``decided_at <= closed_at``
                                   (every pair of that partial order where both ends
                                   exist, so also reported/accepted <= closed; a milestone is
                                   its first event); the claim and all its events are held
``claim_quarantined``              the row's claim exists but is quarantined; the row comes
                                   back when the claim does
=================================  ==========================================================

``REASON_CODES`` spells every concrete code out (code -> one-line meaning) for the README.

dq_validation_results rows
--------------------------
``expectation`` is ``"<gx type>(<column>)"`` (``"<type>(<column_A>,<column_B>)"`` for pair
expectations) or ``"claimpulse_rule(<code>)"``. ``evaluated_rows`` is the number of rows the
rule actually judged: rows matching the expectation's row_condition, minus those GX skips
because the value is null (for not-null/null expectations nulls are what is judged, so none are
skipped); for cross-table rules the rows the rule applies to. ``unexpected_rows`` is the number
of rows that broke it.

GX is run the way its users run it, through its public API only: a File Data Context kept in
the repository (``expectations/``: ``great_expectations.yml``, ``suites/``,
``validation_definitions/``, ``checkpoints/``; ``expectations/make_project.py`` rebuilds all but
the suites), opened once per process. A run with a run name validates each table through the
table's validation definition, which stores the result, and then builds the Data Docs pages of
all of them in one ``context.build_data_docs`` (claimpulse.datadocs); otherwise the table's batch
is validated with the same suite and result format and nothing is stored. The project's
checkpoints (one per table, whose UpdateDataDocsAction builds the docs) are what a user runs by
hand; the pipeline does not run them because that action rebuilds the whole site index after
every single result, five times a run (tests/unit/test_validate.py checks that a checkpoint
run by hand and the pipeline agree). One validation per table per chunk: GX's cost per validation
is mostly fixed (planning ~50 metrics), so fewer, larger batches keep it small. GX runs quietly
(no analytics, no progress bars: both set in great_expectations.yml); validation is serialized
by a lock because GX execution engines keep the active batch as shared state.
"""
from __future__ import annotations

import os

os.environ["GX_ANALYTICS_ENABLED"] = "false"  # before GX is imported anywhere in this process

import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pandas as pd

from claimpulse.extract import positions_in as _positions
from claimpulse.schema import (
    ACTOR_ROLES,
    COMPLAINT_SOURCES,
    COMPLEXITIES,
    COST_TYPES,
    DECIMAL,
    DENIAL_REASONS,
    EVENT_TYPES,
    INTEGER,
    OUTCOMES,
    SOURCE_TABLES,
    TABLE_ORDER,
    TIMESTAMP,
)

__all__ = [
    "EXPECTATIONS_DIR",
    "SUITES_DIR",
    "QUARANTINE_COLUMNS",
    "REASON_CODES",
    "RESULTS_COLUMNS",
    "COUNTS_COLUMNS",
    "SourceValidationError",
    "ValidationOutcome",
    "expectation_label",
    "load_suites",
    "suite_parameters",
    "validate_sources",
]

# The GX project: a File Data Context (great_expectations.yml) with suites/,
# validation_definitions/ and checkpoints/ (see expectations/make_project.py).
EXPECTATIONS_DIR = Path(
    os.environ.get("CLAIMPULSE_EXPECTATIONS_DIR")
    or Path(__file__).resolve().parent.parent / "expectations"
)
SUITES_DIR = EXPECTATIONS_DIR / "suites"

QUARANTINE_COLUMNS = ("source_table", "source_key", "claim_id", "reasons", "row_data", "row")
RESULTS_COLUMNS = ("source_table", "partition", "expectation", "success", "evaluated_rows",
                   "unexpected_rows")
COUNTS_COLUMNS = ("source_table", "rows_read", "rows_accepted", "rows_quarantined")

MASK = "***"
RULE_PREFIX = "claimpulse_rule"
CLAIM_CHILD_TABLES = ("claim_events", "surveys", "complaints", "customer_costs")

# The milestone partial order of SOURCE.md: reported <= accepted <= decided <= paid and
# decided <= closed. Every ordered pair of it is checked where both ends exist, so a missing
# middle milestone does not hide an inversion (reported after decided, closed before accepted).
MILESTONE_EVENTS = ("accepted", "decided", "paid", "closed")
MILESTONE_PAIRS = (
    ("reported_at", "accepted_at"), ("reported_at", "decided_at"), ("reported_at", "paid_at"),
    ("reported_at", "closed_at"), ("accepted_at", "decided_at"), ("accepted_at", "paid_at"),
    ("accepted_at", "closed_at"), ("decided_at", "paid_at"), ("decided_at", "closed_at"),
)


class SourceValidationError(RuntimeError):
    """The inputs break the validation contract, or a rule could not be evaluated."""


# ---------------------------------------------------------------------------------------------
# Reason codes
# ---------------------------------------------------------------------------------------------
def _reason_codes() -> dict[str, str]:
    codes: dict[str, str] = {}
    required = {
        "claims": ("claim_id", "policy_id", "customer_id", "product_line", "channel", "region",
                   "complexity", "claimed_amount", "reported_at", "updated_at"),
        "claim_events": ("event_id", "event_type", "occurred_at", "actor_role"),
        "surveys": ("response_id", "responded_at"),
        "complaints": ("complaint_id", "received_at", "source"),
        "customer_costs": ("cost_id", "cost_type", "incurred_at"),
    }
    for table, cols in required.items():
        for col in cols:
            codes[f"{col}_missing"] = f"required {col} is null"
    codes["claim_id_missing"] = "required claim_id is null"
    codes["updated_at_missing"] = "required updated_at is null"
    codes["currency_missing"] = ("currency is null (claims: always required; customer_costs: "
                                 "required when amount is set)")
    codes["quantity_missing"] = "customer_costs: quantity is null and cost_type is not evidence_fee"
    codes["denial_reason_missing"] = "claims: outcome is denied but denial_reason is null"
    codes["denial_reason_without_denial"] = "claims: denial_reason is set but outcome is not denied"
    allowed = {
        "product_line": "claims.product_line not in the configured product_lines",
        "channel": "claims.channel not in the configured channels",
        "region": "claims.region is 'ALL', the marker of a rolled-up dimension in the daily tables",
        "team": "claims.team is 'ALL' or 'UNASSIGNED', markers of rolled-up or unassigned work",
        "complexity": f"claims.complexity not one of {', '.join(COMPLEXITIES)}",
        "outcome": f"claims.outcome not one of {', '.join(OUTCOMES)}",
        "denial_reason": f"claims.denial_reason not one of {', '.join(DENIAL_REASONS)}",
        "currency": "currency (claims, customer_costs) is not the configured currency",
        "event_type": f"claim_events.event_type not one of {', '.join(EVENT_TYPES)}",
        "actor_role": f"claim_events.actor_role not one of {', '.join(ACTOR_ROLES)}",
        "source": f"complaints.source not one of {', '.join(COMPLAINT_SOURCES)}",
        "cost_type": f"customer_costs.cost_type not one of {', '.join(COST_TYPES)}",
    }
    for col, meaning in allowed.items():
        codes[f"{col}_not_allowed"] = meaning
    ranges = {
        "claimed_amount": "claims.claimed_amount < 0",
        "paid_amount": "claims.paid_amount < 0",
        "quantity": "customer_costs.quantity < 0",
        "amount": "customer_costs.amount < 0",
        "csat": "surveys.csat not in 1..5",
        "nps": "surveys.nps not in 0..10",
        "effort": "surveys.effort not in 1..7",
    }
    for col, meaning in ranges.items():
        codes[f"{col}_out_of_range"] = meaning
    codes["occurred_at_in_future"] = "claim_events.occurred_at is later than run time + 1 hour"
    codes["resolved_before_received"] = "complaints.resolved_at is earlier than received_at"
    for spec in SOURCE_TABLES.values():
        codes[f"{spec.key}_not_unique"] = (
            f"{spec.name}.{spec.key} appears more than once: every copy is quarantined")
    for spec in SOURCE_TABLES.values():
        for col, kind in spec.columns.items():
            if kind in (DECIMAL, INTEGER, TIMESTAMP):
                codes.setdefault(f"{col}_invalid", f"{col} could not be cast to a {kind}")
    codes["evidence_fee_without_amount"] = (
        "customer_costs: an evidence_fee without an amount cannot be valued")
    codes["orphan_claim"] = "claim_id is set but no claims row has it"
    codes["milestone_order"] = (
        "claim milestones out of order (reported <= accepted <= decided <= paid, decided <= "
        "closed); the claim and all its events are quarantined")
    codes["claim_quarantined"] = "the row's claim is quarantined; held until the claim passes"
    return dict(sorted(codes.items()))


REASON_CODES: dict[str, str] = _reason_codes()


# ---------------------------------------------------------------------------------------------
# The GX project (a File Data Context in expectations/), opened once per process and docs folder
# ---------------------------------------------------------------------------------------------
def expectation_label(expectation: Any) -> str:
    """`"<type>(<column>)"`, the dq_validation_results.expectation of a GX expectation
    (an Expectation or an ExpectationConfiguration)."""
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    config = (expectation if isinstance(expectation, ExpectationConfiguration)
              else expectation.configuration)
    etype, kwargs = config.type, dict(config.kwargs)
    if "column" in kwargs:
        cols = [kwargs["column"]]
    elif "column_A" in kwargs:
        cols = [kwargs["column_A"], kwargs["column_B"]]
    else:
        cols = list(kwargs.get("column_list") or [])
    return f"{etype}({','.join(str(c) for c in cols)})"


def _check_suite(table: str, suite: Any, n_in_file: int, where: Any) -> None:
    """Refuse a suite GX shortened (it logs, not raises, invalid expectations), an expectation
    without a known meta.reason, or two expectations with the same label."""
    if len(suite.expectations) != n_in_file:
        raise SourceValidationError(
            f"expectation suite {where}: {n_in_file} expectations in the file but only "
            f"{len(suite.expectations)} are valid")
    labels = []
    for exp in suite.expectations:
        reason = (exp.meta or {}).get("reason")
        if not reason or reason not in REASON_CODES:
            raise SourceValidationError(
                f"expectation suite {where}: {expectation_label(exp)} has no known meta.reason "
                f"(got {reason!r})")
        labels.append(expectation_label(exp))
    dupes = sorted({x for x in labels if labels.count(x) > 1})
    if dupes:
        raise SourceValidationError(f"expectation suite {where}: duplicate expectations {dupes}")


def _read_suite(table: str, directory: Path):
    import great_expectations as gx

    path = directory / f"{table}.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SourceValidationError(f"expectation suite for table {table} not found: {path}") from None
    except json.JSONDecodeError as exc:
        raise SourceValidationError(f"expectation suite {path} is not valid JSON: {exc}") from None
    suite = gx.ExpectationSuite(**data)
    _check_suite(table, suite, len(data.get("expectations", [])), path)
    return suite


def load_suites(directory: str | os.PathLike | None = None) -> dict:
    """The ExpectationSuite of every source table, read from `<directory>/<table>.json`
    (default: the GX project's suites, `expectations/suites/`)."""
    directory = Path(directory) if directory else SUITES_DIR
    return {t: _read_suite(t, directory) for t in TABLE_ORDER}


def suite_parameters(settings, run_time: pd.Timestamp) -> dict[str, Any]:
    """The suite parameters of a run: configured value sets and the future cut-off."""
    return {
        "product_lines": list(settings.product_lines),
        "channels": list(settings.channels),
        "currency": [settings.currency],
        "max_occurred_at": _as_utc(run_time) + pd.Timedelta(hours=1),
    }


@dataclass
class _GxState:
    context: Any                         # the File Data Context of expectations/
    checkpoints: dict[str, Any]          # table -> its checkpoint (for users; its result format)
    definitions: dict[str, Any]          # table -> its validation definition
    suites: dict[str, Any]
    order: dict[str, dict[str, int]]  # table -> label -> position in the suite
    # table -> the columns GX reads (None: all) / the text columns it compares by value
    columns: dict[str, list[str] | None] = field(default_factory=dict)
    by_value: dict[str, set[str]] = field(default_factory=dict)
    # table -> the columns whose only expectations are (not) null, unconditioned
    presence: dict[str, set[str]] = field(default_factory=dict)
    pruned: set[str] = field(default_factory=set)  # run names whose Data Docs were pruned for


_NULL_TESTS = {"expect_column_values_to_not_be_null", "expect_column_values_to_be_null"}


def _suite_columns(suite) -> tuple[list[str] | None, set[str], set[str]]:
    """(the columns a suite reads, incl. row_condition columns, or None when that cannot be
    told: a table-level expectation or a condition given as a string; the text columns
    compared by value: value sets and row_condition literals; the columns only ever tested
    for null, by expectations without a row_condition, and in no row_condition)."""
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    columns: list[str] = []
    by_value: set[str] = set()
    other_tests: set[str] = set()   # columns some expectation reads for more than null-ness
    known = True

    def use(col: str, value: bool = False) -> None:
        if col not in columns:
            columns.append(col)
        if value:
            by_value.add(col)

    def walk(cond: Any) -> None:  # a structured row_condition, as stored: nested dicts
        nonlocal known
        if hasattr(cond, "json"):  # a Condition object
            cond = json.loads(cond.json())
        if not isinstance(cond, dict):
            known = False
            return
        col = cond.get("column")
        if isinstance(col, dict) and "name" in col:
            use(col["name"], value=True)
            other_tests.add(col["name"])
        for sub in cond.get("conditions") or ():
            walk(sub)

    for exp in suite.expectations:
        config = (exp if isinstance(exp, ExpectationConfiguration) else exp.configuration)
        kwargs = dict(config.kwargs)
        cols = [kwargs[k] for k in ("column", "column_A", "column_B") if k in kwargs]
        cols += list(kwargs.get("column_list") or ())
        if not cols:
            known = False
        for col in cols:
            use(col, value="value_set" in kwargs)
            if config.type not in _NULL_TESTS or kwargs.get("row_condition") is not None:
                other_tests.add(col)
        if kwargs.get("row_condition") is not None:
            walk(kwargs["row_condition"])
    return (columns if known else None), by_value, set(columns) - other_tests


_STATES: dict[str, _GxState] = {}
_STATE_LOCK = threading.Lock()
# GX execution engines keep the active batch as shared state: one validation at a time.
_VALIDATE_LOCK = threading.Lock()


def _gx_state() -> _GxState:
    """The GX project, opened once per process and Data Docs folder (the folder is a config
    variable of the project, fixed when it is opened)."""
    from claimpulse.datadocs import docs_dir, docs_enabled

    # Opening the project creates the results store's folder: with Data Docs off, that is a
    # scratch folder of this process (removed at exit), never the docs folder.
    key = str(docs_dir().resolve()) if docs_enabled() else _scratch_dir()
    state = _STATES.get(key)
    if state is None:
        with _STATE_LOCK:
            state = _STATES.get(key)
            if state is None:
                state = _STATES[key] = _build_state(key)
    return state


def open_gx_project() -> None:
    """Open the GX project now (imports and context: a one-time cost per process), e.g. so a
    benchmark can time it apart from the validations."""
    _gx_state()


_SCRATCH: list[Any] = []


def _scratch_dir() -> str:
    if not _SCRATCH:
        import tempfile

        _SCRATCH.append(tempfile.TemporaryDirectory(prefix="claimpulse-gx-"))
    return _SCRATCH[0].name


def _build_state(docs_folder: str) -> _GxState:
    import great_expectations as gx

    if not (EXPECTATIONS_DIR / "great_expectations.yml").is_file():
        raise SourceValidationError(f"no GX project (great_expectations.yml) in {EXPECTATIONS_DIR}")
    context = gx.get_context(mode="file", context_root_dir=str(EXPECTATIONS_DIR),
                             runtime_environment={"CLAIMPULSE_DOCS_DIR": docs_folder})
    checkpoints, definitions, suites = {}, {}, {}
    for table in TABLE_ORDER:
        try:
            checkpoints[table] = context.checkpoints.get(table)
        except Exception as exc:
            raise SourceValidationError(
                f"GX project {EXPECTATIONS_DIR}: no checkpoint {table!r} ({exc}); "
                "run expectations/make_project.py") from None
        (definitions[table],) = checkpoints[table].validation_definitions
        suites[table] = definitions[table].suite
        on_disk = json.loads((SUITES_DIR / f"{table}.json").read_text(encoding="utf-8"))
        _check_suite(table, suites[table], len(on_disk.get("expectations", [])),
                     SUITES_DIR / f"{table}.json")
    order = {t: {expectation_label(e): i for i, e in enumerate(s.expectations)}
             for t, s in suites.items()}
    used = {t: _suite_columns(s) for t, s in suites.items()}
    return _GxState(context, checkpoints, definitions, suites, order,
                    columns={t: u[0] for t, u in used.items()},
                    by_value={t: u[1] for t, u in used.items()},
                    presence={t: u[2] for t, u in used.items()})


# ---------------------------------------------------------------------------------------------
# The outcome
# ---------------------------------------------------------------------------------------------
@dataclass
class ValidationOutcome:
    accepted: dict[str, pd.DataFrame]   # typed rows that passed every rule, original index
    quarantine: pd.DataFrame            # QUARANTINE_COLUMNS, one row per quarantined source row
    results: pd.DataFrame               # RESULTS_COLUMNS, one row per expectation / rule
    counts: pd.DataFrame                # COUNTS_COLUMNS, read = accepted + quarantined
    # table -> the GX ExpectationSuiteValidationResult of its suite (for Data Docs). Each
    # expectation's `result` keeps only its scalar fields: the value/index lists are dropped.
    gx_results: dict[str, Any] = field(default_factory=dict)


class _Reasons:
    """Reason codes of one table, collected as (row position, code) pairs."""

    def __init__(self, n_rows: int):
        self.n_rows = n_rows
        self._pos: list[np.ndarray] = []
        self._codes: list[np.ndarray] = []
        self._suppressed: list[pd.DataFrame] = []

    def add(self, positions: Iterable[int] | np.ndarray, code: str) -> None:
        pos = np.asarray(positions, dtype=np.int64)
        if pos.size:
            self._pos.append(pos)
            self._codes.append(np.full(pos.size, code, dtype=object))

    def add_mask(self, mask: np.ndarray, code: str) -> None:
        self.add(np.flatnonzero(mask), code)

    def suppress(self, positions: np.ndarray, codes: np.ndarray) -> None:
        if len(positions):
            self._suppressed.append(pd.DataFrame({"pos": positions, "code": codes}))

    def long(self) -> pd.DataFrame:
        if not self._pos:
            return pd.DataFrame({"pos": np.array([], dtype=np.int64),
                                 "code": np.array([], dtype=object)})
        out = pd.DataFrame({"pos": np.concatenate(self._pos),
                            "code": np.concatenate(self._codes)})
        if self._suppressed:
            sup = pd.concat(self._suppressed, ignore_index=True).drop_duplicates()
            sup["_drop"] = True
            out = out.merge(sup, on=["pos", "code"], how="left")
            out = out.loc[out["_drop"].isna(), ["pos", "code"]]
        return out.drop_duplicates()

    def flagged(self) -> np.ndarray:
        mask = np.zeros(self.n_rows, dtype=bool)
        long = self.long()
        mask[long["pos"].to_numpy(dtype=np.int64)] = True
        return mask

    def joined(self) -> pd.Series:
        """position -> sorted unique codes joined by ';' (flagged rows only, sorted by position).

        Vectorized: each code is a bit, a row's set of codes is the sum of its (distinct) bits,
        and only the few distinct sets are turned into strings."""
        long = self.long()
        if long.empty:
            return pd.Series([], index=pd.Index([], dtype=np.int64), dtype=object)
        code_idx, codes = pd.factorize(long["code"])
        codes = np.asarray(codes, dtype=object)
        if len(codes) > 62:  # more distinct codes than bits: the plain (slower) way
            long = long.sort_values(["pos", "code"], kind="stable")
            return long.groupby("pos", sort=True)["code"].agg(";".join)
        bits = pd.Series(np.left_shift(np.int64(1), code_idx.astype(np.int64)),
                         index=long["pos"].to_numpy())
        keys = bits.groupby(level=0, sort=True).sum()
        combos = pd.unique(keys.to_numpy())
        by_name = sorted(range(len(codes)), key=lambda i: codes[i])
        text = {int(k): ";".join(codes[i] for i in by_name if int(k) >> i & 1) for k in combos}
        return pd.Series(keys.map(text).to_numpy(dtype=object),
                         index=keys.index.to_numpy(dtype=np.int64))


# ---------------------------------------------------------------------------------------------
# validate_sources
# ---------------------------------------------------------------------------------------------
def validate_sources(
    typed: dict[str, pd.DataFrame],
    raw: dict[str, pd.DataFrame],
    coercion_failures: dict[str, pd.DataFrame],
    settings,
    run_time: pd.Timestamp,
    partition: str,
    run_name: str | None = None,
    prune_docs: bool = True,
    docs_later: bool = False,
) -> ValidationOutcome:
    """Apply every row rule of SOURCE.md to all source tables (see the module docstring).

    With a `run_name` (the ClaimPulse run id) and Data Docs on (claimpulse.datadocs), each
    table's result is stored under that run name and the Data Docs pages of the run are built
    once, after the five validations; without one, nothing is stored. `prune_docs=False`:
    the caller prunes the Data Docs of older runs itself (chunks validated in worker
    processes: one task after the last chunk; see prepare_data_docs). `docs_later`: the
    caller builds the run's pages and index once, after its last chunk (build_run_data_docs;
    tasks/chunks.py does)."""
    run_time = _as_utc(run_time)
    params = suite_parameters(settings, run_time)
    frames = {t: _checked_frame(t, typed, raw) for t in TABLE_ORDER}
    reasons = {t: _Reasons(len(frames[t])) for t in TABLE_ORDER}
    results: list[dict[str, Any]] = []

    # 1. Row rules (GX) and cast failures.
    state = _gx_state()
    gx_frames = {t: _gx_frame(state, t, frames[t]) for t in TABLE_ORDER}
    invalid_cols: dict[str, dict[str, np.ndarray]] = {}
    gx_results: dict[str, Any] = {}
    run_id = _gx_run_id(run_name)
    if run_id is not None and prune_docs:
        prepare_data_docs(run_id.run_name)
    for t in TABLE_ORDER:
        results.extend(_run_suite(t, gx_frames[t], params, reasons[t], partition, gx_results,
                                  run_id))
        invalid_cols[t] = _merge_coercion_failures(t, frames[t], coercion_failures, reasons[t])
    if run_id is not None and not docs_later:
        build_run_data_docs(run_id.run_name)   # one build for the five tables' pages

    # 2. evidence_fee_without_amount (a cast failure of amount already says why it is missing).
    costs = frames["customer_costs"]
    applies = _eq(costs["cost_type"], "evidence_fee")
    bad = applies & costs["amount"].isna().to_numpy()
    if "amount" in invalid_cols["customer_costs"]:
        bad &= ~invalid_cols["customer_costs"]["amount"]
    reasons["customer_costs"].add_mask(bad, "evidence_fee_without_amount")
    results.append(_rule_row("customer_costs", partition, "evidence_fee_without_amount",
                             int(applies.sum()), int(bad.sum())))

    # 3. orphan_claim. Every claim_id is matched once, as its position among the distinct
    #    claim ids of the claims table (-1: null or no such claim); steps 4 and 5 reuse it.
    claims, events = frames["claims"], frames["claim_events"]
    claim_keys = pd.Index(claims["claim_id"].dropna().unique())
    claim_code = _key_positions(gx_frames["claims"], claims, "claim_id", claim_keys)
    child_code: dict[str, np.ndarray] = {}
    has_claim: dict[str, np.ndarray] = {}
    for t in CLAIM_CHILD_TABLES:
        cid = frames[t]["claim_id"]
        present = cid.notna().to_numpy()
        child_code[t] = _key_positions(gx_frames[t], frames[t], "claim_id", claim_keys)
        exists = (child_code[t] >= 0) & present
        has_claim[t] = exists
        orphan = present & ~exists
        reasons[t].add_mask(orphan, "orphan_claim")
        results.append(_rule_row(t, partition, "orphan_claim", int(present.sum()), int(orphan.sum())))

    # 4. milestone_order, from events that passed their own rules.
    kind = _key_positions(gx_frames["claim_events"], events, "event_type", MILESTONE_EVENTS)
    bad_claim_rows = _milestone_violations(claims, claim_code, len(claim_keys), events,
                                           child_code["claim_events"], kind,
                                           ~reasons["claim_events"].flagged())
    reasons["claims"].add_mask(bad_claim_rows, "milestone_order")
    results.append(_rule_row("claims", partition, "milestone_order",
                             int(claims["claim_id"].notna().sum()), int(bad_claim_rows.sum())))
    bad_keys = _keys_of(claim_code, bad_claim_rows, len(claim_keys))
    bad_events = _of_keys(child_code["claim_events"], bad_keys) & has_claim["claim_events"]
    reasons["claim_events"].add_mask(bad_events, "milestone_order")
    results.append(_rule_row("claim_events", partition, "milestone_order",
                             int(has_claim["claim_events"].sum()), int(bad_events.sum())))

    # 5. claim_quarantined: the claim exists but is held. Events of a claim held only for
    #    milestone_order already carry milestone_order.
    claim_long = reasons["claims"].long()
    held_rows = np.zeros(len(claims), dtype=bool)
    held_rows[claim_long["pos"].to_numpy(dtype=np.int64)] = True
    other_rows = np.zeros(len(claims), dtype=bool)
    other_rows[claim_long.loc[claim_long["code"] != "milestone_order", "pos"].to_numpy(
        dtype=np.int64)] = True
    held_keys = _keys_of(claim_code, held_rows, len(claim_keys))
    held_other_keys = _keys_of(claim_code, other_rows, len(claim_keys))
    for t in CLAIM_CHILD_TABLES:
        keys = held_other_keys if t == "claim_events" else held_keys
        held = _of_keys(child_code[t], keys) & has_claim[t]
        reasons[t].add_mask(held, "claim_quarantined")
        results.append(_rule_row(t, partition, "claim_quarantined",
                                 int(has_claim[t].sum()), int(held.sum())))

    # 6. Split.
    mask_cols = set(settings.personal_columns)
    accepted: dict[str, pd.DataFrame] = {}
    quarantine_parts: list[pd.DataFrame] = []
    count_rows: list[dict[str, Any]] = []
    for t in TABLE_ORDER:
        df, spec = frames[t], SOURCE_TABLES[t]
        joined = reasons[t].joined()
        pos = joined.index.to_numpy(dtype=np.int64)
        flagged = np.zeros(len(df), dtype=bool)
        flagged[pos] = True
        accepted[t] = df[~flagged]
        if len(pos):
            quarantine_parts.append(pd.DataFrame({
                "source_table": pd.array([t] * len(pos), dtype="string"),
                "source_key": df[spec.key].iloc[pos].astype("string").array,
                "claim_id": df[spec.claim_column].iloc[pos].astype("string").array,
                "reasons": pd.array(joined.to_numpy(), dtype="string"),
                "row_data": pd.array(
                    _row_data(raw[t], df.index, pos, set(spec.personal) | mask_cols),
                    dtype="string"),
                "row": pd.Series(df.index[pos], dtype=object).to_numpy(),
            }))
        n_read, n_acc, n_q = len(df), len(accepted[t]), len(pos)
        if n_read != n_acc + n_q:
            raise SourceValidationError(
                f"{t}: rows read ({n_read}) != rows accepted ({n_acc}) + rows quarantined "
                f"({n_q}); refusing to drop or duplicate rows")
        count_rows.append({"source_table": t, "rows_read": n_read, "rows_accepted": n_acc,
                           "rows_quarantined": n_q})

    quarantine = (pd.concat(quarantine_parts, ignore_index=True) if quarantine_parts
                  else _empty_quarantine())
    results_df = pd.DataFrame(results, columns=list(RESULTS_COLUMNS)).astype(
        {"success": bool, "evaluated_rows": "int64", "unexpected_rows": "int64"})
    counts = pd.DataFrame(count_rows, columns=list(COUNTS_COLUMNS)).astype(
        {"rows_read": "int64", "rows_accepted": "int64", "rows_quarantined": "int64"})
    return ValidationOutcome(accepted=accepted, quarantine=quarantine, results=results_df,
                             counts=counts, gx_results=gx_results)


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------
def _as_utc(ts) -> pd.Timestamp:
    ts = pd.Timestamp(ts)
    if ts is pd.NaT:
        raise SourceValidationError("run_time is NaT")
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def prepare_data_docs(run_name: str | None) -> None:
    """Once per run: keep the Data Docs of the newest runs only (claimpulse.datadocs); the
    run's own results are never pruned, so it may run before the first validation or after
    the last. Chunks validated in worker processes leave it to one task after the last chunk
    (tasks/chunks.py), so that two workers never prune the same results."""
    run_id = _gx_run_id(run_name)
    if run_id is None:
        return
    state = _gx_state()
    if run_id.run_name in state.pruned:
        return
    from claimpulse.datadocs import keep_runs, prune_runs

    with _VALIDATE_LOCK:
        prune_runs(state.context.validation_results_store, keep_runs(), run_id.run_name)
    state.pruned.add(run_id.run_name)


def build_run_data_docs(run_name: str | None) -> None:
    """After a run's validations (its last chunk): the Data Docs pages of every result the
    run stored (here or in worker processes), its suites' pages and the site index, in one GX
    build."""
    from claimpulse.datadocs import docs_enabled

    if run_name is None or not docs_enabled():
        return
    from great_expectations.data_context.types.resource_identifiers import ExpectationSuiteIdentifier

    state = _gx_state()
    with _VALIDATE_LOCK:
        store = state.context.validation_results_store
        results = [k for k in store.list_keys() if k.run_id.run_name == str(run_name)]
        suites = [ExpectationSuiteIdentifier(name=state.suites[t].name) for t in TABLE_ORDER]
        state.context.build_data_docs(resource_identifiers=results + suites)


def _gx_run_id(run_name: str | None) -> Any:
    """The GX RunIdentifier of one validation (a chunk of a run: the run time tells chunks of
    one run apart in the Data Docs), or None when no Data Docs are wanted."""
    from claimpulse.datadocs import docs_enabled

    if run_name is None or not docs_enabled():
        return None
    from great_expectations.core.run_identifier import RunIdentifier

    return RunIdentifier(run_name=str(run_name), run_time=pd.Timestamp.now(tz="UTC").to_pydatetime())


def _eq(series: pd.Series, value: str) -> np.ndarray:
    """`series == value` as a plain bool array, nulls False."""
    return (series == value).fillna(False).to_numpy(dtype=bool)


def _key_positions(gx_df: pd.DataFrame, df: pd.DataFrame, col: str,
                   keys: pd.Index | Iterable) -> np.ndarray:
    """_positions(df[col], keys); when the GX frame holds the column as a categorical, only
    its distinct values are looked up and the codes mapped."""
    values = gx_df[col] if col in gx_df.columns else None
    if values is None or not isinstance(values.dtype, pd.CategoricalDtype):
        return _positions(df[col], keys)
    codes = values.cat.codes.to_numpy(dtype=np.int64)
    to_key = _positions(pd.Series(values.cat.categories), keys)
    if len(to_key) == 0:
        return np.full(len(codes), -1, dtype=np.int64)
    return np.where(codes >= 0, to_key[np.maximum(codes, 0)], -1)


def _keys_of(code: np.ndarray, rows: np.ndarray, n_keys: int) -> np.ndarray:
    """Bool mask over the keys: True for a key that at least one of `rows` has."""
    keys = np.zeros(n_keys, dtype=bool)
    keys[code[rows & (code >= 0)]] = True
    return keys


def _of_keys(code: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Bool mask over rows: True where the row's key (`code`, -1 = none) is set in `keys`."""
    if len(keys) == 0:
        return np.zeros(len(code), dtype=bool)
    return (code >= 0) & keys[np.maximum(code, 0)]


def _checked_frame(table: str, typed: dict, raw: dict) -> pd.DataFrame:
    spec = SOURCE_TABLES[table]
    if table not in typed:
        raise SourceValidationError(f"table {table}: no typed frame given to validation")
    if table not in raw:
        raise SourceValidationError(f"table {table}: no raw frame given to validation")
    df, raw_df = typed[table], raw[table]
    missing = [c for c in spec.columns if c not in df.columns]
    if missing:
        raise SourceValidationError(f"table {table}: typed frame lacks column(s) {', '.join(missing)}")
    for col, kind in spec.columns.items():
        dtype = df[col].dtype
        ok = True
        if kind == TIMESTAMP:
            ok = isinstance(dtype, pd.DatetimeTZDtype)
        elif kind in (DECIMAL, INTEGER):
            ok = pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)
        if not ok:
            raise SourceValidationError(
                f"table {table}, column {col}: typed dtype {dtype} does not fit kind {kind}")
    if not df.index.is_unique:
        raise SourceValidationError(f"table {table}: typed frame index is not unique; rows "
                                    "cannot be tied back to the raw frame")
    if len(raw_df) != len(df):
        raise SourceValidationError(
            f"table {table}: raw frame has {len(raw_df)} rows, typed frame {len(df)}")
    return df


def _gx_frame(state: _GxState, table: str, df: pd.DataFrame) -> pd.DataFrame:
    """The frame GX validates: the same rows and values as `df`, in a cheaper form.

    GX re-filters and re-takes the whole batch frame several times per expectation, so:
    - only the columns the suite reads, with a positional index (GX reports positions;
      labels are mapped back later);
    - text compared by value (value sets, row_condition literals) as categorical: a handful
      of distinct values, so set tests, row_condition queries and takes run on small integer
      codes (the cross-table rules reuse the codes of event_type). Identifiers stay strings:
      factorizing a million distinct ids costs what GX's uniqueness test saves (measured);
    - nullable integers as float64 (exact for these ranges; <NA> -> NaN), so GX's range test
      is vectorised instead of a Python call per value;
    - text only ever tested for null (a child's claim_id, policy_id, customer_id) as 1.0 or
      NaN: GX fingerprints every batch by hashing all its values (twice through
      Batch.validate), and hashing text is most of that cost; the personal customer_id never
      reaches GX either.
    Nulls and row order are unchanged and every other value is: every verdict and count is
    the one GX gives on `df`."""
    data = {}
    columns = state.columns.get(table)
    for col in (df.columns if columns is None else columns):
        s = df[col]
        if col in state.presence[table] and (pd.api.types.is_string_dtype(s.dtype)
                                             or s.dtype == object):
            s = pd.Series(np.where(s.isna().to_numpy(), np.nan, 1.0), index=s.index)
        elif col in state.by_value[table] and (pd.api.types.is_string_dtype(s.dtype)
                                               or s.dtype == object):
            codes, uniques = pd.factorize(s)
            s = pd.Series(pd.Categorical.from_codes(codes, categories=pd.Index(uniques),
                                                    validate=False), index=s.index)
        elif (isinstance(s.dtype, pd.api.extensions.ExtensionDtype)
              and pd.api.types.is_integer_dtype(s.dtype)):
            s = pd.Series(s.to_numpy(dtype="float64", na_value=np.nan), index=s.index)
        data[col] = s.reset_index(drop=True)
    return pd.DataFrame(data, index=pd.RangeIndex(len(df)))


def _run_suite(table: str, gx_df: pd.DataFrame, params: dict, reasons: _Reasons,
               partition: str, keep: dict[str, Any] | None = None,
               run_id: Any = None) -> list[dict[str, Any]]:
    """Validate `gx_df` (see _gx_frame) with the table's suite; its failing rows (positions)
    go to `reasons`; returns the dq_validation_results rows in suite order.

    With a `run_id` (a GX RunIdentifier) the table's validation definition runs and stores its
    result (the caller builds its Data Docs page: build_run_data_docs). Without one the table's
    batch is validated with the same suite and result format and nothing is stored (tests,
    benchmarks, CLAIMPULSE_DATA_DOCS=0). Both use the result format of the table's checkpoint.

    The checkpoint itself is not run: its UpdateDataDocsAction renders the result's page and
    then rebuilds the site index from every stored result (30 runs are kept), once per table
    and chunk; one build per run costs a fifth of that or less."""
    state = _gx_state()
    suite = state.suites[table]
    result_format = state.checkpoints[table].result_format
    batch = {"dataframe": gx_df}
    with _VALIDATE_LOCK:
        if run_id is not None:
            outcome = state.definitions[table].run(
                batch_parameters=batch, expectation_parameters=params,
                result_format=result_format, run_id=run_id)
        else:  # Batch.validate stores nothing: no Data Docs, no files
            outcome = state.definitions[table].batch_definition.get_batch(
                batch_parameters=batch).validate(suite, expectation_parameters=params,
                                                 result_format=result_format)
    rows: list[tuple[int, dict[str, Any]]] = []
    order = state.order[table]
    for er in outcome.results:
        label = expectation_label(er.expectation_config)
        _raise_on_exception(table, label, er.exception_info)
        res = er.result or {}
        idx = np.asarray(res.get("unexpected_index_list") or [], dtype=np.int64)
        unexpected = int(res.get("unexpected_count") or 0)
        if len(idx) != unexpected:
            raise SourceValidationError(
                f"table {table}: {label} reported {unexpected} unexpected rows but listed {len(idx)}")
        reasons.add(idx, er.expectation_config.meta["reason"])
        evaluated = int(res.get("element_count") or 0) - int(res.get("missing_count") or 0)
        rows.append((order[label], {
            "source_table": table, "partition": partition, "expectation": label,
            "success": bool(er.success), "evaluated_rows": evaluated, "unexpected_rows": unexpected,
        }))
    if len(rows) != len(suite.expectations):
        raise SourceValidationError(
            f"table {table}: GX returned {len(rows)} results for {len(suite.expectations)} expectations")
    if keep is not None:
        # Kept for the caller: drop the (possibly huge, possibly personal) value and index lists.
        for er in outcome.results:
            er.result = {k: v for k, v in (er.result or {}).items()
                         if not isinstance(v, (list, tuple, dict))}
        keep[table] = outcome
    return [r for _, r in sorted(rows, key=lambda x: x[0])]


def _raise_on_exception(table: str, label: str, info: Any) -> None:
    if not info:
        return
    infos = [info] if "raised_exception" in info else list(info.values())
    for item in infos:
        if isinstance(item, dict) and item.get("raised_exception"):
            raise SourceValidationError(
                f"table {table}: expectation {label} could not be evaluated: "
                f"{item.get('exception_message')}")


def _merge_coercion_failures(table: str, df: pd.DataFrame, coercion_failures: dict,
                             reasons: _Reasons) -> dict[str, np.ndarray]:
    """Add cast-failure codes; suppress `<col>_missing` for the cells they nulled.
    Returns column -> bool mask of rows whose cell failed to cast."""
    cf = coercion_failures.get(table)
    if cf is None or len(cf) == 0:
        return {}
    if not {"row", "reason"} <= set(cf.columns):
        raise SourceValidationError(
            f"table {table}: coercion_failures needs columns row and reason, got {list(cf.columns)}")
    pos = df.index.get_indexer(pd.Index(cf["row"]))
    if (pos < 0).any():
        unknown = list(pd.Index(cf["row"])[pos < 0][:5])
        raise SourceValidationError(
            f"table {table}: coercion_failures name rows not in the frame: {unknown}")
    codes = cf["reason"].astype(str).to_numpy(dtype=object)
    columns = sorted(SOURCE_TABLES[table].columns, key=len, reverse=True)
    out: dict[str, np.ndarray] = {}
    sup_pos, sup_codes = [], []
    for code in pd.unique(codes):
        col = next((c for c in columns if code.startswith(c + "_")), None)
        sel = pos[codes == code]
        reasons.add(sel, code)
        if col is not None:
            mask = out.setdefault(col, np.zeros(len(df), dtype=bool))
            mask[sel] = True
            sup_pos.append(sel)
            sup_codes.append(np.full(sel.size, f"{col}_missing", dtype=object))
    if sup_pos:
        reasons.suppress(np.concatenate(sup_pos), np.concatenate(sup_codes))
    return out


def _milestone_violations(claims: pd.DataFrame, claim_code: np.ndarray, n_keys: int,
                          events: pd.DataFrame, event_code: np.ndarray, kind: np.ndarray,
                          good: np.ndarray) -> np.ndarray:
    """Bool mask over claims rows that break the milestone order.

    A milestone is the first `good` event of its type (`kind`: position in MILESTONE_EVENTS,
    -1 for other types) for the claim id (`claim_code`, `event_code`: positions among the
    distinct claim ids). First times are a scatter-min of the events' epoch ticks into a
    (claim id x milestone) array; the pairs are then compared as timestamps (NaT compares
    False: a pair is only checked where both ends exist)."""
    no_rows = np.zeros(len(claims), dtype=bool)
    occurred = events["occurred_at"]
    use = good & (kind >= 0) & (event_code >= 0) & occurred.notna().to_numpy()
    if not use.any() or claims.empty:
        return no_rows
    unit = occurred.dtype.unit
    ticks = occurred.array.asi8
    never = np.iinfo(np.int64).max
    first = np.full(n_keys * len(MILESTONE_EVENTS), never, dtype=np.int64)
    np.minimum.at(first, event_code[use] * len(MILESTONE_EVENTS) + kind[use], ticks[use])
    first = first.reshape(n_keys, len(MILESTONE_EVENTS))
    rows = claim_code >= 0
    times = {"reported_at": claims["reported_at"].reset_index(drop=True)}
    nat = np.datetime64("NaT").astype(np.int64)  # iNaT
    for j, name in enumerate(MILESTONE_EVENTS):
        at = np.where(rows, first[np.maximum(claim_code, 0), j], never)
        at[at == never] = nat
        times[f"{name}_at"] = pd.Series(at.view(f"datetime64[{unit}]")).dt.tz_localize("UTC")
    bad = np.zeros(len(claims), dtype=bool)
    for a, b in MILESTONE_PAIRS:
        bad |= (times[a] > times[b]).to_numpy(dtype=bool)
    return bad & rows


def _rule_row(table: str, partition: str, code: str, evaluated: int, unexpected: int) -> dict:
    return {"source_table": table, "partition": partition,
            "expectation": f"{RULE_PREFIX}({code})", "success": unexpected == 0,
            "evaluated_rows": evaluated, "unexpected_rows": unexpected}


def _row_data(raw_df: pd.DataFrame, typed_index: pd.Index, pos: np.ndarray,
              masked: set[str]) -> list[str]:
    """The raw rows at `pos` as JSON objects, personal columns replaced by MASK when not null."""
    if raw_df.index.equals(typed_index):
        sub = raw_df.iloc[pos]
    else:
        try:
            sub = raw_df.loc[typed_index[pos]]
        except KeyError as exc:
            raise SourceValidationError(f"raw frame lacks typed rows: {exc}") from None
    sub = sub.copy()
    for col in masked:
        if col in sub.columns:
            values = sub[col]
            sub[col] = values.astype(object).where(values.isna(), MASK)
    for col in sub.columns:
        if pd.api.types.is_datetime64_any_dtype(sub[col].dtype):
            sub[col] = _iso_strings(sub[col])
    if not sub.columns.is_unique:
        sub.columns = _dedupe(list(map(str, sub.columns)))
    text = sub.to_json(orient="records", lines=True, date_format="iso", force_ascii=False,
                       default_handler=str)
    lines = text.rstrip("\n").split("\n") if len(sub) else []
    if len(lines) != len(pos):
        raise SourceValidationError(f"row_data: {len(lines)} JSON lines for {len(pos)} rows")
    return lines


def _iso_strings(values: pd.Series) -> np.ndarray:
    """ISO-8601 text of a datetime column, vectorized (pandas' JSON writer boxes every
    tz-aware value): UTC with a `Z` for tz-aware columns, as-is for naive ones; NaT -> None."""
    aware = isinstance(values.dtype, pd.DatetimeTZDtype)
    if aware:
        values = values.dt.tz_convert("UTC").dt.tz_localize(None)
    arr = values.to_numpy(dtype="datetime64[us]")
    nat = np.isnat(arr)
    whole = (arr[~nat].astype(np.int64) % 1_000_000 == 0).all()
    text = np.datetime_as_string(arr, unit="s" if whole else "us").astype(object)
    if aware:
        text = text + "Z"
    text[nat] = None
    return text


def _dedupe(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for n in names:
        seen[n] = seen.get(n, 0) + 1
        out.append(n if seen[n] == 1 else f"{n}.{seen[n] - 1}")
    return out


def _empty_quarantine() -> pd.DataFrame:
    return pd.DataFrame({
        "source_table": pd.array([], dtype="string"),
        "source_key": pd.array([], dtype="string"),
        "claim_id": pd.array([], dtype="string"),
        "reasons": pd.array([], dtype="string"),
        "row_data": pd.array([], dtype="string"),
        "row": pd.Series([], dtype=object),
    })
