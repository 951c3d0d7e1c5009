select
    session_id,
    customer_id,
    started_at,
    cast(started_at as date) as session_date,
    channel,
    pageviews
from {{ source('web', 'sessions') }}
