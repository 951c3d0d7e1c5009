{#-
  view: (re)define the view in one transaction. A table of the same name (the model used to be a
  table) is dropped in the same transaction, so a failed definition leaves it in place.
  Context: this, sql, existing (the relation currently at `this`, or none).
-#}
{% materialization view, default %}
    {% call statement('main') -%}
        begin transaction;
        {% if existing is not none and existing.type != 'view' -%}
        drop table if exists {{ this }};
        {% endif -%}
        {{ create_view_as(this, sql) }};
        commit;
    {%- endcall %}
{% endmaterialization %}
