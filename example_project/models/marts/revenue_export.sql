{#- An external model: written to target/exports/revenue_export.parquet (the profile's
    external_root), and a view over the file, so ref() still works. The external materialization
    is dbt-duckdb's: on other engines the model is disabled. -#}
{{ config(materialized='external', enabled=target.type == 'duckdb') }}

select order_date, orders, revenue
from {{ ref('daily_revenue') }}
order by order_date
