{#- Helpers materializations and projects call. -#}
{% macro run_hooks(hooks) -%}
    {%- for hook in hooks -%}
        {% call statement('hook') %}{{ hook }}{% endcall %}
    {%- endfor -%}
{%- endmacro %}

{% macro make_temp_relation(base_relation, suffix='__strata_tmp') -%}
    {{ return(api.Relation.create(database=base_relation.database, schema=base_relation.schema, identifier=base_relation.identifier ~ suffix, type='table')) }}
{%- endmacro %}

{% macro create_table_as(temporary, relation, compiled_code, language='sql') -%}
    {{ return(adapter.dispatch('create_table_as')(temporary, relation, compiled_code)) }}
{%- endmacro %}

{#- A table whose contract is enforced is created with its declared columns and constraints,
    then filled with the declared columns of the model's rows (dbt-duckdb's shape). The columns
    were checked against the contract before the materialization ran. An audited table with
    foreign keys is staged without them (`defer_constraints`) and gets them when published. -#}
{% macro default__create_table_as(temporary, relation, sql) -%}
    {%- set contract_config = config.get('contract') or {} -%}
    {%- if contract_config.enforced and not temporary and not defer_constraints -%}
    create table {{ relation }} {{ get_table_columns_and_constraints() }};
    insert into {{ relation }} ({{ get_column_names() }}) (
        {{ get_select_subquery(sql) }}
    )
    {%- else -%}
    create {% if temporary %}temporary {% endif %}table {{ relation }} as (
{{ sql }}
    )
    {%- endif -%}
{%- endmacro %}

{% macro get_table_columns_and_constraints() -%}
    {{ adapter.dispatch('get_table_columns_and_constraints', 'dbt')() }}
{%- endmacro %}

{% macro default__get_table_columns_and_constraints() -%}
    {{ return(table_columns_and_constraints()) }}
{%- endmacro %}

{#- `(<column> <type> <constraints>, ..., <model constraints>)` from the model's YAML. -#}
{% macro table_columns_and_constraints() -%}
    {%- set raw_column_constraints = adapter.render_raw_columns_constraints(raw_columns=model['columns']) -%}
    {%- set raw_model_constraints = adapter.render_raw_model_constraints(raw_constraints=model['constraints']) -%}
    (
    {% for c in raw_column_constraints -%}
        {{ c }}{{ "," if not loop.last or raw_model_constraints }}
    {% endfor %}
    {%- for c in raw_model_constraints -%}
        {{ c }}{{ "," if not loop.last }}
    {% endfor -%}
    )
{%- endmacro %}

{% macro get_column_names() -%}
    {{ adapter.dispatch('get_column_names', 'dbt')() }}
{%- endmacro %}

{% macro default__get_column_names() -%}
    {%- for name, col in model['columns'].items() -%}
        {{ adapter.quote(col['name']) if col.get('quote') else col['name'] }}{{ ", " if not loop.last }}
    {%- endfor -%}
{%- endmacro %}

{% macro get_select_subquery(sql) -%}
    {{ adapter.dispatch('get_select_subquery', 'dbt')(sql) }}
{%- endmacro %}

{% macro default__get_select_subquery(sql) -%}
    select {{ get_column_names() }}
    from (
        {{ sql }}
    ) as model_subq
{%- endmacro %}

{% macro get_create_table_as_sql(temporary, relation, sql) -%}
    {{ return(create_table_as(temporary, relation, sql)) }}
{%- endmacro %}

{% macro create_view_as(relation, sql) -%}
    {{ return(adapter.dispatch('create_view_as')(relation, sql)) }}
{%- endmacro %}

{% macro default__create_view_as(relation, sql) -%}
    create or replace view {{ relation }} as (
{{ sql }}
    )
{%- endmacro %}

{% macro get_create_view_as_sql(relation, sql) -%}
    {{ return(create_view_as(relation, sql)) }}
{%- endmacro %}

{% macro drop_relation_if_exists(relation) -%}
    {%- if relation is not none -%}
        drop {{ 'view' if relation.type == 'view' else 'table' }} if exists {{ relation }}
    {%- endif -%}
{%- endmacro %}

{% macro create_schema(relation) -%}
    create schema if not exists {{ relation.without_identifier() if relation.without_identifier is defined else relation }}
{%- endmacro %}

{#- Replace whatever is at `target` with `tmp_relation` (inside the caller's transaction). -#}
{% macro swap_relation(existing, tmp_relation, target) -%}
    {% if existing is not none -%}
    drop {{ 'view' if existing.type == 'view' else 'table' }} if exists {{ target }};
    {% endif -%}
    alter table {{ tmp_relation }} rename to {{ adapter.quote(target.identifier) }};
{%- endmacro %}
