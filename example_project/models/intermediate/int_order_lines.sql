-- Ephemeral: inlined as a CTE wherever it is used.
select
    i.order_item_id,
    i.order_id,
    i.product_id,
    p.category,
    i.quantity,
    p.price,
    i.quantity * p.price as line_amount
from {{ ref('stg_order_items') }} as i
join {{ ref('stg_products') }} as p using (product_id)
