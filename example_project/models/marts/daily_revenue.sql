{{ config(post_hook="create or replace view {{ this.incorporate(path={'identifier': 'latest_revenue_day'}) }} as select * from {{ this }} order by order_date desc limit 1") }}

select
    order_date,
    count(*) as orders,
    sum(order_amount) as revenue,
    {{ safe_divide('sum(order_amount)', 'count(*)') }} as average_order_value
from {{ ref('fct_orders') }}
where is_revenue
group by order_date
order by order_date
