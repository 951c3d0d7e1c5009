{#-
  Stands in for the web analytics loader: makes sure web.sessions exists with deterministic
  sample sessions, so the `web` source has data on a fresh database.
-#}
{% macro load_web_sessions(n) -%}
create schema if not exists {{ target.database }}.web;
create table if not exists {{ target.database }}.web.sessions as
select
    i as session_id,
    case when i % 5 = 0 then null else 1 + (hash(i) % 400) end as customer_id,
    timestamp '2024-01-20 00:00:00' + to_seconds(cast(hash(i * 7) % (340 * 86400) as bigint)) as started_at,
    ['organic', 'paid_search', 'email', 'social', 'direct'][1 + cast(hash(i * 13) % 5 as int)] as channel,
    1 + cast(hash(i * 17) % 12 as int) as pageviews
from range(1, {{ n }} + 1) as t(i)
{%- endmacro %}
