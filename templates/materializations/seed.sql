{#-
  seed: load the CSV as text into a temporary table, casting each column to its inferred (or
  configured) type, then swap it in inside one transaction, replacing the previous contents.
  Context: this, existing, tmp_relation, csv_path, delimiter, columns (list of
  {name, quoted_name, type, expr}), parallel (false when a quoted field holds a line break:
  DuckDB's parallel reader cannot then pad short rows with NULLs).
-#}
{% materialization seed, default %}
    {% call statement('main') -%}
        begin transaction;
        drop table if exists {{ tmp_relation }};
        create table {{ tmp_relation }} as
        select
        {%- for col in columns %}
            {{ col.expr }} as {{ col.quoted_name }}{{ "," if not loop.last }}
        {%- endfor %}
        from read_csv({{ csv_path }}, header = true, delim = {{ delimiter }}, quote = '"', escape = '"',
                      auto_detect = false, null_padding = true{{ ", parallel = false" if not parallel }},
                      columns = { {%- for col in columns %}'column{{ loop.index0 }}': 'VARCHAR'{{ ", " if not loop.last }}{% endfor -%} });
        {{ swap_relation(existing, tmp_relation, this) }}
        commit;
    {%- endcall %}
{% endmaterialization %}
