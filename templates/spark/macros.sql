{#- The Spark engine's materializations and its implementations of dispatched macros
    (`spark__<name>`), tried before the shared `default__<name>` ones in templates/macros/. The
    SQL is what dbt-spark generates on open-source Spark without a table format that has MERGE:
    relations are `schema.identifier`, tables are written `using <file_format>` (parquet by
    default). Spark has no transactions: a table is built under a temporary name and renamed over
    the old one once it is complete, so a failed build keeps the old table. -#}

{#- `using parquet partitioned by (...) clustered by (...) into N buckets location '...'`, from
    the model's file_format, partition_by, clustered_by/buckets and location_root. -#}
{% macro spark_table_options(relation) -%}
    {%- set file_format = config.get('file_format') or 'parquet' -%}
    {%- set partition_by = config.get('partition_by') -%}
    {%- set partition_by = [partition_by] if partition_by is string else partition_by -%}
    {%- set clustered_by = config.get('clustered_by') -%}
    {%- set clustered_by = [clustered_by] if clustered_by is string else clustered_by -%}
    {%- set location_root = config.get('location_root') -%}
    using {{ file_format }}
    {%- if partition_by %} partitioned by ({{ partition_by | join(', ') }}){% endif -%}
    {%- if clustered_by %} clustered by ({{ clustered_by | join(', ') }}) into {{ config.get('buckets') or 1 }} buckets{% endif -%}
    {%- if location_root %} location '{{ location_root }}/{{ relation.identifier }}'{% endif -%}
{%- endmacro %}

{% macro spark__create_table_as(temporary, relation, sql) -%}
    {%- if temporary -%}
    create or replace temporary view {{ relation.identifier }} as
{{ sql }}
    {%- else -%}
    create table {{ relation }}
    {{ spark_table_options(relation) }}
    as
{{ sql }}
    {%- endif -%}
{%- endmacro %}

{% macro spark__create_view_as(relation, sql) -%}
    create or replace view {{ relation }} as
{{ sql }}
{%- endmacro %}

{#- Replace whatever is at `target` with `tmp_relation`. -#}
{% macro spark__swap_relation(existing, tmp_relation, target) -%}
    {% if existing is not none -%}
    drop {{ 'view' if existing.type == 'view' else 'table' }} if exists {{ target }};
    {% endif -%}
    alter table {{ tmp_relation }} rename to {{ target }}
{%- endmacro %}

{#- table: built under a temporary name, then renamed over the old relation. With location_root
    the table's files are at <location_root>/<identifier>: the new rows are built in a managed
    temporary table first (a failed query keeps the old table) and copied to that location once
    the old table is gone. -#}
{% materialization table, adapter='spark' %}
    {%- set tmp = make_temp_relation(this) -%}
    {% call statement('main') -%}
        drop table if exists {{ tmp }};
        {% if config.get('location_root') -%}
        create table {{ tmp }} using parquet as
{{ sql }};
        {% if existing is not none -%}
        drop {{ 'view' if existing.type == 'view' else 'table' }} if exists {{ this }};
        {% endif -%}
        {#- The old table's files are still at the location: replace them. -#}
        set spark.sql.legacy.allowNonEmptyLocationInCTAS = true;
        create table {{ this }} {{ spark_table_options(this) }} as select * from {{ tmp }};
        drop table {{ tmp }}
        {%- else -%}
        {{ spark__create_table_as(false, tmp, sql) }};
        {{ spark__swap_relation(existing, tmp, this) }}
        {%- endif %}
    {%- endcall %}
{% endmaterialization %}

{#- view: `create or replace view`; a table in the way (the model used to be a table) is dropped
    first. -#}
{% materialization view, adapter='spark' %}
    {% call statement('main') -%}
        {% if existing is not none and existing.type != 'view' -%}
        drop table if exists {{ this }};
        {% endif -%}
        {{ spark__create_view_as(this, sql) }}
    {%- endcall %}
{% endmaterialization %}

{#- incremental: the first build (or --full-refresh, or a view in the way) is the table
    materialization; later builds put the new rows in a staging table, then
    - `append`: insert them;
    - `insert_overwrite`: replace the partitions they fall in (partition_by, dynamic partition
      overwrite), or the whole table without partition_by.
    `merge`, `delete+insert` and `microbatch` are refused when the project is parsed (they need a
    table format with MERGE). on_schema_change: ignore, fail, append_new_columns (sync_all_columns
    adds the new columns too, and fails when a column was removed: parquet tables cannot drop
    one). -#}
{% materialization incremental, adapter='spark' %}
    {%- set strategy = config.get('incremental_strategy') or 'append' -%}
    {%- set on_schema_change = config.get('on_schema_change') or 'ignore' -%}
    {% if existing is none or existing.type == 'view' or full_refresh %}
        {{ return(materialization_table_spark()) }}
    {% endif %}
    {% if strategy not in ('append', 'insert_overwrite') %}
        {{ exceptions.raise_compiler_error("incremental_strategy '" ~ strategy ~ "' is not supported on Spark without a table format with MERGE; use append or insert_overwrite") }}
    {% endif %}
    {%- set new_rows = make_temp_relation(this, '__strata_new') -%}
    {% call statement('new_rows') -%}
        drop table if exists {{ new_rows }};
        create table {{ new_rows }} using parquet as
{{ sql }}
    {%- endcall %}
    {%- set src_cols = adapter.get_columns_in_relation(new_rows) -%}
    {%- set dest_cols = adapter.get_columns_in_relation(this) -%}
    {%- set src_names = src_cols | map(attribute='name') | map('lower') | list -%}
    {%- set dest_names = dest_cols | map(attribute='name') | map('lower') | list -%}
    {%- set added = [] -%}
    {%- for c in src_cols if c.name | lower not in dest_names -%}{%- do added.append(c) -%}{%- endfor -%}
    {%- set removed = [] -%}
    {%- for c in dest_cols if c.name | lower not in src_names -%}{%- do removed.append(c) -%}{%- endfor -%}
    {% if (added or removed) and (on_schema_change == 'fail' or (removed and on_schema_change == 'sync_all_columns')) %}
        {% do run_query("drop table if exists " ~ new_rows) %}
        {{ exceptions.raise_compiler_error(this.identifier ~ ": the new rows' columns and the table's are out of sync: new columns " ~ (added | map(attribute='name') | join(", ") or "none") ~ ", removed columns " ~ (removed | map(attribute='name') | join(", ") or "none") ~ " (on_schema_change: " ~ on_schema_change ~ "). Run with --full-refresh or change on_schema_change.") }}
    {% endif %}
    {%- set grow = on_schema_change in ('append_new_columns', 'sync_all_columns') -%}
    {% if grow and added %}
        {% call statement('add_columns') -%}
        alter table {{ this }} add columns ({% for c in added %}{{ adapter.quote(c.name) }} {{ c.data_type }}{{ ", " if not loop.last }}{% endfor %})
        {%- endcall %}
        {%- set dest_cols = adapter.get_columns_in_relation(this) -%}
    {% endif %}
    {#- Spark inserts by position: the table's columns in its order (partition columns last),
        NULL for one the new rows lack. -#}
    {%- set select_cols = [] -%}
    {% for c in dest_cols %}
        {% do select_cols.append(adapter.quote(c.name) if c.name | lower in src_names else 'null') %}
    {% endfor %}
    {%- set partition_by = config.get('partition_by') -%}
    {%- set partition_by = [partition_by] if partition_by is string else partition_by -%}
    {% call statement('main') -%}
        {% if strategy == 'insert_overwrite' -%}
        set spark.sql.sources.partitionOverwriteMode = {{ 'DYNAMIC' if partition_by else 'STATIC' }};
        insert overwrite table {{ this }}
        {%- if partition_by %} partition ({{ partition_by | join(', ') }}){% endif %}
        select {{ select_cols | join(', ') }} from {{ new_rows }};
        {%- else -%}
        insert into table {{ this }} select {{ select_cols | join(', ') }} from {{ new_rows }};
        {%- endif %}
        drop table {{ new_rows }}
    {%- endcall %}
{% endmaterialization %}

{#- seed: a typed table from the CSV's rows, inserted as literals in batches (`row_batches`, each
    at most the seed's batch_size rows) into a table under a temporary name, renamed over the
    old one at the end. -#}
{% materialization seed, adapter='spark' %}
    {% call statement('main') -%}
        drop table if exists {{ tmp_relation }};
        create table {{ tmp_relation }} (
        {%- for col in columns %}
            {{ col.quoted_name }} {{ col.type }}{{ "," if not loop.last }}
        {%- endfor %}
        ) using {{ config.get('file_format') or 'parquet' }};
        {% for batch in row_batches -%}
        insert into {{ tmp_relation }}
        select
        {%- for col in columns %}
            {{ col.expr }}{{ "," if not loop.last }}
        {%- endfor %}
        from values
        {{ batch }}
        as t({% for col in columns %}{{ adapter.quote('column' ~ loop.index0) }}{{ ", " if not loop.last }}{% endfor %});
        {% endfor -%}
        {{ spark__swap_relation(existing, tmp_relation, this) }}
    {%- endcall %}
{% endmaterialization %}

{#- Snapshots need MERGE (a Delta, Iceberg or Hudi table); refused when the project is parsed. -#}
{% materialization snapshot, adapter='spark' %}
    {{ exceptions.raise_compiler_error("snapshots are not supported on Spark by strata: they need a table format with MERGE") }}
{% endmaterialization %}

{#- dbt's cross-database macros as dbt-spark writes them. -#}
{% macro spark__any_value(expression) -%}
    first({{ expression }})
{%- endmacro %}

{% macro spark__bool_or(expression) -%}
    max({{ expression }})
{%- endmacro %}

{% macro spark__safe_cast(field, type) -%}
    try_cast({{ field }} as {{ type }})
{%- endmacro %}

{% macro spark__concat(fields) -%}
    concat({{ fields | join(', ') }})
{%- endmacro %}

{% macro spark__current_timestamp() -%}
    current_timestamp()
{%- endmacro %}

{% macro spark__dateadd(datepart, interval, from_date_or_timestamp) -%}
    timestampadd({{ datepart }}, {{ interval }}, {{ from_date_or_timestamp }})
{%- endmacro %}

{% macro spark__datediff(first_date, second_date, datepart) -%}
    timestampdiff({{ datepart }}, {{ first_date }}, {{ second_date }})
{%- endmacro %}

{% macro spark__escape_single_quotes(expression) -%}
    {{ expression | replace("'", "\\'") }}
{%- endmacro %}

{% macro spark__listagg(measure, delimiter_text, order_by_clause, limit_num) -%}
    {%- if order_by_clause -%}
    {{ exceptions.raise_compiler_error("listagg with order_by_clause is not supported on Spark (dbt-spark neither)") }}
    {%- endif -%}
    {%- if limit_num -%}
    array_join(slice(collect_list({{ measure }}), 1, {{ limit_num }}), {{ delimiter_text }})
    {%- else -%}
    array_join(collect_list({{ measure }}), {{ delimiter_text }})
    {%- endif -%}
{%- endmacro %}

{% macro spark__split_part(string_text, delimiter_text, part_number) -%}
    split_part({{ string_text }}, {{ delimiter_text }}, {{ part_number }})
{%- endmacro %}

{% macro spark__string_literal(value) -%}
    '{{ value | replace("\\", "\\\\") | replace("'", "\\'") }}'
{%- endmacro %}

{% macro spark__type_string() -%}string{%- endmacro %}
{% macro spark__type_int() -%}int{%- endmacro %}
{% macro spark__type_numeric() -%}decimal(28,6){%- endmacro %}

{% macro spark__array_construct(inputs, data_type) -%}
    {%- if inputs | length > 0 -%}
    array( {{ inputs | join(' , ') }} )
    {%- else -%}
    cast(array() as array<{{ data_type }}>)
    {%- endif -%}
{%- endmacro %}

{% macro spark__array_concat(array_1, array_2) -%}
    concat({{ array_1 }}, {{ array_2 }})
{%- endmacro %}
