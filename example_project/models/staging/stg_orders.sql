select
    id as order_id,
    customer_id,
    order_date,
    status,
    status in ({{ "'" ~ var('revenue_statuses') | join("', '") ~ "'" }}) as is_revenue
from {{ ref('raw_orders') }}
