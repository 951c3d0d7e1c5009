{{ config(materialized='table', tags=['finance']) }}

with lines as (
    select
        order_id,
        count(*) as line_count,
        sum(quantity) as item_count,
        sum(line_amount) as order_amount
    from {{ ref('int_order_lines') }}
    group by order_id
)

select
    o.order_id,
    o.customer_id,
    o.order_date,
    o.status,
    o.is_revenue,
    coalesce(l.line_count, 0) as line_count,
    coalesce(l.item_count, 0) as item_count,
    coalesce(l.order_amount, 0) as order_amount,
    coalesce(p.amount_paid, 0) as amount_paid,
    coalesce(p.gift_card_amount, 0) as gift_card_amount,
    p.last_paid_at
from {{ ref('stg_orders') }} as o
left join lines as l using (order_id)
left join {{ ref('int_order_payments') }} as p using (order_id)
