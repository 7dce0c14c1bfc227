-- daily_quality_metrics (METRICS.md "Quality not traded for speed") for the restated dates.
-- Closed cohort only: a claim counts on its closed_date; open claims are in no row.
-- Grouping sets (customer_group, team), (customer_group, ALL), (ALL, team), (ALL, ALL);
-- a null team is UNASSIGNED before grouping, so it is a team of its own in every set.
-- Variables: dates (relation with column k: the metric dates to restate).

with cohort_claims as (

    select
        claim_id,
        closed_date as metric_date,
        customer_group,
        coalesce(team, 'UNASSIGNED') as team,
        report_to_close_days,
        reopened_within_30d,
        complaints,
        document_requests,
        ask_once_met,
        first_time_right,
        coalesce(customer_cost_total, 0) as customer_cost_total,
        touches,
        handoffs
    from {{ ref('fact_claim_service') }}
    where closed_date in (select k from {{ dates }})

),

ranked_responses as (

    -- each cohort claim's latest response: by responded_at, ties by response_id as text
    select
        claim_id,
        csat,
        row_number() over (
            partition by claim_id
            order by responded_at desc, response_id collate "C" desc
        ) as response_rank
    from {{ ref('fact_survey_response') }}
    where claim_id in (select claim_id from cohort_claims)

),

latest_csat as (

    select claim_id, csat from ranked_responses where response_rank = 1

),

cohort as (

    select cohort_claims.*, latest_csat.csat
    from cohort_claims
    left join latest_csat on latest_csat.claim_id = cohort_claims.claim_id

),

grouped as (

    select
        metric_date,
        case when grouping(customer_group) = 1 then 'ALL' else customer_group end as customer_group,
        case when grouping(team) = 1 then 'ALL' else team end as team,
        count(*) as closed_claims,
        -- p50 and p90 from one sort per group: percentile_cont over an array of fractions
        percentile_cont(array[0.5, 0.9]) within group (order by report_to_close_days) as report_to_close_days_p50_p90,
        count(*) filter (where reopened_within_30d) as reopened_claims,
        count(*) filter (where complaints > 0) as claims_with_complaint,
        coalesce(sum(complaints), 0) as complaints,
        count(*) filter (where document_requests >= 1) as claims_with_request,
        count(*) filter (where document_requests >= 2) as claims_re_requested,
        count(*) filter (where ask_once_met) as ask_once_claims,
        count(*) filter (where first_time_right) as first_time_right_claims,
        avg(cast(csat as double precision)) as csat_mean,
        avg(cast(customer_cost_total as double precision)) as customer_cost_per_claim_mean,
        avg(cast(touches as double precision)) as touches_mean,
        avg(cast(handoffs as double precision)) as handoffs_mean
    from cohort
    group by grouping sets (
        (metric_date, customer_group, team),
        (metric_date, customer_group),
        (metric_date, team),
        (metric_date)
    )

)

select
    metric_date,
    customer_group,
    team,
    closed_claims,
    report_to_close_days_p50_p90[1] as report_to_close_days_p50,
    report_to_close_days_p50_p90[2] as report_to_close_days_p90,
    cast(reopened_claims as double precision) / closed_claims as reopen_rate_30d,
    claims_with_complaint,
    complaints,
    cast(claims_with_complaint as double precision) / closed_claims as complaint_rate,
    claims_with_request,
    case when claims_with_request > 0
         then cast(claims_re_requested as double precision) / claims_with_request end as re_request_rate,
    cast(ask_once_claims as double precision) / closed_claims as ask_once_rate,
    cast(first_time_right_claims as double precision) / closed_claims as first_time_right_rate,
    csat_mean,
    customer_cost_per_claim_mean,
    touches_mean,
    handoffs_mean
from grouped
