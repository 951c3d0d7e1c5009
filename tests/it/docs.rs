//! The docs site in a real browser: Debian's Chromium, headless, opens example_project's site
//! from file://, draws a model's lineage with one column's upstream and downstream
//! highlighted, finds a column by search, shows the overview (the __overview__ block,
//! documentation coverage, the last run), and saves screenshots under target/. Also
//! `docs serve`.

use crate::util::TestProject;
use std::io::{BufRead, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Chromium, which .ci/run installs (`apt-get install chromium`) when it is missing.
fn chromium() -> PathBuf {
    let found = std::env::var_os("STRATA_CHROMIUM")
        .map(PathBuf::from)
        .or_else(|| ["/usr/bin/chromium", "/usr/bin/chromium-browser"].iter().map(PathBuf::from).find(|p| p.is_file()));
    found.expect("Chromium is needed for the docs browser test: `apt-get install chromium` (.ci/run does this)")
}

/// Run headless Chromium on a page; `extra` adds --dump-dom or --screenshot.
fn browse(url: &str, extra: &[&str], profile: &Path) -> String {
    let out = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1280,1100",
            "--virtual-time-budget=5000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(url)
        .output()
        .expect("run chromium");
    assert!(out.status.success(), "chromium failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).to_string()
}

fn attr(dom: &str, name: &str) -> Option<String> {
    let body = &dom[dom.find("<body")?..];
    let body = &body[..body.find('>')?];
    let at = body.find(&format!("{name}=\""))? + name.len() + 2;
    Some(body[at..at + body[at..].find('"')?].to_string())
}

#[test]
fn the_site_draws_lineage_and_finds_a_column_in_chromium() {
    let p = TestProject::from_path(&Path::new(env!("CARGO_MANIFEST_DIR")).join("example_project"), "example_project");
    assert_eq!(p.run(&["build"]).code, 0);
    let out = p.run(&["docs", "generate"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let page = format!("file://{}", p.root.join("target/index.html").display());
    let profile = tempfile::tempdir().unwrap();

    // Search finds a column: gift_card_amount is a column, in no model's name.
    let dom = browse(&format!("{page}#!/search/gift_card_amount"), &["--dump-dom"], profile.path());
    assert_eq!(attr(&dom, "data-route-done").as_deref(), Some("search/gift_card_amount"), "{dom}");
    assert!(attr(&dom, "data-search-results").and_then(|n| n.parse::<usize>().ok()).unwrap_or(0) >= 2, "{dom}");
    assert!(dom.contains(r#"data-node="model.shop.fct_orders""#), "{dom}");
    assert!(dom.contains(r#"data-node="model.shop.int_order_payments""#), "{dom}");

    // The lineage view draws fct_orders' neighbourhood, with order_amount's column lineage.
    let url = format!("{page}#!/node/model.shop.fct_orders/order_amount");
    let dom = browse(&url, &["--dump-dom"], profile.path());
    assert!(attr(&dom, "data-error").is_none(), "{dom}");
    let drawn: usize = dom
        .split(r#"<svg id="graph""#)
        .nth(1)
        .and_then(|s| s.split("data-nodes=\"").nth(1))
        .and_then(|s| s.split('"').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(drawn >= 8, "the graph draws fct_orders and its neighbours: {dom}");
    for highlighted in ["model.shop.stg_orders", "model.shop.daily_revenue", "model.shop.dim_customers"] {
        assert!(dom.contains(&format!(r#"hl" data-node="{highlighted}""#)), "{highlighted} is not highlighted: {dom}");
    }
    assert!(dom.contains("daily_revenue.revenue"), "{dom}");
    assert!(dom.contains("stg_order_items.quantity"), "{dom}");

    // The sidebar on a node's page: its folder open, the node marked; only the open branch's
    // nodes are drawn (fct_orders' folder holds 6 models, out of the project's 30 nodes).
    assert!(dom.contains(r##"class="leaf model current" href="#!/node/model.shop.fct_orders""##), "{dom}");
    assert!(dom.contains(r#"data-view="project" data-links="6""#), "{dom}");

    // A folder's page (a shareable link that opens the folder in the sidebar): its models,
    // each a link to follow.
    let folder = format!("{page}#!/folder/project/shop%2Fmodels%2Fstaging");
    let dom = browse(&folder, &["--dump-dom"], profile.path());
    assert!(attr(&dom, "data-error").is_none(), "{dom}");
    assert!(dom.contains(r#"id="folder" data-folder="shop/models/staging""#), "{dom}");
    assert!(dom.contains(r#"class="dir open" data-dir="shop/models/staging""#), "{dom}");
    assert!(dom.contains(r##"class="leaf model" href="#!/node/model.shop.stg_orders""##), "{dom}");
    let dom = browse(&format!("{page}#!/node/model.shop.stg_orders"), &["--dump-dom"], profile.path());
    assert!(dom.contains(r##"class="leaf model current" href="#!/node/model.shop.stg_orders""##), "{dom}");

    // The home page: the project's __overview__ block, documentation coverage and the last run.
    let dom = browse(&format!("{page}#!/"), &["--dump-dom"], profile.path());
    assert_eq!(attr(&dom, "data-route-done").as_deref(), Some("/"), "{dom}");
    assert!(dom.contains("The shop's warehouse"), "the __overview__ doc block is shown: {dom}");
    let coverage = dom.split(r#"id="coverage""#).nth(1).unwrap_or_else(|| panic!("no coverage card: {dom}"));
    let percent = |name: &str| -> u32 {
        let at = coverage.find(&format!("{name}=\"")).map(|i| i + name.len() + 2).expect(name);
        coverage[at..at + coverage[at..].find('"').unwrap()].parse().unwrap()
    };
    // example_project: 14 models, 12 of them described (all but the two intermediate ones) and
    // 4 with a data test attached: 86 % and 29 %.
    assert_eq!((percent("data-described"), percent("data-tested")), (86, 29), "{coverage}");
    assert!(dom.contains(r#"id="last-run""#) && dom.contains("build at"), "the last run is shown: {dom}");
    assert!(dom.contains(r##"href="#!/node/model.shop.stg_orders""##), "models are linked: {dom}");
    let home = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/docs-overview.png");
    std::fs::create_dir_all(home.parent().unwrap()).unwrap();
    let _ = std::fs::remove_file(&home);
    browse(&format!("{page}#!/"), &[&format!("--screenshot={}", home.display())], profile.path());
    assert!(std::fs::read(&home).expect("screenshot written").starts_with(b"\x89PNG"));

    // A screenshot of that view, kept under target/ for people to look at.
    let shot = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/docs-lineage.png");
    std::fs::create_dir_all(shot.parent().unwrap()).unwrap();
    let _ = std::fs::remove_file(&shot);
    browse(&url, &[&format!("--screenshot={}", shot.display())], profile.path());
    let png = std::fs::read(&shot).expect("screenshot written");
    assert!(png.starts_with(b"\x89PNG") && png.len() > 20_000, "{} bytes", png.len());
}

#[test]
fn docs_serve_serves_the_site_on_localhost() {
    let p = TestProject::from_path(&Path::new(env!("CARGO_MANIFEST_DIR")).join("example_project"), "example_project");
    assert_eq!(p.run(&["docs", "generate"]).code, 0);
    let mut child = Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(["docs", "serve", "--port", "0", "--project-dir"])
        .arg(&p.root)
        .env("NO_COLOR", "1")
        .env("HOME", p.root.parent().unwrap())
        .env_remove("DBT_PROFILES_DIR")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let port: u16 = loop {
        let line = lines.next().expect("serve prints its address").unwrap();
        if let Some(rest) = line.split("http://127.0.0.1:").nth(1) {
            break rest.split('/').next().unwrap().parse().unwrap();
        }
    };
    let get = |path: &str| -> String {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.write_all(format!("GET {path} HTTP/1.0\r\n\r\n").as_bytes()).unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    };
    let index = get("/");
    let js = get("/docs/index.js");
    let outside = get("/../dbt_project.yml");
    let _ = child.kill();
    let _ = child.wait();
    assert!(index.starts_with("HTTP/1.1 200") && index.contains("<title>shop"), "{index}");
    assert!(js.contains("text/javascript") && js.contains("window.STRATA_INDEX"), "{}", &js[..200.min(js.len())]);
    assert!(outside.starts_with("HTTP/1.1 404"), "{outside}");
}
