-- Singular test: a payment of zero or less is a data error upstream.
select payment_id, amount
from {{ ref('stg_payments') }}
where amount <= 0
