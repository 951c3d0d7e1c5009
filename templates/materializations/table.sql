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
        {% if existing is not none -%}
        drop {{ 'view' if existing.type == 'view' else 'table' }} if exists {{ this }};
        {% endif -%}
        alter table {{ tmp_relation }} rename to {{ adapter.quote(this.identifier) }};
        commit;
    {%- endcall %}
{% endmaterialization %}
