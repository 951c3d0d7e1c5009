select
    p.product_id,
    p.sku,
    p.product_name,
    p.category,
    p.price,
    coalesce(sum(l.quantity), 0) as units_sold,
    coalesce(sum(l.line_amount), 0) as gross_sales
from {{ ref('stg_products') }} as p
left join {{ ref('int_order_lines') }} as l using (product_id)
group by all
