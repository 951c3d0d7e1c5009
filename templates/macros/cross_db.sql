{#- dbt's cross-database macros. Each dispatches in the `dbt` namespace, so an engine
    (templates/<engine>/), a project or a package listed in `dispatch:` can replace one by
    defining `<engine>__<name>` or `default__<name>`. The SQL is what dbt-duckdb generates. -#}

{% macro any_value(expression) -%}
    {{ return(adapter.dispatch('any_value', 'dbt')(expression)) }}
{%- endmacro %}
{% macro default__any_value(expression) -%}
    any_value({{ expression }})
{%- endmacro %}

{% macro bool_or(expression) -%}
    {{ return(adapter.dispatch('bool_or', 'dbt')(expression)) }}
{%- endmacro %}
{% macro default__bool_or(expression) -%}
    bool_or({{ expression }})
{%- endmacro %}

{% macro cast(field, type) -%}
    {{ return(adapter.dispatch('cast', 'dbt')(field, type)) }}
{%- endmacro %}
{% macro default__cast(field, type) -%}
    cast({{ field }} as {{ type }})
{%- endmacro %}

{% macro safe_cast(field, type) -%}
    {{ return(adapter.dispatch('safe_cast', 'dbt')(field, type)) }}
{%- endmacro %}
{% macro default__safe_cast(field, type) -%}
    cast({{ field }} as {{ type }})
{%- endmacro %}

{% macro cast_bool_to_text(field) -%}
    {{ return(adapter.dispatch('cast_bool_to_text', 'dbt')(field)) }}
{%- endmacro %}
{% macro default__cast_bool_to_text(field) -%}
    cast({{ field }} as {{ type_string() }})
{%- endmacro %}

{% macro concat(fields) -%}
    {{ return(adapter.dispatch('concat', 'dbt')(fields)) }}
{%- endmacro %}
{% macro default__concat(fields) -%}
    {{ fields | join(' || ') }}
{%- endmacro %}

{% macro current_timestamp() -%}
    {{ return(adapter.dispatch('current_timestamp', 'dbt')()) }}
{%- endmacro %}
{% macro default__current_timestamp() -%}
    now()
{%- endmacro %}
{% macro current_timestamp_backcompat() -%}
    {{ return(current_timestamp()) }}
{%- endmacro %}

{% macro date(year, month, day) -%}
    {{ return(adapter.dispatch('date', 'dbt')(year, month, day)) }}
{%- endmacro %}
{% macro default__date(year, month, day) -%}
    make_date({{ year }}, {{ month }}, {{ day }})
{%- endmacro %}

{% macro date_trunc(datepart, date) -%}
    {{ return(adapter.dispatch('date_trunc', 'dbt')(datepart, date)) }}
{%- endmacro %}
{% macro default__date_trunc(datepart, date) -%}
    date_trunc('{{ datepart }}', {{ date }})
{%- endmacro %}

{% macro dateadd(datepart, interval, from_date_or_timestamp) -%}
    {{ return(adapter.dispatch('dateadd', 'dbt')(datepart, interval, from_date_or_timestamp)) }}
{%- endmacro %}
{% macro default__dateadd(datepart, interval, from_date_or_timestamp) -%}
    ({{ from_date_or_timestamp }} + cast({{ interval }} as bigint) * interval 1 {{ datepart }})
{%- endmacro %}

{% macro datediff(first_date, second_date, datepart) -%}
    {{ return(adapter.dispatch('datediff', 'dbt')(first_date, second_date, datepart)) }}
{%- endmacro %}
{% macro default__datediff(first_date, second_date, datepart) -%}
    (date_diff('{{ datepart }}', {{ first_date }}::timestamp, {{ second_date }}::timestamp ))
{%- endmacro %}

{% macro escape_single_quotes(expression) -%}
    {{ return(adapter.dispatch('escape_single_quotes', 'dbt')(expression)) }}
{%- endmacro %}
{% macro default__escape_single_quotes(expression) -%}
    {{ expression | replace("'", "''") }}
{%- endmacro %}

{% macro except() -%}
    {{ return(adapter.dispatch('except', 'dbt')()) }}
{%- endmacro %}
{% macro default__except() -%}
    except
{%- endmacro %}

{% macro intersect() -%}
    {{ return(adapter.dispatch('intersect', 'dbt')()) }}
{%- endmacro %}
{% macro default__intersect() -%}
    intersect
{%- endmacro %}

{% macro hash(field) -%}
    {{ return(adapter.dispatch('hash', 'dbt')(field)) }}
{%- endmacro %}
{% macro default__hash(field) -%}
    md5(cast({{ field }} as {{ type_string() }}))
{%- endmacro %}

{% macro last_day(date, datepart) -%}
    {{ return(adapter.dispatch('last_day', 'dbt')(date, datepart)) }}
{%- endmacro %}
{% macro default__last_day(date, datepart) -%}
    cast({{ dateadd('day', '-1', dateadd(datepart, '1', date_trunc(datepart, date))) }} as date)
{%- endmacro %}

{% macro length(expression) -%}
    {{ return(adapter.dispatch('length', 'dbt')(expression)) }}
{%- endmacro %}
{% macro default__length(expression) -%}
    length({{ expression }})
{%- endmacro %}

{% macro listagg(measure, delimiter_text="','", order_by_clause=none, limit_num=none) -%}
    {{ return(adapter.dispatch('listagg', 'dbt')(measure, delimiter_text, order_by_clause, limit_num)) }}
{%- endmacro %}
{% macro default__listagg(measure, delimiter_text, order_by_clause, limit_num) -%}
    {%- if limit_num -%}
    list_aggr((array_agg({{ measure }} {{ order_by_clause or '' }}))[1:{{ limit_num }}], 'string_agg', {{ delimiter_text }})
    {%- else -%}
    string_agg({{ measure }}, {{ delimiter_text }} {{ order_by_clause or '' }})
    {%- endif -%}
{%- endmacro %}

{% macro position(substring_text, string_text) -%}
    {{ return(adapter.dispatch('position', 'dbt')(substring_text, string_text)) }}
{%- endmacro %}
{% macro default__position(substring_text, string_text) -%}
    position({{ substring_text }} in {{ string_text }})
{%- endmacro %}

{% macro replace(field, old_chars, new_chars) -%}
    {{ return(adapter.dispatch('replace', 'dbt')(field, old_chars, new_chars)) }}
{%- endmacro %}
{% macro default__replace(field, old_chars, new_chars) -%}
    replace({{ field }}, {{ old_chars }}, {{ new_chars }})
{%- endmacro %}

{% macro right(string_text, length_expression) -%}
    {{ return(adapter.dispatch('right', 'dbt')(string_text, length_expression)) }}
{%- endmacro %}
{% macro default__right(string_text, length_expression) -%}
    right({{ string_text }}, {{ length_expression }})
{%- endmacro %}

{% macro split_part(string_text, delimiter_text, part_number) -%}
    {{ return(adapter.dispatch('split_part', 'dbt')(string_text, delimiter_text, part_number)) }}
{%- endmacro %}
{% macro default__split_part(string_text, delimiter_text, part_number) -%}
    string_split({{ string_text }}, {{ delimiter_text }})[ {{ part_number }} ]
{%- endmacro %}

{% macro string_literal(value) -%}
    {{ return(adapter.dispatch('string_literal', 'dbt')(value)) }}
{%- endmacro %}
{% macro default__string_literal(value) -%}
    '{{ value }}'
{%- endmacro %}

{#- Types, as dbt-duckdb names them. -#}
{% macro type_bigint() -%}{{ return(adapter.dispatch('type_bigint', 'dbt')()) }}{%- endmacro %}
{% macro default__type_bigint() -%}bigint{%- endmacro %}
{% macro type_boolean() -%}{{ return(adapter.dispatch('type_boolean', 'dbt')()) }}{%- endmacro %}
{% macro default__type_boolean() -%}boolean{%- endmacro %}
{% macro type_float() -%}{{ return(adapter.dispatch('type_float', 'dbt')()) }}{%- endmacro %}
{% macro default__type_float() -%}float{%- endmacro %}
{% macro type_int() -%}{{ return(adapter.dispatch('type_int', 'dbt')()) }}{%- endmacro %}
{% macro default__type_int() -%}integer{%- endmacro %}
{% macro type_numeric() -%}{{ return(adapter.dispatch('type_numeric', 'dbt')()) }}{%- endmacro %}
{% macro default__type_numeric() -%}numeric(28,6){%- endmacro %}
{% macro type_string() -%}{{ return(adapter.dispatch('type_string', 'dbt')()) }}{%- endmacro %}
{% macro default__type_string() -%}TEXT{%- endmacro %}
{% macro type_timestamp() -%}{{ return(adapter.dispatch('type_timestamp', 'dbt')()) }}{%- endmacro %}
{% macro default__type_timestamp() -%}timestamp{%- endmacro %}

{#- Arrays. -#}
{% macro array_construct(inputs=[], data_type=api.Column.translate_type('integer')) -%}
    {{ return(adapter.dispatch('array_construct', 'dbt')(inputs, data_type)) }}
{%- endmacro %}
{% macro default__array_construct(inputs, data_type) -%}
    {%- if inputs | length > 0 -%}
    array[ {{ inputs | join(' , ') }} ]
    {%- else -%}
    array[]::{{ data_type }}[]
    {%- endif -%}
{%- endmacro %}

{% macro array_append(array, new_element) -%}
    {{ return(adapter.dispatch('array_append', 'dbt')(array, new_element)) }}
{%- endmacro %}
{% macro default__array_append(array, new_element) -%}
    array_append({{ array }}, {{ new_element }})
{%- endmacro %}

{% macro array_concat(array_1, array_2) -%}
    {{ return(adapter.dispatch('array_concat', 'dbt')(array_1, array_2)) }}
{%- endmacro %}
{% macro default__array_concat(array_1, array_2) -%}
    array_cat({{ array_1 }}, {{ array_2 }})
{%- endmacro %}

{#- Series and date spines. -#}
{% macro get_powers_of_two(upper_bound) -%}
    {{ return(adapter.dispatch('get_powers_of_two', 'dbt')(upper_bound)) }}
{%- endmacro %}
{% macro default__get_powers_of_two(upper_bound) -%}
    {%- if upper_bound <= 0 -%}
    {{ exceptions.raise_compiler_error("upper bound must be positive") }}
    {%- endif -%}
    {%- for _ in range(1, 100) -%}
        {%- if upper_bound <= 2 ** loop.index -%}{{ return(loop.index) }}{%- endif -%}
    {%- endfor -%}
{%- endmacro %}

{% macro generate_series(upper_bound) -%}
    {{ return(adapter.dispatch('generate_series', 'dbt')(upper_bound)) }}
{%- endmacro %}
{% macro default__generate_series(upper_bound) -%}
    select
        generate_series as generated_number
    from generate_series(1, {{ upper_bound }})
{%- endmacro %}

{% macro get_intervals_between(start_date, end_date, datepart) -%}
    {{ return(adapter.dispatch('get_intervals_between', 'dbt')(start_date, end_date, datepart)) }}
{%- endmacro %}
{% macro default__get_intervals_between(start_date, end_date, datepart) -%}
    {%- call statement('get_intervals_between', fetch_result=True) %}
        select {{ datediff(start_date, end_date, datepart) }}
    {%- endcall -%}
    {%- set value_list = load_result('get_intervals_between') -%}
    {%- if value_list and value_list['data'] -%}
        {{ return(value_list['data'][0][0] | int) }}
    {%- else -%}
        {{ return(1) }}
    {%- endif -%}
{%- endmacro %}

{% macro date_spine(datepart, start_date, end_date) -%}
    {{ return(adapter.dispatch('date_spine', 'dbt')(datepart, start_date, end_date)) }}
{%- endmacro %}
{% macro default__date_spine(datepart, start_date, end_date) -%}
    with rawdata as (
        {{ generate_series(get_intervals_between(start_date, end_date, datepart)) }}
    ),
    all_periods as (
        select (
            {{ dateadd(datepart, "row_number() over (order by 1) - 1", start_date) }}
        ) as date_{{ datepart }}
        from rawdata
    ),
    filtered as (
        select *
        from all_periods
        where date_{{ datepart }} <= {{ end_date }}
    )
    select * from filtered
{%- endmacro %}

{#- Relations and columns. -#}
{% macro load_relation(relation) -%}
    {{ return(adapter.get_relation(database=relation.database, schema=relation.schema, identifier=relation.identifier)) }}
{%- endmacro %}
{% macro load_cached_relation(relation) -%}
    {{ return(load_relation(relation)) }}
{%- endmacro %}

{% macro get_columns_in_relation(relation) -%}
    {{ return(adapter.get_columns_in_relation(relation)) }}
{%- endmacro %}

{% macro get_columns_in_query(select_sql) -%}
    {{ return(adapter.dispatch('get_columns_in_query', 'dbt')(select_sql)) }}
{%- endmacro %}
{% macro default__get_columns_in_query(select_sql) -%}
    {%- call statement('get_columns_in_query', fetch_result=True, auto_begin=False) -%}
        select * from (
            {{ select_sql }}
        ) as __dbt_sbq
        where false
        limit 0
    {%- endcall -%}
    {{ return(load_result('get_columns_in_query').table.column_names) }}
{%- endmacro %}
