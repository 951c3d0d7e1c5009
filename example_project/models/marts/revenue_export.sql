{#- An external model: written to target/exports/revenue_export.parquet (the profile's
    external_root), and a view over the file, so ref() still works. -#}
{{ config(materialized='external') }}

select order_date, orders, revenue
from {{ ref('daily_revenue') }}
order by order_date
