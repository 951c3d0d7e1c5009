{#-
  table: build under a temporary name, then swap it in inside one transaction. If the build
  fails, the transaction is rolled back and the previous table is untouched.
  A table with foreign keys is built under its final name instead (`build_in_place`): DuckDB
  does not follow a renamed foreign-key table (see src/run/foreign_keys.rs).
  Context: this, sql, existing (the relation currently at `this`, or none), tmp_relation,
  build_in_place.
-#}
{% materialization table, default %}
    {% call statement('main') -%}
        begin transaction;
        {% if build_in_place -%}
        {% if existing is not none -%}
        drop {{ 'view' if existing.type == 'view' else 'table' }} if exists {{ this }};
        {% endif -%}
        {{ create_table_as(false, this, sql) }};
        {% else -%}
        drop table if exists {{ tmp_relation }};
        {{ create_table_as(false, tmp_relation, sql) }};
        {{ swap_relation(existing, tmp_relation, this) }}
        {% endif -%}
        commit;
    {%- endcall %}
{% endmaterialization %}
