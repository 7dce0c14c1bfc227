-- clock_watchlist: every clock that has not stopped and is running, paused, overdue or
-- indeterminate, as of the run's as-of date; replaced whole by every run.
with open_clocks as (

    select *
    from {{ ref('fact_claim_clock') }}
    where stopped_at is null
      and status in ('running', 'paused', 'overdue', 'indeterminate')

)

select
    clock_id,
    subject,
    subject_id,
    claim_id,
    product_line,
    channel,
    region,
    team,
    start_date,
    due_date,
    days_to_due,
    elapsed_days,
    paused_days,
    limit_n,
    unit,
    status,
    as_of_date
from open_clocks
