{#-
  Stands in for the web analytics loader: makes sure web.sessions exists with deterministic
  sample sessions, so the `web` source has data on a fresh database. Each engine writes the same
  rows (plain arithmetic on the row number, no engine-specific hash) in its own SQL:
  adapter.dispatch picks duckdb__ or spark__ by the target's type.
-#}
{% macro load_web_sessions(n) -%}
{{ return(adapter.dispatch('load_web_sessions')(n)) }}
{%- endmacro %}

{% macro duckdb__load_web_sessions(n) -%}
create schema if not exists {{ target.database }}.web;
create table if not exists {{ target.database }}.web.sessions as
select
    i as session_id,
    case when i % 5 = 0 then null else 1 + (i * 7919) % 400 end as customer_id,
    timestamp '2024-01-20 00:00:00' + to_seconds((i * 104729) % (340 * 86400)) as started_at,
    ['organic', 'paid_search', 'email', 'social', 'direct'][1 + cast((i * 31) % 5 as int)] as channel,
    1 + cast((i * 37) % 12 as int) as pageviews
from range(1, {{ n }} + 1) as t(i)
{%- endmacro %}

{#- One statement per hook on Spark (dbt-spark runs a hook as one statement): the schema is made
    by run_query first. -#}
{% macro spark__load_web_sessions(n) -%}
{% do run_query("create schema if not exists web") %}
create table if not exists web.sessions using parquet as
select
    id as session_id,
    case when id % 5 = 0 then null else 1 + (id * 7919) % 400 end as customer_id,
    timestampadd(SECOND, (id * 104729) % (340 * 86400), timestamp '2024-01-20 00:00:00') as started_at,
    element_at(array('organic', 'paid_search', 'email', 'social', 'direct'), 1 + cast((id * 31) % 5 as int)) as channel,
    1 + cast((id * 37) % 12 as int) as pageviews
from range(1, {{ n }} + 1)
{%- endmacro %}
