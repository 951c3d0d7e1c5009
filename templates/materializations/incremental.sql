{#-
  incremental: the first build (or --full-refresh, or a view in the way) builds the whole table
  like `table`; later builds add the new rows in one transaction: `append`, or `delete+insert` /
  `merge` by `unique_key` (rows whose key is in the new batch are replaced).
  Context: this, sql, existing, tmp_relation, full_refresh.
-#}
{% materialization incremental, default %}
    {%- set unique_key = config.get('unique_key') -%}
    {%- set strategy = config.get('incremental_strategy') or ('delete+insert' if unique_key else 'append') -%}
    {% if existing is none or existing.type == 'view' or full_refresh %}
        {{ return(materialization_table_default()) }}
    {% endif %}
    {%- set new_rows = make_temp_relation(this, '__strata_new') -%}
    {% call statement('main') -%}
        begin transaction;
        drop table if exists {{ new_rows }};
        create temporary table {{ new_rows.identifier }} as (
{{ sql }}
        );
        {% if unique_key and strategy in ('delete+insert', 'merge') -%}
        {%- set keys = [unique_key] if unique_key is string else unique_key -%}
        delete from {{ this }} as target where exists (
            select 1 from {{ new_rows.identifier }} as src
            where {% for k in keys %}src.{{ adapter.quote(k) }} = target.{{ adapter.quote(k) }}{{ " and " if not loop.last }}{% endfor %}
        );
        {% endif -%}
        insert into {{ this }} by name select * from {{ new_rows.identifier }};
        drop table {{ new_rows.identifier }};
        commit;
    {%- endcall %}
{% endmaterialization %}
