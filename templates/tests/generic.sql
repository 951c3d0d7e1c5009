{#-
  The built-in generic tests. Each returns the failing rows: a test passes when its query returns
  none. `test_x` dispatches to `duckdb__test_x` / `default__test_x`, so a project can override
  either the test (`{% test not_null %}`) or one implementation.
-#}
{% test not_null(model, column_name) %}
    {{- adapter.dispatch('test_not_null', 'dbt')(model, column_name) -}}
{% endtest %}

{% macro default__test_not_null(model, column_name) -%}
select {{ '*' if should_store_failures() else column_name }}
from {{ model }}
where {{ column_name }} is null
{%- endmacro %}

{% test unique(model, column_name) %}
    {{- adapter.dispatch('test_unique', 'dbt')(model, column_name) -}}
{% endtest %}

{#- One row per duplicated value. -#}
{% macro default__test_unique(model, column_name) -%}
select {{ column_name }} as unique_field, count(*) as n_records
from {{ model }}
where {{ column_name }} is not null
group by {{ column_name }}
having count(*) > 1
{%- endmacro %}

{% test accepted_values(model, column_name, values, quote=true) %}
    {{- adapter.dispatch('test_accepted_values', 'dbt')(model, column_name, values, quote) -}}
{% endtest %}

{#- One row per distinct value outside the list. -#}
{% macro default__test_accepted_values(model, column_name, values, quote=true) -%}
with all_values as (
    select {{ column_name }} as value_field, count(*) as n_records
    from {{ model }}
    group by {{ column_name }}
)
select *
from all_values
where value_field not in (
    {%- for value in values -%}
    {%- if quote %}'{{ value }}'{% else %}{{ value }}{% endif %}{{ ', ' if not loop.last }}
    {%- endfor -%}
)
{%- endmacro %}

{% test relationships(model, column_name, to, field) %}
    {{- adapter.dispatch('test_relationships', 'dbt')(model, column_name, to, field) -}}
{% endtest %}

{#- One row per child row whose (non-null) key has no parent. -#}
{% macro default__test_relationships(model, column_name, to, field) -%}
with child as (
    select {{ column_name }} as from_field
    from {{ model }}
    where {{ column_name }} is not null
),
parent as (
    select {{ field }} as to_field
    from {{ to }}
)
select from_field
from child
left join parent on child.from_field = parent.to_field
where parent.to_field is null
{%- endmacro %}

{#- The relation a generic test reads: the model, filtered by the test's `where` config. -#}
{% macro get_where_subquery(relation) -%}
    {%- set where = config.get('where') -%}
    {%- if where -%}
        {{ return("(select * from " ~ relation ~ " where " ~ where ~ ") dbt_subquery") }}
    {%- else -%}
        {{ return(relation) }}
    {%- endif -%}
{%- endmacro %}

{% macro should_store_failures() -%}
    {%- set v = config.get('store_failures') -%}
    {{ return(v is true or v == 'true' or config.get('store_failures_as') in ('table', 'view')) }}
{%- endmacro %}
