//! Generates a synthetic dbt project for benchmarks: `cargo run --release --example synth --
//! <models> <out_dir>`. Models come in three layers (staging 30%, intermediate 40%, marts 30%)
//! with refs to earlier layers, config blocks, a project macro, Jinja loops and property YAML
//! with column descriptions and tests. Deterministic for a given model count.

use std::fmt::Write as _;
use std::path::Path;

fn write(path: &Path, text: &str) {
    if let Some(p) = path.parent() {
        std::fs::create_dir_all(p).expect("create folder");
    }
    std::fs::write(path, text).expect("write file");
}

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1000);
    let out = args.next().unwrap_or_else(|| format!("target/synth_{n}"));
    let root = Path::new(&out);
    let _ = std::fs::remove_dir_all(root);
    write(
        &root.join("dbt_project.yml"),
        "name: synth\nversion: '1.0'\nconfig-version: 2\nprofile: synth\nvars:\n  multiplier: 3\nmodels:\n  synth:\n    staging:\n      +materialized: view\n    intermediate:\n      +materialized: view\n    marts:\n      +materialized: table\n      +tags: [marts]\n",
    );
    write(
        &root.join("profiles.yml"),
        "synth:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n      path: synth.duckdb\n      threads: 2\n",
    );
    write(
        &root.join("macros/helpers.sql"),
        "{% macro scaled(col, factor) -%}\n    ({{ col }} * {{ factor }})\n{%- endmacro %}\n\n{% macro bucket(col, n=10) -%}\n    ({{ col }} % {{ n }})\n{%- endmacro %}\n",
    );
    let mut csv = String::from("id,grp,amount,created_at\n");
    for i in 0..200 {
        let _ = writeln!(csv, "{i},{},{}.{},2024-01-{:02} 10:00:00", i % 7, i * 3, i % 100, 1 + i % 28);
    }
    write(&root.join("seeds/raw_events.csv"), &csv);

    let n_stg = (n * 3 / 10).max(1);
    let n_int = (n * 4 / 10).max(1);
    let n_mart = n.saturating_sub(n_stg + n_int).max(1);
    let mut yaml = String::from("version: 2\n\nmodels:\n");
    let mut seed = 42u64;
    let mut rnd = |m: usize| {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((seed >> 33) as usize) % m.max(1)
    };
    for i in 0..n_stg {
        let name = format!("stg_{i:05}");
        let sql = format!(
            "{{{{ config(tags=['layer_staging']) }}}}\n\nselect\n    id,\n    grp,\n    {{{{ scaled('amount', var('multiplier')) }}}} as amount,\n    {{{{ bucket('id', {}) }}}} as bucket,\n    created_at\nfrom {{{{ ref('raw_events') }}}}\nwhere id % {} = {}\n",
            2 + i % 5,
            1 + i % 3,
            i % (1 + i % 3)
        );
        write(&root.join(format!("models/staging/group_{}/{name}.sql", i / 100)), &sql);
        let _ = write!(
            yaml,
            "  - name: {name}\n    description: Staging model {i}.\n    columns:\n      - name: id\n        description: Event id.\n        data_tests: [not_null]\n      - name: amount\n        description: Scaled amount.\n"
        );
    }
    for i in 0..n_int {
        let name = format!("int_{i:05}");
        let a = rnd(n_stg);
        let b = rnd(n_stg);
        let mut sql = String::from("{% set metrics = ['amount', 'bucket'] %}\n\nselect\n    a.grp,\n");
        sql.push_str(
            "    {% for m in metrics %}\n    sum(a.{{ m }}) as total_{{ m }},\n    {% endfor %}\n    count(*) as n\n",
        );
        let _ = write!(
            sql,
            "from {{{{ ref('stg_{a:05}') }}}} as a\njoin {{{{ ref('stg_{b:05}') }}}} as b using (id)\ngroup by a.grp\n"
        );
        write(&root.join(format!("models/intermediate/group_{}/{name}.sql", i / 100)), &sql);
        let _ = write!(
            yaml,
            "  - name: {name}\n    description: Intermediate model {i}.\n    columns:\n      - name: grp\n        description: Group.\n        data_tests: [unique]\n"
        );
    }
    for i in 0..n_mart {
        let name = format!("mart_{i:05}");
        let parents: Vec<usize> = (0..2 + i % 2).map(|_| rnd(n_int)).collect();
        let mut sql = format!("{{{{ config(materialized='table', alias='{name}') }}}}\n\n");
        sql.push_str("select grp, sum(total_amount) as amount, sum(n) as n from (\n");
        for (j, p) in parents.iter().enumerate() {
            if j > 0 {
                sql.push_str("    union all\n");
            }
            let _ = writeln!(sql, "    select grp, total_amount, n from {{{{ ref('int_{p:05}') }}}}");
        }
        sql.push_str(") as u\ngroup by grp\n");
        write(&root.join(format!("models/marts/group_{}/{name}.sql", i / 100)), &sql);
        let _ = write!(yaml, "  - name: {name}\n    description: Mart {i}.\n    columns:\n      - name: grp\n        description: Group.\n        data_tests: [not_null, unique]\n");
    }
    write(&root.join("models/schema.yml"), &yaml);
    eprintln!("wrote {n_stg} staging, {n_int} intermediate and {n_mart} mart models to {}", root.display());
}
