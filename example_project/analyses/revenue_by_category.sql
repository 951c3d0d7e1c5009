select category, sum(line_amount) as revenue
from {{ ref('int_order_lines') }}
group by category
order by revenue desc
