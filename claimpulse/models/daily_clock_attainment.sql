-- daily_clock_attainment: per metric_date (the end_date of stopped clocks) x clock_id x the
-- five grouping sets of METRICS.md; a dimension not in the set holds 'ALL'.
-- Restated for the dates in {{ dates }} (one column k), from fact_claim_clock.
with stopped as (

    select
        end_date as metric_date,
        clock_id,
        product_line,
        channel,
        region,
        status,
        -- percentiles are over met and breached clocks only
        case when status in ('met', 'breached') then cast(elapsed_days as double precision) end
            as judged_elapsed_days
    from {{ ref('fact_claim_clock') }}
    where stopped_at is not null
      and end_date in (select k from {{ dates }})

),

grouped as (

    select
        metric_date,
        clock_id,
        case when grouping(product_line) = 1 then 'ALL' else product_line end as product_line,
        case when grouping(channel) = 1 then 'ALL' else channel end as channel,
        case when grouping(region) = 1 then 'ALL' else region end as region,
        count(*) filter (where status = 'met') as met_clocks,
        count(*) filter (where status = 'breached') as breached_clocks,
        count(*) filter (where status = 'indeterminate') as indeterminate_clocks,
        -- p50 and p90 from one sort per group: percentile_cont over an array of fractions
        percentile_cont(array[0.5, 0.9]) within group (order by judged_elapsed_days) as elapsed_days_p50_p90
    from stopped
    group by grouping sets (
        (metric_date, clock_id),
        (metric_date, clock_id, product_line),
        (metric_date, clock_id, channel),
        (metric_date, clock_id, region),
        (metric_date, clock_id, product_line, channel, region)
    )

)

select
    metric_date,
    clock_id,
    product_line,
    channel,
    region,
    met_clocks + breached_clocks as stopped_clocks,
    met_clocks,
    breached_clocks,
    indeterminate_clocks,
    cast(met_clocks as double precision) / nullif(met_clocks + breached_clocks, 0) as attainment_rate,
    elapsed_days_p50_p90[1] as elapsed_days_p50,
    elapsed_days_p50_p90[2] as elapsed_days_p90
from grouped
