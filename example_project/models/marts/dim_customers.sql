with orders as (
    select
        customer_id,
        min(order_date) as first_order_date,
        max(order_date) as last_order_date,
        count(*) as order_count,
        sum(case when is_revenue then order_amount else 0 end) as lifetime_value
    from {{ ref('fct_orders') }}
    group by customer_id
),

sessions as (
    select customer_id, count(*) as session_count
    from {{ ref('stg_web_sessions') }}
    where customer_id is not null
    group by customer_id
)

select
    c.customer_id,
    c.full_name,
    c.email,
    c.country,
    c.signup_date,
    o.first_order_date,
    o.last_order_date,
    coalesce(o.order_count, 0) as order_count,
    coalesce(o.lifetime_value, 0) as lifetime_value,
    coalesce(s.session_count, 0) as session_count,
    {{ safe_divide('coalesce(o.order_count, 0)', 'coalesce(s.session_count, 0)') }} as orders_per_session
from {{ ref('stg_customers') }} as c
left join orders as o using (customer_id)
left join sessions as s using (customer_id)
