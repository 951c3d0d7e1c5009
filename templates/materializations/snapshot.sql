{#-
  snapshot: type 2 slowly changing history of a query's rows, keyed by unique_key (a column or a
  list). Each version of a row has dbt_scd_id, dbt_updated_at, dbt_valid_from and dbt_valid_to
  (NULL, or dbt_valid_to_current, while it is current); snapshot_meta_column_names renames them.
  strategy timestamp: a row changed when its updated_at is later than its current version's
  dbt_valid_from. strategy check: when any check_cols column (or every column, `all`) differs.
  hard_deletes: ignore; invalidate (close the current version of a row that is gone); new_record
  (close it and add a version with dbt_is_deleted 'True'; a row that comes back gets a new
  version). All in one transaction.
  Context: this, sql, existing.
-#}
{% materialization snapshot, default %}
    {%- set keys = config.get('unique_key') -%}
    {%- set keys = [keys] if keys is string else keys -%}
    {%- set strategy = config.get('strategy') -%}
    {%- set hard_deletes = config.get('hard_deletes') or ('invalidate' if config.get('invalidate_hard_deletes') else 'ignore') -%}
    {%- set names = config.get('snapshot_meta_column_names') or {} -%}
    {%- set scd = adapter.quote(names.get('dbt_scd_id') or 'dbt_scd_id') -%}
    {%- set upd = adapter.quote(names.get('dbt_updated_at') or 'dbt_updated_at') -%}
    {%- set vf = adapter.quote(names.get('dbt_valid_from') or 'dbt_valid_from') -%}
    {%- set vt = adapter.quote(names.get('dbt_valid_to') or 'dbt_valid_to') -%}
    {%- set del = adapter.quote(names.get('dbt_is_deleted') or 'dbt_is_deleted') -%}
    {%- set current_to = config.get('dbt_valid_to_current') -%}
    {%- set open_to = current_to if current_to else 'null' -%}
    {%- set is_current -%}({{ vt }} is null{% if current_to %} or {{ vt }} = {{ current_to }}{% endif %}){%- endset -%}
    {%- set now = "now()::timestamp" -%}
    {%- set changed_at = ("src." ~ adapter.quote(config.get('updated_at'))) if strategy == 'timestamp' else now -%}
    {%- set key_text -%}{% for k in keys %}coalesce(cast(src.{{ adapter.quote(k) }} as varchar), ''){{ " || '|' || " if not loop.last }}{% endfor %}{%- endset -%}
    {%- set match -%}{% for k in keys %}src.{{ adapter.quote(k) }} = cur.{{ adapter.quote(k) }}{{ " and " if not loop.last }}{% endfor %}{%- endset -%}
    {% if existing is none %}
        {% call statement('main') -%}
            begin transaction;
            create table {{ this }} as
            select src.*,
                md5({{ key_text }} || '|' || coalesce(cast({{ changed_at }} as varchar), '')) as {{ scd }},
                cast({{ changed_at }} as timestamp) as {{ upd }},
                cast({{ changed_at }} as timestamp) as {{ vf }},
                cast({{ open_to }} as timestamp) as {{ vt }}{% if hard_deletes == 'new_record' %},
                'False' as {{ del }}{% endif %}
            from ({{ sql }}) as src;
            commit;
        {%- endcall %}
        {{ return(none) }}
    {% endif %}
    {%- set stage = make_temp_relation(this, '__strata_snap') -%}
    {%- set s = adapter.quote(stage.identifier ~ '_src') -%}
    {%- set c = adapter.quote(stage.identifier ~ '_cur') -%}
    {% call statement('prepare') -%}
        begin transaction;
        create or replace temporary table {{ s }} as select * from ({{ sql }});
        create or replace temporary table {{ c }} as select * from {{ this }} where {{ is_current }};
    {%- endcall %}
    {%- set src_cols = adapter.get_columns_in_relation(api.Relation.create(database='temp', schema='main', identifier=stage.identifier ~ '_src')) | map(attribute='name') | list -%}
    {%- set check_cols = config.get('check_cols') -%}
    {%- set check_cols = (src_cols | reject('in', keys) | list) if check_cols == 'all' else ([check_cols] if check_cols is string else check_cols) -%}
    {%- set changed -%}
        {% if strategy == 'timestamp' -%}
        cur.{{ vf }} < cast(src.{{ adapter.quote(config.get('updated_at')) }} as timestamp)
        {%- else -%}
        ({% for col in check_cols %}src.{{ adapter.quote(col) }} is distinct from cur.{{ adapter.quote(col) }}{{ " or " if not loop.last }}{% endfor %})
        {%- endif %}
    {%- endset -%}
    {%- set live = ("coalesce(cur." ~ del ~ ", 'False') != 'True'") if hard_deletes == 'new_record' else "true" -%}
    {% call statement('main') -%}
        -- Source rows that start a new version: changed ones, and keys with no live version.
        create or replace temporary table {{ adapter.quote(stage.identifier ~ '_new') }} as
        select src.*, cast({{ changed_at }} as timestamp) as __strata_at
        from {{ s }} as src
        where exists (select 1 from {{ c }} as cur where {{ match }} and {{ live }} and {{ changed }})
           or not exists (select 1 from {{ c }} as cur where {{ match }} and {{ live }});
        -- Close the versions they replace (a deleted marker too, when its row comes back).
        update {{ this }} as cur set {{ vt }} = src.__strata_at
        from {{ adapter.quote(stage.identifier ~ '_new') }} as src
        where {{ match }} and {{ is_current | replace(vt, 'cur.' ~ vt) }};
        {% if hard_deletes in ('invalidate', 'new_record') -%}
        -- Rows gone from the source.
        {% if hard_deletes == 'new_record' -%}
        insert into {{ this }} by name
        select cur.* exclude ({{ scd }}, {{ upd }}, {{ vf }}, {{ vt }}, {{ del }}),
            md5({{ key_text | replace('src.', 'cur.') }} || '|' || cast({{ now }} as varchar) || '|deleted') as {{ scd }},
            {{ now }} as {{ upd }}, {{ now }} as {{ vf }}, cast({{ open_to }} as timestamp) as {{ vt }}, 'True' as {{ del }}
        from {{ c }} as cur
        where {{ live }} and not exists (select 1 from {{ s }} as src where {{ match }});
        {% endif -%}
        update {{ this }} as cur set {{ vt }} = {{ now }}
        where {{ is_current | replace(vt, 'cur.' ~ vt) }}{% if hard_deletes == 'new_record' %} and {{ live }}{% endif %}
          and not exists (select 1 from {{ s }} as src where {{ match }});
        {% endif -%}
        insert into {{ this }} by name
        select src.* exclude (__strata_at),
            md5({{ key_text }} || '|' || coalesce(cast(src.__strata_at as varchar), '')) as {{ scd }},
            src.__strata_at as {{ upd }}, src.__strata_at as {{ vf }}, cast({{ open_to }} as timestamp) as {{ vt }}{% if hard_deletes == 'new_record' %},
            'False' as {{ del }}{% endif %}
        from {{ adapter.quote(stage.identifier ~ '_new') }} as src;
        drop table {{ s }};
        drop table {{ c }};
        drop table {{ adapter.quote(stage.identifier ~ '_new') }};
        commit;
    {%- endcall %}
{% endmaterialization %}
