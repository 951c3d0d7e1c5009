{#-
  incremental: the first build (or --full-refresh, the full_refresh config, or a view in the
  way) builds the whole table like `table`; later builds add the new rows in one transaction:
  - `append`: insert them;
  - `delete+insert`: delete the rows whose unique_key is in the new rows (and match every
    incremental_predicates entry), then insert;
  - `merge`: update the rows whose unique_key matches (merge_update_columns /
    merge_exclude_columns choose the columns), insert the others.
  on_schema_change compares the new rows' columns with the table's: ignore (insert the shared
  columns), fail, append_new_columns, sync_all_columns (add new, drop removed). A NULL in the
  unique_key is reported as a warning with its count.
  Predicates refer to the table as DBT_INTERNAL_DEST and the new rows as DBT_INTERNAL_SOURCE.
  microbatch models are built batch by batch by the runner (src/run/microbatch.rs), not here.
  Context: this, sql, existing, tmp_relation, full_refresh.
-#}
{% materialization incremental, default %}
    {%- set unique_key = config.get('unique_key') -%}
    {%- set keys = ([] if not unique_key else ([unique_key] if unique_key is string else unique_key)) -%}
    {%- set strategy = config.get('incremental_strategy') or ('delete+insert' if keys else 'append') -%}
    {%- set on_schema_change = config.get('on_schema_change') or 'ignore' -%}
    {%- set predicates = config.get('incremental_predicates') or [] -%}
    {%- set predicates = [predicates] if predicates is string else predicates -%}
    {% if existing is none or existing.type == 'view' or full_refresh %}
        {{ return(materialization_table_default()) }}
    {% endif %}
    {% if strategy not in ('append', 'delete+insert', 'merge') %}
        {{ exceptions.raise_compiler_error("incremental_strategy '" ~ strategy ~ "' is not supported; use append, delete+insert or merge") }}
    {% endif %}
    {% if strategy != 'append' and not keys %}
        {{ exceptions.raise_compiler_error("incremental_strategy '" ~ strategy ~ "' needs a unique_key") }}
    {% endif %}
    {% if on_schema_change not in ('ignore', 'fail', 'append_new_columns', 'sync_all_columns') %}
        {{ exceptions.raise_compiler_error("on_schema_change '" ~ on_schema_change ~ "' is not one of ignore, fail, append_new_columns, sync_all_columns") }}
    {% endif %}
    {%- set new_rows = make_temp_relation(this, '__strata_new') -%}
    {%- set new_ref = adapter.quote(new_rows.identifier) -%}
    {% call statement('new_rows') -%}
        begin transaction;
        create or replace temporary table {{ new_ref }} as (
{{ sql }}
        );
    {%- endcall %}
    {%- set src_cols = adapter.get_columns_in_relation(api.Relation.create(database='temp', schema='main', identifier=new_rows.identifier)) -%}
    {%- set dest_cols = adapter.get_columns_in_relation(this) -%}
    {%- set src_names = src_cols | map(attribute='name') | map('lower') | list -%}
    {%- set dest_names = dest_cols | map(attribute='name') | map('lower') | list -%}
    {%- set added = [] -%}
    {%- for c in src_cols if c.name | lower not in dest_names -%}{%- do added.append(c) -%}{%- endfor -%}
    {%- set removed = [] -%}
    {%- for c in dest_cols if c.name | lower not in src_names -%}{%- do removed.append(c) -%}{%- endfor -%}
    {% if keys %}
        {%- set null_check -%}
            select count(*) from {{ new_ref }} where {% for k in keys %}{{ adapter.quote(k) }} is null{{ " or " if not loop.last }}{% endfor %}
        {%- endset -%}
        {%- set nulls = run_query(null_check).rows[0][0] -%}
        {% if nulls > 0 %}
            {% do exceptions.warn(this.identifier ~ ": " ~ nulls ~ " new row(s) have a NULL in unique_key (" ~ keys | join(", ") ~ "); they are inserted and never match existing rows") %}
        {% endif %}
    {% endif %}
    {% if (added or removed) and on_schema_change == 'fail' %}
        {{ exceptions.raise_compiler_error(this.identifier ~ ": the new rows' columns and the table's are out of sync: new columns " ~ (added | map(attribute='name') | join(", ") or "none") ~ ", removed columns " ~ (removed | map(attribute='name') | join(", ") or "none") ~ " (on_schema_change: fail). Run with --full-refresh or change on_schema_change.") }}
    {% endif %}
    {%- set insert_cols = [] -%}
    {% for c in src_cols %}
        {% if c.name | lower in dest_names or on_schema_change in ('append_new_columns', 'sync_all_columns') %}
            {% do insert_cols.append(adapter.quote(c.name)) %}
        {% endif %}
    {% endfor %}
    {%- set update_cols = config.get('merge_update_columns') -%}
    {%- set exclude_cols = (config.get('merge_exclude_columns') or []) | map('lower') | list -%}
    {%- set match -%}
        {% for k in keys %}DBT_INTERNAL_SOURCE.{{ adapter.quote(k) }} = DBT_INTERNAL_DEST.{{ adapter.quote(k) }}{{ " and " if not loop.last }}{% endfor %}
    {%- endset -%}
    {% call statement('main') -%}
        {% if on_schema_change in ('append_new_columns', 'sync_all_columns') -%}
        {% for c in added -%}
        alter table {{ this }} add column {{ adapter.quote(c.name) }} {{ c.data_type }};
        {% endfor -%}
        {% endif -%}
        {% if on_schema_change == 'sync_all_columns' -%}
        {% for c in removed -%}
        alter table {{ this }} drop column {{ adapter.quote(c.name) }};
        {% endfor -%}
        {% endif -%}
        {% if strategy == 'delete+insert' -%}
        delete from {{ this }} as DBT_INTERNAL_DEST where exists (
            select 1 from {{ new_ref }} as DBT_INTERNAL_SOURCE where {{ match }}
        ){% for p in predicates %} and ({{ p }}){% endfor %};
        {% endif -%}
        {% if strategy == 'merge' -%}
        {%- set updates = [] -%}
        {% for c in src_cols %}
            {%- set n = c.name | lower -%}
            {% if n not in (keys | map('lower') | list) and n not in exclude_cols and (update_cols is none or n in (update_cols | map('lower') | list)) and (n in dest_names or on_schema_change in ('append_new_columns', 'sync_all_columns')) %}
                {% do updates.append(adapter.quote(c.name) ~ " = DBT_INTERNAL_SOURCE." ~ adapter.quote(c.name)) %}
            {% endif %}
        {% endfor %}
        merge into {{ this }} as DBT_INTERNAL_DEST
        using {{ new_ref }} as DBT_INTERNAL_SOURCE
        on {{ match }}{% for p in predicates %} and ({{ p }}){% endfor %}
        {% if updates %}when matched then update set {{ updates | join(", ") }}{% endif %}
        when not matched then insert ({{ insert_cols | join(", ") }}) values ({% for c in insert_cols %}DBT_INTERNAL_SOURCE.{{ c }}{{ ", " if not loop.last }}{% endfor %});
        {%- else -%}
        insert into {{ this }} ({{ insert_cols | join(", ") }}) select {{ insert_cols | join(", ") }} from {{ new_ref }};
        {%- endif %}
        drop table {{ new_ref }};
        commit;
    {%- endcall %}
{% endmaterialization %}
