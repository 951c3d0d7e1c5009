{#- The DuckDB engine's own implementations of dispatched macros (`duckdb__<name>`), tried before
    the shared `default__<name>` ones in templates/macros/. The SQL is what dbt-duckdb generates. -#}

{% macro duckdb__any_value(expression) -%}
    arbitrary({{ expression }})
{%- endmacro %}
