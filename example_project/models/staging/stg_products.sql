select
    id as product_id,
    sku,
    name as product_name,
    category,
    {{ cents_to_dollars('price_cents') }} as price
from {{ ref('raw_products') }}
