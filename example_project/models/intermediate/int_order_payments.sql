{% set methods = ['credit_card', 'paypal', 'bank_transfer', 'gift_card'] %}
select
    order_id,
    {% for m in methods -%}
    sum(case when payment_method = '{{ m }}' then amount else 0 end) as {{ m }}_amount,
    {% endfor -%}
    sum(amount) as amount_paid,
    max(paid_at) as last_paid_at
from {{ ref('stg_payments') }}
group by order_id
