{#- daily_standard_attainment (METRICS.md "Service standards"): for each configured standard,
    one row per metric_date x grouping set of the closed cohort.
    Variables: dates (a relation with one DATE column `k`, or none for every date) and
    standards, the configured standards as data. Their ids, measures and applies_to columns
    are identifiers checked by the config; every value is written with the `literal` filter
    (a quoted SQL literal), never pasted in raw. -#}
with claims as (

    select * from {{ ref('fact_claim_service') }}

),

closed_cohort as (

    select *
    from claims
    where closed_date is not null
    {%- if dates %}
        and closed_date in (select k from {{ dates }})
    {%- endif %}

),

-- one row per closed claim and standard: is it eligible, and does it meet the standard
claim_standards as (
{% for standard in standards %}
    select
        closed_date as metric_date,
        product_line,
        channel,
        region,
        {{ standard.id | literal }} as standard_id,
        {{ standard.measure | literal }} as measure,
        {{ standard.max | literal }} as max_value,
        {{ standard.target_rate | literal }} as target_rate,
        coalesce({{ standard.measure }} is not null
        {%- for column, wanted in standard.applies_to.items() %}
            and {{ column }} in ({{ wanted | literals }})
        {%- endfor %}, false) as is_eligible,
        {{ standard.measure }} <= {{ standard.max | literal }} as is_met
    from closed_cohort
    {% if not loop.last %}union all{% endif %}
{%- else %}
    -- no standards configured: no rows
    select
        closed_date as metric_date, product_line, channel, region,
        cast(null as text) as standard_id, cast(null as text) as measure,
        cast(null as double precision) as max_value, cast(null as double precision) as target_rate,
        false as is_eligible, false as is_met
    from closed_cohort
    where false
{%- endfor %}

),

attainment as (

    select
        metric_date,
        standard_id,
        case when grouping(product_line) = 1 then 'ALL' else product_line end as product_line,
        case when grouping(channel) = 1 then 'ALL' else channel end as channel,
        case when grouping(region) = 1 then 'ALL' else region end as region,
        measure,
        max_value,
        target_rate,
        count(*) filter (where is_eligible) as eligible_claims,
        count(*) filter (where is_eligible and is_met) as met_claims
    from claim_standards
    group by grouping sets (
        (metric_date, standard_id, measure, max_value, target_rate),
        (metric_date, standard_id, measure, max_value, target_rate, product_line),
        (metric_date, standard_id, measure, max_value, target_rate, channel),
        (metric_date, standard_id, measure, max_value, target_rate, region),
        (metric_date, standard_id, measure, max_value, target_rate, product_line, channel, region)
    )

),

final as (

    select
        metric_date,
        standard_id,
        product_line,
        channel,
        region,
        measure,
        max_value,
        eligible_claims,
        met_claims,
        case when eligible_claims > 0
            then cast(met_claims as double precision) / eligible_claims end as attainment_rate,
        target_rate,
        case when eligible_claims > 0
            then cast(met_claims as double precision) / eligible_claims >= target_rate
        end as meets_target
    from attainment

)

select * from final
