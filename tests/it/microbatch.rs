//! The microbatch strategy on tests/fixtures/microbatch: daily batches of a model over a seed
//! that declares an `event_time`, a late-arriving row inside `lookback`, an explicit
//! --event-time-start/--event-time-end window, a failing batch that leaves the others committed
//! and is retried alone, and --full-refresh from `begin`.

use crate::util::TestProject;

fn rows(p: &TestProject) -> Vec<Vec<String>> {
    p.query("mb.duckdb", "select cast(day as varchar), events, amount, batch_id from daily_totals order by day")
}

fn batch_results(p: &TestProject) -> serde_json::Value {
    let rr: serde_json::Value = serde_json::from_str(&p.read("target/run_results.json")).unwrap();
    let r = rr["results"].as_array().unwrap().iter().find(|r| r["unique_id"] == "model.mb.daily_totals").unwrap();
    r["batch_results"].clone()
}

fn row(day: &str, events: u32, amount: u32) -> Vec<String> {
    vec![day.to_string(), events.to_string(), amount.to_string(), day.replace('-', "")]
}

/// The table after the first build, after the late rows, and the batches the second run built.
struct Lookback {
    first: Vec<Vec<String>>,
    second: Vec<Vec<String>>,
    rebuilt: Vec<String>,
}

/// The lookback scenario relative to today (UTC): `Some` unless midnight passed while it ran,
/// in which case the batches moved and the caller runs it again.
fn lookback_scenario() -> Option<Lookback> {
    let today = chrono::Utc::now().date_naive();
    let day = |n: i64| (today - chrono::Duration::days(n)).format("%Y-%m-%d").to_string();
    let p = TestProject::fixture("microbatch");
    p.write(
        "seeds/events.csv",
        &format!("id,occurred_at,amount\n1,{} 09:00:00,10\n2,{} 10:00:00,5\n3,{} 11:00:00,7\n", day(3), day(1), day(0)),
    );
    let begin = day(3);
    let model = p.read("models/daily_totals.sql").replace("begin='2024-01-01'", &format!("begin='{begin}'"));
    p.write("models/daily_totals.sql", &model);
    let out = p.run(&["build"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let first = rows(&p);
    // Late rows: one yesterday (inside lookback=1) and one three days ago (outside it).
    p.write(
        "seeds/events.csv",
        &format!(
            "id,occurred_at,amount\n1,{d3} 09:00:00,10\n2,{d1} 10:00:00,5\n3,{d0} 11:00:00,7\n4,{d1} 23:00:00,100\n5,{d3} 12:00:00,1000\n",
            d3 = day(3),
            d1 = day(1),
            d0 = day(0)
        ),
    );
    assert_eq!(p.run(&["seed"]).code, 0);
    let out = p.run(&["run", "-s", "daily_totals"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let rebuilt: Vec<String> = batch_results(&p)["successful"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b[0].as_str().unwrap()[..10].to_string())
        .collect();
    let second = rows(&p);
    (chrono::Utc::now().date_naive() == today).then_some(Lookback { first, second, rebuilt })
}

#[test]
fn a_late_row_inside_lookback_is_picked_up_and_older_batches_are_left_alone() {
    let Lookback { first, second, rebuilt } =
        lookback_scenario().or_else(lookback_scenario).expect("midnight passed twice");
    let today = chrono::Utc::now().date_naive();
    let day = |n: i64| (today - chrono::Duration::days(n)).format("%Y-%m-%d").to_string();
    // From begin to today, one batch a day; each batch reads only its day of events.
    assert_eq!(first, [row(&day(3), 1, 10), row(&day(1), 1, 5), row(&day(0), 1, 7)]);
    // lookback=1: yesterday's and today's batches run again; three days ago is not revisited.
    assert_eq!(rebuilt, [day(1), day(0)]);
    assert_eq!(second, [row(&day(3), 1, 10), row(&day(1), 2, 105), row(&day(0), 1, 7)]);
}

#[test]
fn a_failed_batch_leaves_the_others_committed_and_is_retried_alone() {
    let p = TestProject::fixture("microbatch");
    let window = ["--event-time-start", "2024-01-01", "--event-time-end", "2024-01-04"];
    let mut args = vec!["build"];
    args.extend(window);
    let out = p.run(&args);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.contains("OK created sql incremental model main.daily_totals"), "{}", out.stderr);
    assert_eq!(rows(&p), [row("2024-01-01", 2, 15), row("2024-01-02", 1, 7), row("2024-01-03", 1, 1)]);
    // The view that is not a microbatch model reads every event.
    assert_eq!(p.query("mb.duckdb", "select n from all_events"), [["4"]]);

    // New events for the 2nd and the 3rd; the 3rd's batch fails.
    p.write(
        "seeds/events.csv",
        "id,occurred_at,amount\n1,2024-01-01 09:00:00,10\n2,2024-01-01 17:30:00,5\n3,2024-01-02 08:00:00,7\n4,2024-01-03 12:00:00,1\n5,2024-01-02 23:00:00,100\n6,2024-01-03 01:00:00,3\n",
    );
    assert_eq!(p.run(&["seed"]).code, 0);
    let out = p.run(&[
        "run",
        "-s",
        "daily_totals",
        "--event-time-start",
        "2024-01-02",
        "--event-time-end",
        "2024-01-04",
        "--vars",
        "{fail_batch: '20240103'}",
    ]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stderr.contains("PARTIAL SUCCESS creating sql incremental model main.daily_totals"), "{}", out.stderr);
    assert!(
        out.stderr.contains("batch 20240103: Invalid Input Error: batch 20240103 failed on purpose"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("Completed with 0 errors, 1 partial success, and 0 warnings"), "{}", out.stderr);
    let br = batch_results(&p);
    assert_eq!(br["successful"], serde_json::json!([["2024-01-02T00:00:00+00:00", "2024-01-03T00:00:00+00:00"]]));
    assert_eq!(br["failed"], serde_json::json!([["2024-01-03T00:00:00+00:00", "2024-01-04T00:00:00+00:00"]]));
    // The 2nd is committed; the 3rd keeps what it had.
    assert_eq!(rows(&p), [row("2024-01-01", 2, 15), row("2024-01-02", 2, 107), row("2024-01-03", 1, 1)]);

    let out = p.run(&["retry"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let br = batch_results(&p);
    assert_eq!(br["successful"], serde_json::json!([["2024-01-03T00:00:00+00:00", "2024-01-04T00:00:00+00:00"]]));
    assert_eq!(rows(&p), [row("2024-01-01", 2, 15), row("2024-01-02", 2, 107), row("2024-01-03", 2, 4)]);

    // --full-refresh builds again from `begin` (2024-01-01) to today: one batch a day.
    let out = p.run(&["run", "-s", "daily_totals", "--full-refresh"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let days = (chrono::Utc::now().date_naive() - chrono::NaiveDate::from_ymd_opt(2024, 1, 1).unwrap()).num_days();
    let n = batch_results(&p)["successful"].as_array().unwrap().len() as i64;
    assert!(n == days + 1 || n == days + 2, "{n} batches for {days} days");
    assert_eq!(rows(&p), [row("2024-01-01", 2, 15), row("2024-01-02", 2, 107), row("2024-01-03", 2, 4)]);
}

#[test]
fn a_microbatch_model_without_its_settings_or_a_bad_window_is_refused() {
    let p = TestProject::fixture("microbatch");
    let out = p.run(&["build", "--event-time-start", "2024-01-05", "--event-time-end", "2024-01-01"]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("--event-time-start must be before --event-time-end"), "{}", out.stderr);
    let out = p.run(&["build", "--event-time-start", "yesterday"]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("--event-time-start 'yesterday' is not a date or timestamp"), "{}", out.stderr);

    let model = p.read("models/daily_totals.sql").replace("    event_time='day',\n", "");
    p.write("models/daily_totals.sql", &model);
    let out = p.run(&["build"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    insta::assert_snapshot!("microbatch_without_event_time", p.normalize(&out.stderr));
}
