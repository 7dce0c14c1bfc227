{#- daily_service_metrics (METRICS.md "Daily metrics"): one row per metric_date x grouping set
    with activity in any of the three cohorts of that local date.
    Variables: dates, a relation with one DATE column `k` (the dates to compute), or none for
    every date. Local dates are stored on the facts, so no time-zone arithmetic happens here. -#}
{%- set grouping_sets -%}
grouping sets (
            (metric_date),
            (metric_date, product_line),
            (metric_date, channel),
            (metric_date, region),
            (metric_date, product_line, channel, region)
        )
{%- endset -%}
{%- set dimensions -%}
case when grouping(product_line) = 1 then 'ALL' else product_line end as product_line,
        case when grouping(channel) = 1 then 'ALL' else channel end as channel,
        case when grouping(region) = 1 then 'ALL' else region end as region
{%- endset -%}

with claims as (

    select * from {{ ref('fact_claim_service') }}

),

responses as (

    select * from {{ ref('fact_survey_response') }}

),

complaints as (

    select * from {{ ref('fact_complaint') }}

),

closed_cohort as (

    select
        closed_date as metric_date,
        product_line,
        channel,
        region,
        outcome,
        report_to_accept_hours,
        report_to_decision_days,
        decision_to_payment_days,
        report_to_close_days,
        reopened_within_30d,
        cast(paid_amount as double precision) as paid_amount,
        cast(customer_cost_travel as double precision) as customer_cost_travel,
        cast(customer_cost_evidence as double precision) as customer_cost_evidence,
        cast(customer_cost_lost_work as double precision) as customer_cost_lost_work,
        cast(coalesce(customer_cost_total, 0) as double precision) as customer_cost_total,
        cast(coalesce(trips, 0) as double precision) as trips,
        cast(coalesce(lost_work_hours, 0) as double precision) as lost_work_hours
    from claims
    where closed_date is not null
    {%- if dates %}
        and closed_date in (select k from {{ dates }})
    {%- endif %}

),

-- a response or complaint takes its claim's dimensions, whenever that claim closed
response_cohort as (

    select
        responses.response_date as metric_date,
        claims.product_line,
        claims.channel,
        claims.region,
        responses.csat,
        responses.nps,
        responses.effort
    from responses
    inner join claims on responses.claim_id = claims.claim_id
    where responses.response_date is not null
    {%- if dates %}
        and responses.response_date in (select k from {{ dates }})
    {%- endif %}

),

complaint_cohort as (

    select
        complaints.received_date as metric_date,
        claims.product_line,
        claims.channel,
        claims.region,
        complaints.source
    from complaints
    inner join claims on complaints.claim_id = claims.claim_id
    where complaints.received_date is not null
    {%- if dates %}
        and complaints.received_date in (select k from {{ dates }})
    {%- endif %}

),

closed_metrics as (

    select
        metric_date,
        {{ dimensions }},
        count(*) as closed_claims,
        -- p50 and p90 from one sort per group: percentile_cont over an array of fractions
        percentile_cont(array[0.5, 0.9]) within group (order by report_to_accept_hours) as report_to_accept_hours_p50_p90,
        percentile_cont(array[0.5, 0.9]) within group (order by report_to_decision_days) as report_to_decision_days_p50_p90,
        percentile_cont(array[0.5, 0.9]) within group (order by decision_to_payment_days) as decision_to_payment_days_p50_p90,
        avg(report_to_close_days) as report_to_close_days_mean,
        percentile_cont(array[0.5, 0.9]) within group (order by report_to_close_days) as report_to_close_days_p50_p90,
        count(*) filter (where outcome in ('paid', 'partial', 'denied')) as decided_claims,
        count(*) filter (where outcome in ('paid', 'partial')) as paid_claims,
        count(*) filter (where outcome = 'denied') as denied_claims,
        count(*) filter (where reopened_within_30d) as reopened_claims,
        coalesce(sum(paid_amount), 0) as paid_amount_total,
        coalesce(sum(customer_cost_travel), 0) as customer_cost_travel,
        coalesce(sum(customer_cost_evidence), 0) as customer_cost_evidence,
        coalesce(sum(customer_cost_lost_work), 0) as customer_cost_lost_work,
        sum(customer_cost_total) as customer_cost_total,
        avg(customer_cost_total) as customer_cost_per_claim_mean,
        percentile_cont(0.5) within group (order by customer_cost_total) as customer_cost_per_claim_p50,
        avg(trips) as trips_per_claim_mean,
        avg(lost_work_hours) as lost_work_hours_mean
    from closed_cohort
    group by {{ grouping_sets }}

),

response_metrics as (

    select
        metric_date,
        {{ dimensions }},
        count(*) as survey_responses,
        avg(csat) as csat_mean,
        count(csat) as csat_answers,
        count(*) filter (where csat >= 4) as satisfied_answers,
        count(nps) as nps_answers,
        count(*) filter (where nps >= 9) as promoters,
        count(*) filter (where nps <= 6) as detractors,
        avg(effort) as effort_mean
    from response_cohort
    group by {{ grouping_sets }}

),

complaint_metrics as (

    select
        metric_date,
        {{ dimensions }},
        count(*) as complaints_received,
        count(*) filter (where source = 'regulator') as regulator_complaints
    from complaint_cohort
    group by {{ grouping_sets }}

),

-- a row wherever any cohort has activity
cohorts as (

    select *
    from closed_metrics
    full outer join response_metrics using (metric_date, product_line, channel, region)
    full outer join complaint_metrics using (metric_date, product_line, channel, region)

),

final as (

    select
        metric_date,
        product_line,
        channel,
        region,
        coalesce(closed_claims, 0) as closed_claims,
        report_to_accept_hours_p50_p90[1] as report_to_accept_hours_p50,
        report_to_accept_hours_p50_p90[2] as report_to_accept_hours_p90,
        report_to_decision_days_p50_p90[1] as report_to_decision_days_p50,
        report_to_decision_days_p50_p90[2] as report_to_decision_days_p90,
        decision_to_payment_days_p50_p90[1] as decision_to_payment_days_p50,
        decision_to_payment_days_p50_p90[2] as decision_to_payment_days_p90,
        report_to_close_days_mean,
        report_to_close_days_p50_p90[1] as report_to_close_days_p50,
        report_to_close_days_p50_p90[2] as report_to_close_days_p90,
        coalesce(decided_claims, 0) as decided_claims,
        case when decided_claims > 0
            then cast(paid_claims as double precision) / decided_claims end as paid_rate,
        case when decided_claims > 0
            then cast(denied_claims as double precision) / decided_claims end as denial_rate,
        case when closed_claims > 0
            then cast(reopened_claims as double precision) / closed_claims end as reopen_rate_30d,
        coalesce(paid_amount_total, 0) as paid_amount_total,
        coalesce(customer_cost_travel, 0) as customer_cost_travel,
        coalesce(customer_cost_evidence, 0) as customer_cost_evidence,
        coalesce(customer_cost_lost_work, 0) as customer_cost_lost_work,
        coalesce(customer_cost_total, 0) as customer_cost_total,
        customer_cost_per_claim_mean,
        customer_cost_per_claim_p50,
        trips_per_claim_mean,
        lost_work_hours_mean,
        case when paid_amount_total <> 0
            then customer_cost_total / paid_amount_total end as customer_cost_to_payout_ratio,
        coalesce(survey_responses, 0) as survey_responses,
        csat_mean,
        case when csat_answers > 0
            then cast(satisfied_answers as double precision) / csat_answers end as csat_satisfied_rate,
        case when nps_answers > 0
            then 100.0 * (promoters - detractors) / nps_answers end as nps,
        effort_mean,
        coalesce(complaints_received, 0) as complaints_received,
        coalesce(regulator_complaints, 0) as regulator_complaints
    from cohorts

)

select * from final
