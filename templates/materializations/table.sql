{#-
  table: build under a temporary name, then swap it in inside one transaction. If the build
  fails, the transaction is rolled back and the previous table is untouched.
  Context: this, sql, existing (the relation currently at `this`, or none), tmp_relation.
-#}
{% materialization table, default %}
    {% call statement('main') -%}
        begin transaction;
        drop table if exists {{ tmp_relation }};
        {{ create_table_as(false, tmp_relation, sql) }};
        {{ swap_relation(existing, tmp_relation, this) }}
        commit;
    {%- endcall %}
{% endmaterialization %}
