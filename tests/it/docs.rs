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

/// Open a page written into the site's folder that frames the site (`index.html`) and drives
/// it with events a dump cannot send (clicks, keys); file:// pages may then reach into the frame.
fn framed(p: &TestProject, name: &str, html: &str, profile: &Path) -> String {
    let frame = p.root.join("target").join(name);
    std::fs::write(&frame, html).unwrap();
    browse(&format!("file://{}", frame.display()), &["--dump-dom", "--allow-file-access-from-files"], profile)
}

/// The nodes an explorer page drew, by unique id.
fn drawn(dom: &str) -> std::collections::BTreeSet<String> {
    // The page, without the site's own script (which has the markup it writes as text).
    let page = &dom[..dom.rfind("<script>").unwrap_or(dom.len())];
    let svg = page.split(r#"id="explorer-svg""#).nth(1).unwrap_or("");
    svg.split(r#"class="node "#)
        .skip(1)
        .filter_map(|g| g.split("data-node=\"").nth(1).and_then(|s| s.split('"').next()).map(str::to_string))
        .collect()
}

#[test]
fn the_lineage_explorer_selects_as_the_cli_does_and_opens_what_is_clicked() {
    let p = TestProject::from_path(&Path::new(env!("CARGO_MANIFEST_DIR")).join("example_project"), "example_project");
    let out = p.run(&["docs", "generate"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let page = format!("file://{}", p.root.join("target/index.html").display());
    let profile = tempfile::tempdir().unwrap();
    let enc =
        |s: &str| s.replace('%', "%25").replace('+', "%2B").replace(' ', "%20").replace('@', "%40").replace(',', "%2C");

    // Each selector draws what `strata ls` selects (tests and unit tests left out, as the
    // explorer leaves them out unless asked; exposures, which `ls` does not list, aside).
    for (select, exclude) in [
        ("+fct_orders", ""),
        ("tag:finance+", ""),
        ("@stg_orders", ""),
        ("source:web+2", ""),
        ("+dim_customers,tag:marts stg_orders+1", ""),
        ("path:models/staging", "stg_orders"),
        ("config.materialized:table", ""),
    ] {
        let mut args = vec!["ls", "--output", "json", "-s", select];
        if !exclude.is_empty() {
            args.extend(["--exclude", exclude]);
        }
        let out = p.run(&args);
        assert_eq!(out.code, 0, "{}", out.stderr);
        let expected: std::collections::BTreeSet<String> = out
            .stdout
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| !matches!(v["resource_type"].as_str(), Some("test" | "unit_test")))
            .filter_map(|v| v["unique_id"].as_str().map(str::to_string))
            .collect();
        assert!(!expected.is_empty(), "{select} selects something");
        let url = format!("{page}#!/lineage?select={}&exclude={}", enc(select), enc(exclude));
        let dom = browse(&url, &["--dump-dom"], profile.path());
        assert!(attr(&dom, "data-error").is_none(), "{dom}");
        let got: std::collections::BTreeSet<String> =
            drawn(&dom).into_iter().filter(|id| !id.starts_with("exposure.")).collect();
        assert_eq!(got, expected, "{select} --exclude '{exclude}'");
        assert!(dom.contains(&format!(r#"data-count="{}""#, drawn(&dom).len())), "the count is shown: {dom}");
    }
    // `docs: node_color` colours fct_orders.
    let dom = browse(&format!("{page}#!/lineage?select=%2Bfct_orders"), &["--dump-dom"], profile.path());
    assert!(dom.contains(r##"data-node="model.shop.fct_orders" data-color="#ffd8a8""##), "{dom}");
    assert!(dom.contains(r##"<rect width="190" height="34" style="fill:#ffd8a8">"##), "{dom}");
    // Tests are drawn when asked for; `@` brings the exposure that reads a mart.
    let dom = browse(&format!("{page}#!/lineage?select=stg_orders%2B1&tests=1"), &["--dump-dom"], profile.path());
    assert!(drawn(&dom).iter().any(|id| id.starts_with("test.shop.accepted_values_stg_orders")), "{dom}");
    let dom = browse(&format!("{page}#!/lineage?select=%40stg_orders"), &["--dump-dom"], profile.path());
    assert!(drawn(&dom).contains("exposure.shop.revenue_dashboard"), "{dom}");

    // A selector the grammar rejects shows the CLI's own message, in the page.
    for bad in ["tagg:finance", "@+orders", "a,,b", "config:table", "tag:"] {
        let out = p.run(&["ls", "-s", bad]);
        assert_eq!(out.code, 2, "{}", out.stderr);
        let cli = &out.stderr[out.stderr.find("error[E0601]").expect("a diagnostic")..];
        let dom = browse(&format!("{page}#!/lineage?select={}", enc(bad)), &["--dump-dom"], profile.path());
        let shown =
            dom.split(r#"<pre id="explorer-error">"#).nth(1).and_then(|s| s.split("</pre>").next()).unwrap_or("");
        let shown = shown.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&").replace("&quot;", "\"");
        assert_eq!(shown.trim_end(), cli.trim_end(), "{bad}");
    }

    // A column picked in the explorer highlights its lineage, as a node page does:
    // fct_orders.order_amount sums stg_order_items' quantity and stg_products' price (through
    // the ephemeral int_order_lines), which come from the raw_order_items and raw_products seeds,
    // as `strata lineage fct_orders.order_amount` says.
    let url = format!("{page}#!/lineage?select=%2Bfct_orders&column=fct_orders.order_amount");
    let dom = browse(&url, &["--dump-dom"], profile.path());
    for id in
        ["model.shop.fct_orders", "model.shop.stg_order_items", "model.shop.stg_products", "seed.shop.raw_order_items"]
    {
        assert!(dom.contains(&format!(r#" hl" data-node="{id}""#)), "{id}: {dom}");
    }
    assert!(dom.contains(r#"class="node seed" data-node="seed.shop.raw_payments""#), "not on the column's path: {dom}");

    // A click on a node opens its page (dispatched from a page that frames the site).
    let dom = framed(
        &p,
        "click.html",
        r##"<!doctype html><html><body><iframe id="f" src="index.html#!/lineage?select=%2Bfct_orders" width="1200" height="900"></iframe>
<script>
var f = document.getElementById("f");
f.onload = function () {
  var tries = 0;
  (function go() {
    var d = f.contentDocument, g = d && d.querySelector('#explorer-svg g.node[data-node="model.shop.stg_orders"]');
    if (!g) { if (tries++ < 50) return setTimeout(go, 50); document.body.setAttribute("data-clicked", "none"); return; }
    var W = f.contentWindow, r = g.getBoundingClientRect(), o = { bubbles: true, clientX: r.left + 5, clientY: r.top + 5, view: W };
    g.dispatchEvent(new W.MouseEvent("mousedown", o));
    d.dispatchEvent(new W.MouseEvent("mouseup", o));
    g.dispatchEvent(new W.MouseEvent("click", o));
    setTimeout(function () {
      document.body.setAttribute("data-clicked", W.location.hash);
      document.body.setAttribute("data-title", (d.querySelector("#page h1") || {}).textContent || "");
    }, 300);
  })();
};
</script></body></html>"##,
        profile.path(),
    );
    assert_eq!(attr(&dom, "data-clicked").as_deref(), Some("#!/node/model.shop.stg_orders"), "{dom}");
    assert_eq!(attr(&dom, "data-title").as_deref(), Some("stg_orders"), "{dom}");

    // More nodes than the explorer draws (2,000 unless the link says otherwise): it says how
    // many and draws none until asked.
    let dom = browse(&format!("{page}#!/lineage?select=*&max=10"), &["--dump-dom"], profile.path());
    assert!(attr(&dom, "data-error").is_none(), "{dom}");
    let count: usize = dom
        .split(r#"id="explorer" data-count=""#)
        .nth(1)
        .and_then(|s| s.split('"').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(count > 10 && dom.contains(&format!("<b>{count} nodes</b> match: more than 10")), "{dom}");
    assert!(drawn(&dom).is_empty(), "{dom}");
    assert!(dom.contains(&format!("max={count}\">draw them anyway")), "{dom}");

    let shot = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/docs-explorer.png");
    let _ = std::fs::remove_file(&shot);
    let url = format!("{page}#!/lineage?select=%2Bdim_customers%2B&column=fct_orders.order_amount");
    browse(&url, &[&format!("--screenshot={}", shot.display())], profile.path());
    assert!(std::fs::read(&shot).expect("screenshot written").starts_with(b"\x89PNG"));
}

#[test]
fn macro_pages_and_keyboard_navigation() {
    let p = TestProject::from_path(&Path::new(env!("CARGO_MANIFEST_DIR")).join("example_project"), "example_project");
    let out = p.run(&["docs", "generate"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let page = format!("file://{}", p.root.join("target/index.html").display());
    let profile = tempfile::tempdir().unwrap();

    // A macro's page: its description and arguments from macros.yml, what calls it, its source;
    // the sidebar lists it under its package's macros folder.
    let dom = browse(&format!("{page}#!/macro/macro.shop.cents_to_dollars"), &["--dump-dom"], profile.path());
    let dom = &dom[..dom.rfind("<script>").unwrap_or(dom.len())];
    assert!(dom.contains(r#"<pre class="signature">cents_to_dollars(column_name, scale=2)</pre>"#), "{dom}");
    assert!(dom.contains("Converts an integer amount of cents to dollars, rounded."), "{dom}");
    assert!(
        dom.contains(r#"<td class="col">scale</td><td>integer</td><td>Decimal places to keep (2 by default).</td>"#),
        "{dom}"
    );
    assert!(dom.contains(r#"id="called-by" data-count="2""#), "{dom}");
    for caller in ["model.shop.stg_payments", "model.shop.stg_products"] {
        assert!(dom.contains(&format!(r##"<a href="#!/node/{caller}">"##)), "{caller}: {dom}");
    }
    assert!(dom.contains(r#"class="dir open" data-dir="shop/macros""#), "{dom}");
    assert!(dom.contains(r##"class="leaf macro current" href="#!/macro/macro.shop.cents_to_dollars""##), "{dom}");
    // The list of every macro by package, the built-ins under dbt.
    let dom = browse(&format!("{page}#!/macros"), &["--dump-dom"], profile.path());
    assert!(dom.contains(r##"<a href="#!/macro/macro.shop.safe_divide">safe_divide</a>"##), "{dom}");
    assert!(dom.contains(r##"<a href="#!/macro/macro.dbt.generate_schema_name">generate_schema_name</a>"##), "{dom}");
    // manifest.json has the same description and arguments.
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(p.root.join("target/manifest.json")).unwrap()).unwrap();
    let m = &manifest["macros"]["macro.shop.cents_to_dollars"];
    assert_eq!(m["description"], "Converts an integer amount of cents to dollars, rounded.");
    assert_eq!(
        m["arguments"][1],
        serde_json::json!({"name": "scale", "type": "integer", "description": "Decimal places to keep (2 by default)."})
    );
    assert_eq!(m["patch_path"], "shop://macros/macros.yml");

    // Keyboard: `/` focuses search, typing searches, ArrowDown reaches the first result and
    // Enter on the box opens it (keys dispatched from a page that frames the site).
    let dom = framed(
        &p,
        "keys.html",
        r##"<!doctype html><html><body><iframe id="f" src="index.html#!/" width="1200" height="900"></iframe>
<script>
var f = document.getElementById("f");
f.onload = function () {
  var W = f.contentWindow, d = f.contentDocument;
  var key = function (el, k) { el.dispatchEvent(new W.KeyboardEvent("keydown", { key: k, bubbles: true, cancelable: true })); };
  key(d.body, "/");
  document.body.setAttribute("data-focused", d.activeElement.id);
  var box = d.getElementById("search");
  box.value = "stg_orders";
  box.dispatchEvent(new W.Event("input", { bubbles: true }));
  setTimeout(function () {
    key(box, "ArrowDown");
    document.body.setAttribute("data-first", d.activeElement.getAttribute("href") || "");
    key(d.activeElement, "ArrowDown");
    document.body.setAttribute("data-second", d.activeElement.getAttribute("href") || "");
    key(d.activeElement, "ArrowUp");
    key(d.activeElement, "ArrowUp");
    document.body.setAttribute("data-back", d.activeElement.id);
    key(box, "Enter");
    setTimeout(function () { document.body.setAttribute("data-opened", W.location.hash); }, 200);
  }, 500);
};
</script></body></html>"##,
        profile.path(),
    );
    assert_eq!(attr(&dom, "data-focused").as_deref(), Some("search"), "{dom}");
    assert_eq!(attr(&dom, "data-first").as_deref(), Some("#!/node/model.shop.stg_orders"), "{dom}");
    assert!(
        attr(&dom, "data-second").is_some_and(|h| h.starts_with("#!/node/") && h != "#!/node/model.shop.stg_orders"),
        "{dom}"
    );
    assert_eq!(attr(&dom, "data-back").as_deref(), Some("search"), "{dom}");
    assert_eq!(attr(&dom, "data-opened").as_deref(), Some("#!/node/model.shop.stg_orders"), "{dom}");
}
