"""The warehouse data dictionary: one place for every output table and column.

It builds the SQLAlchemy tables (with comments, which PostgreSQL and DuckDB keep as
COMMENT ON), renders docs/data-dictionary.md, and tells loaders the column order.
Column names are a public interface (WAREHOUSE.md): change them only with a migration.
"""
from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

# Logical types -> SQL types BI tools understand.
SQL_TYPES = {
    "text": sa.Text,
    "money": lambda: sa.Numeric(20, 6),     # amounts: exact decimals, never float
    "double": sa.Double,                     # rates, means, percentiles, lags
    "int": sa.BigInteger,
    "bool": sa.Boolean,
    "date": sa.Date,
    "timestamptz": lambda: sa.DateTime(timezone=True),
}


@dataclass(frozen=True)
class Col:
    name: str
    type: str
    doc: str
    nullable: bool = True
    bi: bool = True  # readable by the BI reader role (False: column-level grant leaves it out)


@dataclass(frozen=True)
class TableDoc:
    name: str
    grain: str
    doc: str
    columns: tuple[Col, ...]
    key: tuple[str, ...]
    bi: bool = True  # readable by the BI reader role (`claimpulse grant-reader`)


def _c(name, type_, doc, nullable=True, bi=True):
    return Col(name, type_, doc, nullable, bi)


_DIMS = (
    _c("product_line", "text", "Product line of the claim, or ALL when rolled up", False),
    _c("channel", "text", "Channel the claim came in through, or ALL when rolled up", False),
    _c("region", "text", "Region (branch or province code) of the claim, or ALL when rolled up", False),
)

QUALITY_FACT_COLUMNS = (
    _c("customer_group", "text", "normal_payout (paid, partial), non_disclosure or fraud (denied for "
                                 "that reason), other_denial (denied, not_covered or other), withdrawn, "
                                 "undecided (no outcome yet)"),
    _c("document_requests", "int", "Number of documents_requested events, whoever made them"),
    _c("ask_once_met", "bool", "document_requests <= 1: missing documents asked for at most once "
                               "(PRC Insurance Law Art. 22)"),
    _c("touches", "int", "Events by a person (actor_role not system)"),
    _c("handoffs", "int", "Times a person's event has another role than the previous person's event "
                          "(time order, ties by event_id)"),
    _c("first_time_right", "bool", "Closed, not open, not reopened within 30 days, asked for documents "
                                   "at most once, no complaint"),
)

FACT_CLAIM_SERVICE = TableDoc(
    "fact_claim_service", "one row per claim (accumulating snapshot)",
    "Every accepted claim with its milestones, lags, customer cost, survey and complaint measures.",
    (
        _c("claim_id", "text", "Claim id in the claims system", False),
        _c("customer_key", "text", "Keyed hash (HMAC-SHA256) of customer_id; never the id itself"),
        _c("product_line", "text", "Product line"),
        _c("channel", "text", "Channel the claim was reported through"),
        _c("region", "text", "Branch or province code"),
        _c("team", "text", "Claims team handling it (may be null)"),
        _c("complexity", "text", "simple or complex"),
        _c("outcome", "text", "paid, partial, denied, withdrawn; null while undecided"),
        _c("denial_reason", "text", "Reason for a denial; null unless denied"),
        _c("claimed_amount", "money", "Amount claimed, in the configured currency"),
        _c("paid_amount", "money", "Amount paid; null until paid"),
        _c("reported_at", "timestamptz", "When the claim was reported (报案)"),
        _c("accepted_at", "timestamptz", "First accepted event (受理)"),
        _c("documents_complete_at", "timestamptz", "First documents_complete event"),
        _c("decided_at", "timestamptz", "First decided event (核定)"),
        _c("paid_at", "timestamptz", "First paid event"),
        _c("closed_at", "timestamptz", "First closed event (结案)"),
        _c("last_closed_at", "timestamptz", "Latest closed event"),
        _c("reopened_count", "int", "Number of reopened events"),
        _c("is_open", "bool", "No closed event, or reopened after the latest close"),
        _c("closed_date", "date", "Local date (business timezone) of closed_at"),
        _c("report_to_accept_hours", "double", "accepted_at - reported_at, hours"),
        _c("report_to_decision_days", "double", "decided_at - reported_at, days (核定时效)"),
        _c("decision_to_payment_days", "double", "paid_at - decided_at, days (支付时效)"),
        _c("report_to_close_days", "double", "closed_at - reported_at, days (结案周期)"),
        _c("reopened_within_30d", "bool", "A reopened event within 30 days after closed_at"),
        _c("customer_cost_travel", "money", "Valued travel cost to the customer"),
        _c("customer_cost_evidence", "money", "Evidence and document fees paid by the customer"),
        _c("customer_cost_lost_work", "money", "Valued working time the customer lost"),
        _c("customer_cost_total", "money", "Sum of the three customer costs"),
        _c("trips", "double", "Round trips the customer made (sum of travel quantity)"),
        _c("lost_work_hours", "double", "Working hours the customer lost"),
        _c("survey_csat", "int", "CSAT 1-5 of the latest survey response"),
        _c("survey_nps", "int", "Likelihood to recommend 0-10 of the latest response"),
        _c("survey_effort", "int", "Ease 1-7 of the latest response (7 = very easy)"),
        _c("complaints", "int", "Number of complaints about the claim"),
        _c("source_updated_at", "timestamptz", "Latest updated_at over the claim's source rows"),
        _c("loaded_at", "timestamptz", "When this row was written"),
        _c("run_id", "text", "Pipeline run that wrote this row"),
        # Quality not traded for speed (migration 0004). Last, so a fresh warehouse has the
        # same column order as one upgraded in place (ALTER TABLE ADD COLUMN appends).
        *QUALITY_FACT_COLUMNS,
    ),
    ("claim_id",),
)

FACT_SURVEY_RESPONSE = TableDoc(
    "fact_survey_response", "one row per accepted survey response",
    "Satisfaction responses without their free-text comment; the response cohort of daily metrics.",
    (
        _c("response_id", "text", "Survey response id", False),
        _c("claim_id", "text", "Claim the response is about", False),
        _c("responded_at", "timestamptz", "When the customer responded"),
        _c("response_date", "date", "Local date of responded_at"),
        _c("csat", "int", "Satisfaction 1-5"),
        _c("nps", "int", "Likelihood to recommend 0-10"),
        _c("effort", "int", "Ease 1-7 (7 = very easy)"),
        _c("source_updated_at", "timestamptz", "updated_at of the source row"),
        _c("loaded_at", "timestamptz", "When this row was written"),
        _c("run_id", "text", "Pipeline run that wrote this row"),
    ),
    ("response_id",),
)

FACT_COMPLAINT = TableDoc(
    "fact_complaint", "one row per accepted complaint",
    "Complaints about claims; the complaint cohort of daily metrics.",
    (
        _c("complaint_id", "text", "Complaint id", False),
        _c("claim_id", "text", "Claim complained about", False),
        _c("received_at", "timestamptz", "When the complaint was received"),
        _c("received_date", "date", "Local date of received_at"),
        _c("source", "text", "customer or regulator"),
        _c("category", "text", "Complaint category as recorded"),
        _c("resolved_at", "timestamptz", "When it was resolved; null while open"),
        _c("source_updated_at", "timestamptz", "updated_at of the source row"),
        _c("loaded_at", "timestamptz", "When this row was written"),
        _c("run_id", "text", "Pipeline run that wrote this row"),
    ),
    ("complaint_id",),
)

DAILY_METRIC_COLUMNS = (
    _c("closed_claims", "int", "Claims whose closed_date is metric_date (closed cohort)"),
    _c("report_to_accept_hours_p50", "double", "Median report-to-acceptance hours, closed cohort"),
    _c("report_to_accept_hours_p90", "double", "90th percentile report-to-acceptance hours"),
    _c("report_to_decision_days_p50", "double", "Median report-to-decision days"),
    _c("report_to_decision_days_p90", "double", "90th percentile report-to-decision days"),
    _c("decision_to_payment_days_p50", "double", "Median decision-to-payment days"),
    _c("decision_to_payment_days_p90", "double", "90th percentile decision-to-payment days"),
    _c("report_to_close_days_mean", "double", "Mean report-to-close days"),
    _c("report_to_close_days_p50", "double", "Median report-to-close days"),
    _c("report_to_close_days_p90", "double", "90th percentile report-to-close days"),
    _c("decided_claims", "int", "Closed claims with outcome paid, partial or denied"),
    _c("paid_rate", "double", "paid or partial / decided_claims (获赔率); null when none decided"),
    _c("denial_rate", "double", "denied / decided_claims; null when none decided"),
    _c("reopen_rate_30d", "double", "Share of closed claims reopened within 30 days"),
    _c("paid_amount_total", "money", "Sum of paid_amount over the closed cohort"),
    _c("customer_cost_travel", "money", "Sum of travel cost over the closed cohort"),
    _c("customer_cost_evidence", "money", "Sum of evidence fees over the closed cohort"),
    _c("customer_cost_lost_work", "money", "Sum of lost-work cost over the closed cohort"),
    _c("customer_cost_total", "money", "Sum of all customer cost over the closed cohort"),
    _c("customer_cost_per_claim_mean", "double", "Mean customer cost per closed claim (0 for none)"),
    _c("customer_cost_per_claim_p50", "double", "Median customer cost per closed claim"),
    _c("trips_per_claim_mean", "double", "Mean round trips per closed claim"),
    _c("lost_work_hours_mean", "double", "Mean lost working hours per closed claim"),
    _c("customer_cost_to_payout_ratio", "double", "customer_cost_total / paid_amount_total; null when nothing paid"),
    _c("survey_responses", "int", "Survey responses on metric_date (response cohort)"),
    _c("csat_mean", "double", "Mean CSAT of the responses"),
    _c("csat_satisfied_rate", "double", "Share of CSAT answers >= 4"),
    _c("nps", "double", "Net promoter score: 100 x (promoters - detractors) / NPS answers"),
    _c("effort_mean", "double", "Mean effort score (7 = very easy)"),
    _c("complaints_received", "int", "Complaints received on metric_date (complaint cohort)"),
    _c("regulator_complaints", "int", "Of which from the regulator"),
)

DAILY_SERVICE_METRICS = TableDoc(
    "daily_service_metrics", "metric_date x grouping set",
    "Service-quality metrics per local date for five grouping sets (ALL marks rolled-up dimensions).",
    (_c("metric_date", "date", "Local date (business timezone)", False), *_DIMS, *DAILY_METRIC_COLUMNS,
     _c("loaded_at", "timestamptz", "When this row was written"),
     _c("run_id", "text", "Pipeline run that wrote this row")),
    ("metric_date", "product_line", "channel", "region"),
)

DAILY_STANDARD_ATTAINMENT = TableDoc(
    "daily_standard_attainment", "metric_date x standard x grouping set",
    "Attainment of each configured service standard over the closed cohort.",
    (
        _c("metric_date", "date", "Local date (business timezone)", False),
        _c("standard_id", "text", "Configured standard id", False),
        *_DIMS,
        _c("measure", "text", "Claim-level measure the standard limits"),
        _c("max_value", "double", "Limit, in the measure's unit"),
        _c("eligible_claims", "int", "Closed claims the standard applies to with the measure present"),
        _c("met_claims", "int", "Eligible claims with measure <= max_value"),
        _c("attainment_rate", "double", "met / eligible; null when none eligible"),
        _c("target_rate", "double", "Configured target attainment"),
        _c("meets_target", "bool", "attainment_rate >= target_rate; null when no rate"),
        _c("loaded_at", "timestamptz", "When this row was written"),
        _c("run_id", "text", "Pipeline run that wrote this row"),
    ),
    ("metric_date", "standard_id", "product_line", "channel", "region"),
)

FACT_CLAIM_EVENT = TableDoc(
    "fact_claim_event", "one row per accepted claim event",
    "The accepted events of every claim (no personal data): what service clocks are counted "
    "from, so a run can re-evaluate the clocks of claims that did not change.",
    (
        _c("event_id", "text", "Event id in the claims system", False),
        _c("claim_id", "text", "Claim the event belongs to", False),
        _c("event_type", "text", "accepted, documents_requested, ..., and the optional clock events "
                                 "acknowledged, settlement_agreed, denial_notice_sent, advance_paid"),
        _c("occurred_at", "timestamptz", "When the event happened"),
        _c("actor_role", "text", "intake, handler, investigator, approver or system"),
        _c("loaded_at", "timestamptz", "When this row was written"),
        _c("run_id", "text", "Pipeline run that wrote this row"),
    ),
    ("event_id",),
)

_CLOCK_DIMS = (
    _c("product_line", "text", "Product line of the claim (of the complained claim for a complaint clock)"),
    _c("channel", "text", "Channel of the claim"),
    _c("region", "text", "Region of the claim: which pack applies"),
    _c("team", "text", "Claims team of the claim (may be null)"),
)

FACT_CLAIM_CLOCK = TableDoc(
    "fact_claim_clock", "one row per started service clock (clock x claim or complaint)",
    "Every service clock (statutory pack or configured) that applies and has started, counted as "
    "docs/metrics.md says: local dates in the clock's timezone, the start day not counted, pauses, "
    "business days, roll-forward. Clocks that have not stopped are re-evaluated by every run.",
    (
        _c("clock_id", "text", "Clock id (pack or configured clock)", False),
        _c("subject", "text", "claim or complaint", False),
        _c("subject_id", "text", "claim_id or complaint_id the clock measures", False),
        _c("claim_id", "text", "The claim (for a complaint clock: the claim complained about)", False),
        *_CLOCK_DIMS,
        _c("started_at", "timestamptz", "The start event or field"),
        _c("stopped_at", "timestamptz", "The stop event or field; null while the clock runs"),
        _c("start_date", "date", "Local date of started_at in the clock's timezone (not counted)"),
        _c("end_date", "date", "Local date of the stop, or the as-of date while not stopped"),
        _c("due_date", "date", "Date the counted days reach limit_n (rolled forward where the clock "
                               "says); null while a pause is open or when the calendar lacks the year"),
        _c("limit_n", "int", "The limit, in unit"),
        _c("unit", "text", "calendar or business (days)"),
        _c("calendar", "text", "Calendar whose working days count: CN, US-TX, US-CA, UK-ENG"),
        _c("timezone", "text", "Timezone whose local dates count"),
        _c("paused_days", "int", "Calendar days excluded by pauses between start_date and end_date"),
        _c("elapsed_days", "int", "Counted days after start_date up to end_date"),
        _c("days_to_due", "int", "due_date - end_date in calendar days (negative = late)"),
        _c("status", "text", "met, breached, overdue, paused, running or indeterminate"),
        _c("as_of_date", "date", "The run's as-of date the clock was judged on"),
        _c("loaded_at", "timestamptz", "When this row was written"),
        _c("run_id", "text", "Pipeline run that wrote this row"),
    ),
    ("clock_id", "subject_id"),
)

DAILY_CLOCK_ATTAINMENT = TableDoc(
    "daily_clock_attainment", "metric_date x clock x grouping set",
    "Attainment of each service clock over the clocks that stopped on metric_date (their end_date), "
    "for the five grouping sets (ALL marks rolled-up dimensions).",
    (
        _c("metric_date", "date", "end_date of the stopped clocks (the clock's local date)", False),
        _c("clock_id", "text", "Clock id", False),
        *_DIMS,
        _c("stopped_clocks", "int", "Stopped clocks judged met or breached"),
        _c("met_clocks", "int", "Clocks stopped on or before their due date"),
        _c("breached_clocks", "int", "Clocks stopped after their due date"),
        _c("indeterminate_clocks", "int", "Stopped clocks whose status needs a calendar year nobody covers"),
        _c("attainment_rate", "double", "met / (met + breached); null when none"),
        _c("elapsed_days_p50", "double", "Median elapsed_days of met and breached clocks"),
        _c("elapsed_days_p90", "double", "90th percentile elapsed_days of met and breached clocks"),
        _c("loaded_at", "timestamptz", "When this row was written"),
        _c("run_id", "text", "Pipeline run that wrote this row"),
    ),
    ("metric_date", "clock_id", "product_line", "channel", "region"),
)

CLOCK_WATCHLIST = TableDoc(
    "clock_watchlist", "one row per clock not stopped, as of the latest run",
    "Snapshot replaced by every run: every clock now running, paused, overdue or indeterminate, "
    "with its due date, so a team lead sees today what is about to breach.",
    (
        _c("clock_id", "text", "Clock id", False),
        _c("subject", "text", "claim or complaint", False),
        _c("subject_id", "text", "claim_id or complaint_id", False),
        _c("claim_id", "text", "The claim (complained about, for a complaint clock)", False),
        *_CLOCK_DIMS,
        _c("start_date", "date", "Local date the clock started"),
        _c("due_date", "date", "Due date; null while paused or indeterminate"),
        _c("days_to_due", "int", "due_date - as_of_date in days (negative = overdue)"),
        _c("elapsed_days", "int", "Counted days so far"),
        _c("paused_days", "int", "Days paused so far"),
        _c("limit_n", "int", "The limit, in unit"),
        _c("unit", "text", "calendar or business (days)"),
        _c("status", "text", "running, paused, overdue or indeterminate"),
        _c("as_of_date", "date", "The as-of date of the snapshot"),
        _c("loaded_at", "timestamptz", "When this row was written"),
        _c("run_id", "text", "Pipeline run that wrote this row"),
    ),
    ("clock_id", "subject_id"),
)

DAILY_QUALITY_METRICS = TableDoc(
    "daily_quality_metrics", "metric_date x customer_group x team (grouping sets)",
    "Quality of the claims closed on metric_date next to their speed, per customer group and team; "
    "ALL marks a rolled-up dimension, UNASSIGNED a claim without a team.",
    (
        _c("metric_date", "date", "Local date (business timezone) the claims closed on", False),
        _c("customer_group", "text", "Customer group of fact_claim_service, or ALL when rolled up", False),
        _c("team", "text", "Claims team, UNASSIGNED for none, or ALL when rolled up", False),
        _c("closed_claims", "int", "Claims whose closed_date is metric_date"),
        _c("report_to_close_days_p50", "double", "Median report-to-close days"),
        _c("report_to_close_days_p90", "double", "90th percentile report-to-close days"),
        _c("reopen_rate_30d", "double", "Share of closed claims reopened within 30 days"),
        _c("claims_with_complaint", "int", "Closed claims with at least one complaint"),
        _c("complaints", "int", "All complaints of these claims, whenever received"),
        _c("complaint_rate", "double", "claims_with_complaint / closed_claims"),
        _c("claims_with_request", "int", "Closed claims with at least one documents request"),
        _c("re_request_rate", "double", "Claims with 2 or more requests / claims_with_request; "
                                        "null when none had a request"),
        _c("ask_once_rate", "double", "Closed claims with ask_once_met / closed_claims (a claim "
                                      "with no request meets it)"),
        _c("first_time_right_rate", "double", "Closed claims first_time_right / closed_claims"),
        _c("csat_mean", "double", "Mean CSAT of each claim's latest response (by responded_at, ties "
                                  "by response_id); claims whose latest CSAT is null left out"),
        _c("customer_cost_per_claim_mean", "double", "Mean customer cost per closed claim (0 for none)"),
        _c("touches_mean", "double", "Mean touches (events by a person) per closed claim"),
        _c("handoffs_mean", "double", "Mean handoffs between roles per closed claim"),
        _c("loaded_at", "timestamptz", "When this row was written"),
        _c("run_id", "text", "Pipeline run that wrote this row"),
    ),
    ("metric_date", "customer_group", "team"),
)

SPEED_QUALITY_ALERTS = TableDoc(
    "speed_quality_alerts", "one row per raised alert (window_end x dimension x value x measure)",
    "The speed-quality guard: a team or product line whose report-to-close p50 fell by 10% or more "
    "while a quality rate rose by 2 points or more, last 28 days against the 28 before, judged "
    "only on claims with 30 days of follow-up. History: rows are never rewritten.",
    (
        _c("window_end", "date", "Last date of the after window: latest closed_date minus 30 days", False),
        _c("dimension", "text", "team or product_line", False),
        _c("value", "text", "The team (UNASSIGNED for none) or product line", False),
        _c("cycle_p50_before", "double", "Median report-to-close days, before window "
                                         "(window_end-55 .. window_end-28)"),
        _c("cycle_p50_after", "double", "Median report-to-close days, after window "
                                        "(window_end-27 .. window_end)"),
        _c("measure", "text", "reopen_rate_30d, complaint_rate or re_request_rate", False),
        _c("rate_before", "double", "The measure over the before window"),
        _c("rate_after", "double", "The measure over the after window"),
        _c("claims_before", "int", "Closed claims in the before window"),
        _c("claims_after", "int", "Closed claims in the after window"),
        _c("raised_at", "timestamptz", "When the run that raised it ran"),
    ),
    ("window_end", "dimension", "value", "measure"),
)

DIM_DATE = TableDoc(
    "dim_date", "one row per local date",
    "Calendar of every local date (business timezone) in the data's span, from the earliest to "
    "the latest metric_date, reported_at or closed_date; rebuilt by every run.",
    (
        _c("date", "date", "Local date (business timezone); joins metric_date, closed_date, "
                           "response_date, received_date", False),
        _c("weekday", "int", "ISO weekday: 1 = Monday ... 7 = Sunday", False),
        _c("weekday_name", "text", "Monday ... Sunday", False),
        _c("iso_year", "int", "ISO-8601 week-numbering year", False),
        _c("iso_week", "int", "ISO-8601 week 1-53", False),
        _c("month", "int", "Month 1-12", False),
        _c("month_name", "text", "January ... December", False),
        _c("quarter", "int", "Quarter 1-4", False),
        _c("year", "int", "Calendar year", False),
        _c("is_weekend", "bool", "Saturday or Sunday", False),
    ),
    ("date",),
)

DQ_VALIDATION_RESULTS = TableDoc(
    "dq_validation_results", "one row per run x table x expectation",
    "Outcome of every Great Expectations expectation and pipeline rule, per run.",
    (
        _c("run_id", "text", "Pipeline run", False),
        _c("source_table", "text", "Source table validated", False),
        _c("partition", "text", "Local date or range validated"),
        _c("expectation", "text", "Expectation type and column", False),
        _c("success", "bool", "Whether every evaluated row passed"),
        _c("evaluated_rows", "int", "Rows evaluated"),
        _c("unexpected_rows", "int", "Rows that failed"),
        _c("validated_at", "timestamptz", "When the validation ran"),
    ),
    ("run_id", "source_table", "expectation"),
)

DQ_QUARANTINE = TableDoc(
    "dq_quarantine", "one row per quarantined source row",
    "Source rows held out of the metrics, with every reason, until a later version passes.",
    (
        _c("run_id", "text", "Run that quarantined the row", False),
        _c("source_table", "text", "Source table", False),
        _c("source_key", "text", "The row's id (null when the id itself is missing)"),
        _c("claim_id", "text", "The row's claim id, as read"),
        _c("reasons", "text", "Every rule broken, as stable codes joined by ';'"),
        _c("row_data", "text", "The row as JSON, personal fields masked (not readable by the BI reader)",
           bi=False),
        _c("quarantined_at", "timestamptz", "When it was quarantined"),
        _c("released_at", "timestamptz", "When a later version of the row passed (or was superseded)"),
    ),
    ("run_id", "source_table", "source_key"),
)

PIPELINE_RUNS = TableDoc(
    "pipeline_runs", "one row per run",
    "Every run: window, status, watermarks and row accounting per source table.",
    (
        _c("run_id", "text", "Prefect flow run id (or a generated id)", False),
        _c("flow", "text", "nightly, backfill or run"),
        _c("started_at", "timestamptz", "Start"),
        _c("finished_at", "timestamptz", "End"),
        _c("status", "text", "succeeded or failed"),
        _c("error", "text", "One-line reason when failed"),
        _c("partitions", "text", "Local dates recomputed (JSON list)"),
        _c("watermark_before", "text", "Per-table watermarks before the run (JSON)"),
        _c("watermark_after", "text", "Per-table watermarks after the run (JSON)"),
        *[
            _c(f"{t}_{k}", "int", f"{t}: rows {k}")
            for t in ("claims", "claim_events", "surveys", "complaints", "customer_costs")
            for k in ("read", "accepted", "quarantined", "written")
        ],
        _c("metric_rows_written", "int", "daily_service_metrics rows written"),
        _c("attainment_rows_written", "int", "daily_standard_attainment rows written"),
        _c("as_of_date", "date", "Local date service clocks were judged on (--as-of, else the run's start date)"),
        _c("calendar_versions", "text", "Versions of the calendar packages the clocks used (JSON)"),
        _c("clock_rows_written", "int", "fact_claim_clock rows written (new or changed clocks)"),
    ),
    ("run_id",),
)

PIPELINE_STATE = TableDoc(
    "pipeline_state", "one row per source table",
    "Watermarks: the highest source updated_at whose changes are committed here.",
    (
        _c("source_table", "text", "Source table", False),
        _c("watermark", "timestamptz", "Highest committed updated_at"),
        _c("run_id", "text", "Run that advanced it"),
        _c("updated_at", "timestamptz", "When it was advanced"),
    ),
    ("source_table",),
    bi=False,
)

BACKFILL_PARTITIONS = TableDoc(
    "backfill_partitions", "one row per committed partition of an unfinished backfill",
    "Progress of a backfill still running or interrupted: rerunning the same range skips these dates.",
    (
        _c("backfill_key", "text", "The backfill's range, start..end", False),
        _c("partition_date", "date", "Local date whose partition committed", False),
        _c("run_id", "text", "Run that committed it"),
        _c("committed_at", "timestamptz", "When it committed"),
    ),
    ("backfill_key", "partition_date"),
    bi=False,
)

WAREHOUSE_IDENTITY = TableDoc(
    "warehouse_identity", "one row per warehouse schema",
    "The fingerprint of the pseudonym key this warehouse was built with (never the key): a run "
    "or backfill with another key is refused before it writes, so one customer keeps one "
    "customer_key.",
    (
        _c("key_fingerprint", "text", "HMAC-SHA256 of a fixed label keyed by the pseudonym key, hex", False),
        _c("fingerprint_label", "text", "The fixed label the fingerprint is computed over", False),
        _c("recorded_at", "timestamptz", "When the fingerprint was recorded"),
        _c("run_id", "text", "Run that recorded it (the first run with a key)"),
    ),
    ("key_fingerprint",),
    bi=False,
)

TABLES: dict[str, TableDoc] = {
    t.name: t for t in (
        FACT_CLAIM_SERVICE, FACT_SURVEY_RESPONSE, FACT_COMPLAINT, DAILY_SERVICE_METRICS,
        DAILY_STANDARD_ATTAINMENT, DAILY_QUALITY_METRICS, SPEED_QUALITY_ALERTS, DIM_DATE,
        DQ_VALIDATION_RESULTS, DQ_QUARANTINE, PIPELINE_RUNS, PIPELINE_STATE, BACKFILL_PARTITIONS,
        WAREHOUSE_IDENTITY, FACT_CLAIM_EVENT, FACT_CLAIM_CLOCK, DAILY_CLOCK_ATTAINMENT,
        CLOCK_WATCHLIST,
    )
}


def columns(table: str) -> list[str]:
    return [c.name for c in TABLES[table].columns]


def metadata(schema: str) -> sa.MetaData:
    """SQLAlchemy tables of the warehouse in `schema`, with table and column comments."""
    md = sa.MetaData(schema=schema)
    for t in TABLES.values():
        cols = [
            sa.Column(c.name, SQL_TYPES[c.type](), nullable=c.nullable, comment=c.doc)
            for c in t.columns
        ]
        sa.Table(t.name, md, *cols, comment=f"{t.doc} Grain: {t.grain}.")
    return md


def render_markdown() -> str:
    lines = ["# Data dictionary", "",
             "Generated from `claimpulse/dictionary.py` (`claimpulse data-dictionary`). "
             "Every table lives in the configured schema (default `claimpulse`).", ""]
    for t in TABLES.values():
        lines += [f"## {t.name}", "", f"{t.doc}", "", f"Grain: {t.grain}. Key: "
                  f"{', '.join(t.key)}.", "", "| column | type | meaning |", "|---|---|---|"]
        lines += [f"| {c.name} | {c.type} | {c.doc} |" for c in t.columns]
        lines.append("")
    return "\n".join(lines)
