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

{% macro default__create_table_as(temporary, relation, sql) -%}
    create {% if temporary %}temporary {% endif %}table {{ relation }} as (
{{ sql }}
    )
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
