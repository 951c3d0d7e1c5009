// strata docs: a single page over data files in docs/ (JavaScript, so file:// works). The node
// index is loaded with the page; the search index after the first paint; each node's details
// from its shard when the node is shown. The lineage view draws a node's neighbourhood only.
(function () {
  "use strict";
  var T0 = performance.now();
  var INDEX = window.STRATA_INDEX || { nodes: [], edges: [], shards: 1, project: "" };
  var FOLDERS = INDEX.folders || [], SCHEMAS = INDEX.schemas || [];
  var nodes = INDEX.nodes.map(function (n) {
    return { id: n[0], type: n[1], name: n[2], pkg: n[3], shard: n[4], folder: FOLDERS[n[5]] || "", schema: SCHEMAS[n[6]] || "" };
  });
  var MACROS = (INDEX.macros || []).map(function (m) { return { pkg: m[0], name: m[1], folder: FOLDERS[m[2]] || "", id: "macro." + m[0] + "." + m[1] }; });
  var byId = {};
  nodes.forEach(function (n, i) { n.i = i; byId[n.id] = n; });
  var parents = nodes.map(function () { return []; });
  var children = nodes.map(function () { return []; });
  INDEX.edges.forEach(function (e) { children[e[0]].push(e[1]); parents[e[1]].push(e[0]); });

  var $ = function (id) { return document.getElementById(id); };
  function esc(s) {
    return String(s == null ? "" : s).replace(/[&<>"]/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" }[c];
    });
  }
  function link(id, col) { return "#!/node/" + encodeURIComponent(id) + (col ? "/" + encodeURIComponent(col) : ""); }

  // Loading data files by <script>: the only way a file:// page may read other files.
  function loadScript(src) {
    return new Promise(function (ok, fail) {
      var s = document.createElement("script");
      s.src = src; s.onload = ok; s.onerror = function () { fail(new Error("cannot load " + src)); };
      document.head.appendChild(s);
    });
  }
  var shards = {}, pending = {};
  window.strataShard = function (k, data) { shards[k] = data; };
  function shard(k) {
    if (shards[k]) return Promise.resolve(shards[k]);
    if (!pending[k]) pending[k] = loadScript("docs/n/" + k + ".js").then(function () { return shards[k]; });
    return pending[k];
  }
  function detail(id) {
    var n = byId[id];
    if (!n) return Promise.resolve(null);
    return shard(n.shard).then(function (d) { return d && d[id]; });
  }
  var searchReady = null;
  function loadSearch() {
    if (!searchReady) searchReady = loadScript("docs/search.js");
    return searchReady;
  }

  // Search: names first, then descriptions and column names.
  function runSearch(q) {
    var t = performance.now();
    q = q.trim().toLowerCase();
    var box = $("results");
    if (!q) { box.hidden = true; return Promise.resolve(); }
    return loadSearch().then(function () {
      var texts = window.STRATA_SEARCH || [];
      var byName = [], byText = [];
      for (var i = 0; i < nodes.length && byName.length + byText.length < 400; i++) {
        if (nodes[i].name.toLowerCase().indexOf(q) >= 0) byName.push(nodes[i]);
        else if (texts[i] && texts[i].indexOf(q) >= 0) byText.push(nodes[i]);
      }
      var hits = byName.concat(byText).slice(0, 50);
      box.hidden = false;
      box.innerHTML = "<h2>" + hits.length + (hits.length === 50 ? "+" : "") + " results for “" + esc(q) + "”</h2><ol>" +
        hits.map(function (n) {
          return '<li class="hit" data-node="' + esc(n.id) + '"><span class="kind">' + esc(n.type) + '</span><a href="' +
            link(n.id) + '">' + esc(n.name) + '</a> <span class="muted">' + esc(n.pkg) + "</span></li>";
        }).join("") + "</ol>";
      document.body.setAttribute("data-search-ms", String(Math.round(performance.now() - t)));
      document.body.setAttribute("data-search-done-at-ms", String(Math.round(performance.now())));
      document.body.setAttribute("data-search-results", String(hits.length));
    });
  }

  // The lineage graph: the focus node, two levels up and down, at most 25 per level.
  function neighbourhood(i) {
    var levels = {}; levels[i] = 0;
    var walk = function (adj, dir) {
      var frontier = [i];
      for (var d = 1; d <= 2; d++) {
        var next = [];
        frontier.forEach(function (x) {
          adj[x].forEach(function (y) {
            if (levels[y] === undefined && next.length < 25) { levels[y] = d * dir; next.push(y); }
          });
        });
        frontier = next;
      }
    };
    walk(parents, -1); walk(children, 1);
    return levels;
  }
  function drawGraph(focus, highlight) {
    var levels = neighbourhood(focus.i);
    var cols = {}, pos = {};
    Object.keys(levels).forEach(function (k) { var l = levels[k]; (cols[l] = cols[l] || []).push(+k); });
    var W = 220, H = 46, maxRows = 1;
    Object.keys(cols).forEach(function (l) {
      cols[l].sort(function (a, b) { return nodes[a].name < nodes[b].name ? -1 : 1; });
      maxRows = Math.max(maxRows, cols[l].length);
      cols[l].forEach(function (x, r) { pos[x] = { x: (+l + 2) * W + 10, y: r * H + 10 }; });
    });
    var svg = ['<svg id="graph" viewBox="0 0 ' + (5 * W) + " " + (maxRows * H + 20) + '" data-nodes="' + Object.keys(pos).length + '">'];
    Object.keys(pos).forEach(function (k) {
      var a = +k;
      children[a].forEach(function (b) {
        if (!pos[b]) return;
        var p = pos[a], q = pos[b], x1 = p.x + 190, y1 = p.y + 17, x2 = q.x, y2 = q.y + 17;
        var hl = highlight && highlight[nodes[a].id] && highlight[nodes[b].id] ? " hl" : "";
        svg.push('<path class="edge' + hl + '" d="M' + x1 + "," + y1 + " C" + (x1 + 20) + "," + y1 + " " + (x2 - 20) + "," + y2 + " " + x2 + "," + y2 + '"/>');
      });
    });
    Object.keys(pos).forEach(function (k) {
      var n = nodes[+k], p = pos[k];
      var cls = "node " + n.type + (n.i === focus.i ? " focus" : "") + (highlight && highlight[n.id] ? " hl" : "");
      var label = n.name.length > 26 ? n.name.slice(0, 25) + "…" : n.name;
      var colText = highlight && highlight[n.id] ? highlight[n.id].join(", ") : "";
      svg.push('<g class="' + cls + '" data-node="' + esc(n.id) + '" transform="translate(' + p.x + "," + p.y + ')">' +
        '<rect width="190" height="34"></rect><text x="8" y="' + (colText ? 14 : 21) + '">' + esc(label) + "</text>" +
        (colText ? '<text class="cols" x="8" y="28">' + esc(colText.length > 30 ? colText.slice(0, 29) + "…" : colText) + "</text>" : "") +
        "</g>");
    });
    svg.push("</svg>");
    return svg.join("");
  }

  // Column lineage: every (node, column) upstream and downstream of one column.
  function columnLineage(id, column) {
    var seen = {}, ups = [], downs = [];
    function walk(nodeId, col, dir, depth) {
      if (depth > 6) return Promise.resolve();
      return detail(nodeId).then(function (d) {
        if (!d) return;
        var c = (d.columns || []).filter(function (x) { return x.name.toLowerCase() === col.toLowerCase(); })[0];
        if (!c) return;
        var next = dir < 0 ? c.upstream : c.downstream;
        return Promise.all(next.map(function (u) {
          var key = dir + "|" + u[0] + "|" + u[1] + "|" + u[2];
          if (seen[key]) return null;
          seen[key] = true;
          (dir < 0 ? ups : downs).push({ node: u[0], column: u[1], kind: u[2], depth: depth });
          return (u[2] === "filter" || u[2] === "join") ? null : walk(u[0], u[1], dir, depth + 1);
        }));
      });
    }
    return Promise.all([walk(id, column, -1, 1), walk(id, column, 1, 1)]).then(function () { return { up: ups, down: downs }; });
  }

  function showNode(id, column) {
    var n = byId[id], page = $("page");
    if (!n) { page.innerHTML = '<div class="card">No node ' + esc(id) + "</div>"; return Promise.resolve(); }
    return detail(id).then(function (d) {
      d = d || {};
      var html = ['<div class="card"><h1>' + esc(d.name || n.name) + '</h1><div class="meta"><span class="kind">' + esc(n.type) + "</span> " +
        esc(d.materialized || "") + (d.relation ? " · " + esc(d.relation) : "") + " · " + esc(n.pkg) + (d.path ? " · " + esc(d.path) : "") +
        (d.rows != null ? " · " + d.rows + " rows" : "") + "</div>" +
        (d.tags && d.tags.length ? "<div>" + d.tags.map(function (t) { return '<span class="tag">' + esc(t) + "</span>"; }).join("") + "</div>" : "") +
        "</div>"];
      if (d.description) html.push('<div class="card description">' + d.description + "</div>");
      html.push('<div class="card"><h2>Lineage <a class="explore" href="' + lineageHash("+" + (n.type === "source" ? "source:" : "") + n.name + "+", "", column ? n.name + "." + column : "", false) +
        '">open in the explorer</a></h2><div id="graph-wrap">' + drawGraph(n, null) + '</div><div id="column-lineage"></div></div>');
      if (d.columns && d.columns.length) {
        html.push('<div class="card"><h2>Columns</h2><table id="columns"><tr><th>Column</th><th>Type</th><th>Description</th><th>Tests</th></tr>' +
          d.columns.map(function (c) {
            var picked = column && c.name.toLowerCase() === column.toLowerCase() ? ' class="picked"' : "";
            return "<tr" + picked + ' data-column="' + esc(c.name) + '"><td class="col"><a href="' + link(id, c.name) + '">' + esc(c.name) + "</a></td><td>" +
              esc(c.type) + "</td><td>" + (c.description || "") + "</td><td>" + (c.tests || []).map(function (t) { return '<span class="tag">' + esc(t) + "</span>"; }).join("") + "</td></tr>";
          }).join("") + "</table></div>");
      }
      if (d.tests && d.tests.length) html.push('<div class="card"><h2>Tests</h2>' + d.tests.map(function (t) { return '<span class="tag">' + esc(t) + "</span>"; }).join("") + "</div>");
      var rel = function (title, list) {
        return list && list.length ? "<h2>" + title + "</h2><ul>" + list.map(function (x) {
          var m = byId[x]; return '<li><span class="kind">' + esc(m ? m.type : "") + '</span><a href="' + link(x) + '">' + esc(m ? m.name : x) + "</a></li>";
        }).join("") + "</ul>" : "";
      };
      html.push('<div class="card">' + rel("Depends on", d.parents) + rel("Referenced by", d.children) + "</div>");
      if (d.raw_sql) html.push('<div class="card"><h2>Source</h2><pre>' + esc(d.raw_sql) + "</pre></div>");
      if (d.compiled_sql) html.push('<div class="card"><h2>Compiled</h2><pre>' + esc(d.compiled_sql) + "</pre></div>");
      page.innerHTML = html.join("");
      if (!column) return;
      return columnLineage(id, column).then(function (cl) {
        var hl = {};
        hl[id] = [column];
        cl.up.concat(cl.down).forEach(function (x) { (hl[x.node] = hl[x.node] || []).indexOf(x.column) < 0 && hl[x.node].push(x.column); });
        $("graph-wrap").innerHTML = drawGraph(n, hl);
        var item = function (x) {
          var m = byId[x.node];
          return '<li><a href="' + link(x.node, x.column) + '">' + esc(m ? m.name : x.node) + "." + esc(x.column) + '</a> <span class="muted">' + esc(x.kind) + "</span></li>";
        };
        $("column-lineage").innerHTML = '<h2>Column ' + esc(column) + '</h2><div class="lineage-list" data-upstream="' + cl.up.length +
          '" data-downstream="' + cl.down.length + '"><b>Upstream</b><ul>' + (cl.up.map(item).join("") || '<li class="muted">none</li>') +
          "</ul><b>Downstream</b><ul>" + (cl.down.map(item).join("") || '<li class="muted">none</li>') + "</ul></div>";
      });
    });
  }

  // The sidebar: the project tree by folder, or relations by database and schema. A branch's
  // children are built and drawn only when it is opened, so 10,000 nodes cost nothing until then.
  var sideView = "project", opened = { project: {}, database: {} }, current = null;
  var trees = {};
  // Where a node sits in a view's tree: its folder (tests together under <package>/tests), or
  // its database/schema (none for tests and ephemeral models).
  function place(view, n) {
    if (view === "database") return n.schema;
    return n.type === "test" ? n.pkg + "/tests" : n.folder;
  }
  function tree(view) {
    if (trees[view]) return trees[view];
    var t = { "": { dirs: {}, leaves: [] } };
    var add = function (path) {
      if (t[path]) return t[path];
      var cut = path.lastIndexOf("/");
      var up = cut < 0 ? "" : path.slice(0, cut);
      add(up).dirs[path] = true;
      return (t[path] = { dirs: {}, leaves: [] });
    };
    nodes.forEach(function (n) {
      var key = place(view, n);
      if (key) add(key).leaves.push(n.i);
    });
    if (view === "project") MACROS.forEach(function (m, k) { var b = add(m.folder); (b.macros = b.macros || []).push(k); });
    return (trees[view] = t);
  }
  function branch(view, path) {
    var t = tree(view), b = t[path];
    if (!b) return "";
    var dirs = Object.keys(b.dirs).sort();
    var leaves = b.leaves.slice().sort(function (x, y) { return nodes[x].name < nodes[y].name ? -1 : 1; });
    return '<ul class="tree">' + dirs.map(function (d) {
      var open = !!opened[view][d];
      return '<li><a class="dir' + (open ? " open" : "") + '" data-dir="' + esc(d) + '" href="#!/folder/' + encodeURIComponent(view) + "/" +
        encodeURIComponent(d) + '">' + esc(d.slice(d.lastIndexOf("/") + 1)) + "</a>" + (open ? branch(view, d) : "") + "</li>";
    }).join("") + leaves.map(function (i) {
      var n = nodes[i];
      return '<li><a class="leaf ' + esc(n.type) + (n.id === current ? " current" : "") + '" href="' + link(n.id) + '">' + esc(n.name) + "</a></li>";
    }).join("") + (b.macros || []).map(function (k) {
      var m = MACROS[k];
      return '<li><a class="leaf macro' + (m.id === current ? " current" : "") + '" href="#!/macro/' + encodeURIComponent(m.id) + '">' + esc(m.name) + "</a></li>";
    }).join("") + "</ul>";
  }
  function openPath(view, path) {
    var parts = path.split("/");
    for (var k = 1; k <= parts.length; k++) opened[view][parts.slice(0, k).join("/")] = true;
  }
  function drawSidebar() {
    var side = $("sidebar");
    if (!side) return;
    side.innerHTML = '<div class="views"><a href="#" data-view="project" class="' + (sideView === "project" ? "on" : "") + '">Project</a>' +
      '<a href="#" data-view="database" class="' + (sideView === "database" ? "on" : "") + '">Database</a></div>' + branch(sideView, "");
    side.setAttribute("data-view", sideView);
    side.setAttribute("data-links", String(side.querySelectorAll("a.leaf").length));
  }
  // A folder's page: its subfolders and nodes, the branch opened in the sidebar.
  function showFolder(view, path) {
    sideView = view;
    openPath(view, path);
    var b = tree(view)[path];
    if (!b) return Promise.reject(new Error("no folder " + path));
    $("page").innerHTML = '<div class="card" id="folder" data-folder="' + esc(path) + '"><h1>' + esc(path) + "</h1><ul>" +
      Object.keys(b.dirs).sort().map(function (d) {
        return '<li><a href="#!/folder/' + encodeURIComponent(view) + "/" + encodeURIComponent(d) + '">' + esc(d.slice(d.lastIndexOf("/") + 1)) + "/</a></li>";
      }).join("") + b.leaves.map(function (i) {
        return '<li><span class="kind">' + esc(nodes[i].type) + '</span><a href="' + link(nodes[i].id) + '">' + esc(nodes[i].name) + "</a></li>";
      }).join("") + (b.macros || []).map(function (k) {
        return '<li><span class="kind">macro</span><a href="#!/macro/' + encodeURIComponent(MACROS[k].id) + '">' + esc(MACROS[k].name) + "</a></li>";
      }).join("") + "</ul></div>";
    return Promise.resolve();
  }

  // The home page: the project's __overview__ doc block, what it has, documentation coverage,
  // the most-referenced models and the last run's results, with links.
  function overview() {
    var o = INDEX.overview || {};
    var counts = {};
    nodes.forEach(function (n) { counts[n.type] = (counts[n.type] || 0) + 1; });
    var nodeLink = function (id) {
      var n = byId[id];
      return '<a href="' + link(id) + '">' + esc(n ? n.name : id) + "</a>";
    };
    var pct = function (k) { return o.models ? Math.round(100 * k / o.models) : 100; };
    var list = function (ids, total) {
      if (!ids || !ids.length) return '<span class="muted">none</span>';
      var more = total - ids.length;
      return ids.map(nodeLink).join(", ") + (more > 0 ? ' <span class="muted">and ' + more + " more</span>" : "");
    };
    var html = ['<div class="card"><h1>' + esc(INDEX.project) + '</h1><div class="meta">generated ' + esc(INDEX.generated_at) + "</div>" +
      (o.text ? '<div class="overview-text">' + o.text + "</div>" : "") + "<p>" +
      Object.keys(counts).sort().map(function (k) { return counts[k] + " " + esc(k) + (counts[k] === 1 ? "" : "s"); }).join(" · ") +
      "</p>" + (o.by_materialization ? '<p class="muted">models: ' + Object.keys(o.by_materialization).map(function (k) {
        return o.by_materialization[k] + " " + esc(k);
      }).join(" · ") + "</p>" : "") +
      '<p class="muted">Search above for a model, a source, a column or words of a description.</p></div>'];
    if (o.models !== undefined) {
      html.push('<div class="card" id="coverage" data-described="' + pct(o.described) + '" data-tested="' + pct(o.tested) + '"><h2>Documentation coverage</h2>' +
        "<p><b>" + pct(o.described) + "%</b> of " + o.models + " models described · <b>" + pct(o.tested) + "%</b> tested</p>" +
        "<p>Without a description: " + list(o.undescribed, o.models - o.described) + "</p>" +
        "<p>Without a test: " + list(o.untested, o.models - o.tested) + "</p></div>");
    }
    if (o.most_referenced && o.most_referenced.length) {
      html.push('<div class="card"><h2>Most referenced models</h2><ul>' + o.most_referenced.map(function (r) {
        return "<li>" + nodeLink(r[0]) + ' <span class="muted">' + r[1] + " downstream</span></li>";
      }).join("") + "</ul></div>");
    }
    var run = o.last_run;
    if (run) {
      html.push('<div class="card" id="last-run"><h2>Last run</h2><p>' + esc(run.command || "") + " at " + esc(run.generated_at || "") +
        (run.elapsed != null ? " in " + Number(run.elapsed).toFixed(1) + " s" : "") + ": " +
        Object.keys(run.counts).map(function (k) { return run.counts[k] + " " + esc(k); }).join(" · ") + "</p>" +
        (run.problems.length ? "<ul>" + run.problems.map(function (p) {
          return "<li>" + nodeLink(p[0]) + ' <span class="tag">' + esc(p[1]) + '</span> <span class="muted">' + esc(p[2] || "") + "</span></li>";
        }).join("") + "</ul>" : "") + "</div>");
    }
    $("page").innerHTML = html.join("");
    return Promise.resolve();
  }

  // The lineage explorer: a selector in strata's grammar (the CLI's `--select` and `--exclude`),
  // the selected nodes laid out left to right by dependency depth, zoom and pan, click to open.
  var METHODS = ["fqn", "tag", "path", "file", "package", "config", "resource_type", "source", "test_type", "test_name",
    "state", "result", "source_status", "version", "exposure"];
  // Methods that need more than the site has (another build, run results, versions).
  var ELSEWHERE = { state: "--state", result: "--state", source_status: "--state", version: "versions" };
  var MAX_DRAWN = 2000;
  var selectReady = null;
  function loadSelect() {
    if (!selectReady) selectReady = loadScript("docs/select.js");
    return selectReady;
  }
  // A selector problem as the CLI prints it (E0601, the selector as the source line, a caret).
  function selectorError(text, start, len, msg, help) {
    return { msg: msg, col: start + 1, len: Math.max(len, 1), text: text, help: help };
  }
  function renderSelectorError(e) {
    var gutter = "  ";
    return "error[E0601]: " + e.msg + "\n --> --select:1:" + e.col + "\n" + gutter + "|\n1 | " + e.text + "\n" + gutter + "| " +
      new Array(e.col).join(" ") + new Array(e.len + 1).join("^") + (e.help ? "\n" + gutter + "= help: " + e.help : "") + "\n";
  }
  // difflib-style closeness (2 × matched characters / total length, cutoff 0.6), as the CLI's
  // "did you mean" uses.
  function closest(word, candidates) {
    var best = null, bestScore = 0.6;
    candidates.forEach(function (c) {
      var a = word, b = c, m = [];
      for (var i = 0; i <= a.length; i++) { m.push([]); for (var j = 0; j <= b.length; j++) m[i].push(0); }
      for (i = 1; i <= a.length; i++) for (j = 1; j <= b.length; j++)
        m[i][j] = a[i - 1] === b[j - 1] ? m[i - 1][j - 1] + 1 : Math.max(m[i - 1][j], m[i][j - 1]);
      var score = 2 * m[a.length][b.length] / (a.length + b.length || 1);
      if (score >= bestScore && (best === null || score > bestScore)) { best = c; bestScore = score; }
    });
    return best === null ? null : "did you mean '" + best + "'?";
  }
  function parseAtom(text, atom, start) {
    var body = atom, at = false, parents = null, children = null, digits = /^[0-9]*$/;
    if (body.charAt(0) === "@") { at = true; body = body.slice(1); }
    var i = body.indexOf("+");
    if (i >= 0 && digits.test(body.slice(0, i))) { parents = { depth: i ? +body.slice(0, i) : null }; body = body.slice(i + 1); }
    i = body.lastIndexOf("+");
    if (i >= 0 && digits.test(body.slice(i + 1))) { children = { depth: i + 1 < body.length ? +body.slice(i + 1) : null }; body = body.slice(0, i); }
    if (at && (parents || children)) throw selectorError(text, start, atom.length, "`@` cannot be combined with `+`", "use either @model or +model+");
    var method = "fqn", arg = null, value = body, colon = body.indexOf(":");
    if (colon >= 0) {
      method = body.slice(0, colon); value = body.slice(colon + 1);
      var dot = method.indexOf(".");
      if (dot >= 0) { arg = method.slice(dot + 1); method = method.slice(0, dot); }
      if (METHODS.indexOf(method) < 0) {
        throw selectorError(text, start + Math.max(atom.indexOf(method), 0), method.length, "unknown selector method '" + method + "'", closest(method, METHODS));
      }
      if (method === "config" && arg === null) throw selectorError(text, start, body.length, "`config` needs a key, as in config.materialized:table", null);
    }
    if (!value) throw selectorError(text, Math.min(start + atom.length, text.length), 1, "selector has no value", "write a name after the method, as in tag:nightly");
    return { at: at, parents: parents, children: children, method: method, arg: arg, value: value };
  }
  function parseSelector(text) {
    var unions = [], offset = 0;
    text.split(" ").forEach(function (term) {
      var termStart = offset;
      offset += term.length + 1;
      if (!term) return;
      var inter = [], aoff = termStart;
      term.split(",").forEach(function (atom) {
        var astart = aoff;
        aoff += atom.length + 1;
        if (!atom) throw selectorError(text, astart, 1, "empty selector between commas", "remove the extra comma");
        inter.push(parseAtom(text, atom, astart));
      });
      unions.push(inter);
    });
    return unions;
  }
  var globs = {};
  function glob(pattern, s) {
    var re = globs[pattern] || (globs[pattern] = new RegExp("^" + pattern.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".") + "$"));
    return re.test(s);
  }
  function pathMatch(file, v) {
    v = v.replace(/\/+$/, "");
    return file === v || file.indexOf(v + "/") === 0 || glob(v, file);
  }
  function fqnMatch(fqn, v) {
    if (glob(v, fqn[fqn.length - 1])) return true;
    var parts = v.split(".");
    var from = function (k) {
      if (fqn.length - k < parts.length) return false;
      for (var i = 0; i < parts.length; i++) if (!glob(parts[i], fqn[k + i])) return false;
      return true;
    };
    return from(0) || (fqn.length > 1 && from(1));
  }
  // Which nodes one atom's method matches (before its graph operators).
  function atomMatches(atom) {
    var S = window.STRATA_SELECT, v = atom.value, out = [];
    if (ELSEWHERE[atom.method] || (atom.method === "config" && atom.arg !== "materialized")) {
      throw { notice: "`" + atom.method + (atom.arg ? "." + atom.arg : "") + ":` is not available in the docs site" +
        (ELSEWHERE[atom.method] ? " (it needs " + ELSEWHERE[atom.method] + "); use it with the CLI" : " (only config.materialized is)") };
    }
    nodes.forEach(function (n, i) {
      var f = S.nodes[i] || [], fqn = String(f[0] || "").split("."), file = f[1] || "", hit = false;
      var isSource = n.type === "source", isExposure = n.type === "exposure";
      switch (atom.method) {
        case "fqn":
          hit = !isSource && !isExposure && (v.indexOf("/") >= 0 || /\.(sql|csv)$/.test(v)) ? pathMatch(file, v) : (!isExposure && fqnMatch(fqn, v));
          break;
        case "tag": hit = (f[2] || []).some(function (t) { return glob(v, S.tags[t]); }); break;
        case "path": hit = !isExposure && pathMatch(file, v); break;
        case "file":
          var base = file.slice(file.lastIndexOf("/") + 1);
          hit = !isSource && !isExposure && (glob(v, base) || (base.indexOf(".") >= 0 && glob(v, base.slice(0, base.lastIndexOf(".")))));
          break;
        case "package": hit = glob(v, n.pkg); break;
        case "resource_type": hit = n.type === v || (v === "data_test" && n.type === "test"); break;
        case "config": hit = f[3] != null && glob(v, S.materialized[f[3]]); break;
        case "source":
          if (isSource) {
            var p = v.split("."), dot = n.name.indexOf(".");
            var src = n.name.slice(0, dot), tbl = n.name.slice(dot + 1);
            hit = p.length === 1 ? glob(p[0], src) : p.length === 2 && glob(p[0], src) && glob(p[1], tbl);
          }
          break;
        case "test_type":
          hit = n.type === "test" && (v === "data" || (v === "generic" && /^generic:/.test(f[5] || "")) || (v === "singular" && f[5] === "singular"));
          break;
        case "test_name": hit = /^generic:/.test(f[5] || "") && glob(v, f[5].slice(8)); break;
        case "exposure": hit = isExposure && glob(v, n.name); break;
      }
      if (hit) out.push(i);
    });
    return out;
  }
  // Nodes `depth` levels along `adj` from i (every level when depth is null).
  function walk(i, adj, depth, into) {
    var frontier = [i], d = 0, seen = {};
    seen[i] = true;
    while (frontier.length && (depth === null || d < depth)) {
      var next = [];
      frontier.forEach(function (x) { adj[x].forEach(function (y) { if (!seen[y]) { seen[y] = true; into[y] = true; next.push(y); } }); });
      frontier = next; d++;
    }
  }
  function selectAtom(atom) {
    var out = {};
    atomMatches(atom).forEach(function (i) {
      out[i] = true;
      if (atom.parents) walk(i, parents, atom.parents.depth, out);
      if (atom.children) walk(i, children, atom.children.depth, out);
      if (atom.at) {
        var down = {};
        walk(i, children, null, down);
        Object.keys(down).forEach(function (d) { out[d] = true; walk(+d, parents, null, out); });
      }
    });
    return out;
  }
  function evaluate(unions) {
    var out = {};
    unions.forEach(function (inter) {
      var acc = null;
      inter.forEach(function (atom) {
        var s = selectAtom(atom);
        if (acc === null) acc = s;
        else Object.keys(acc).forEach(function (k) { if (!s[k]) delete acc[k]; });
      });
      Object.keys(acc || {}).forEach(function (k) { out[k] = true; });
    });
    return out;
  }
  // Columns by depth: a node sits one column right of its deepest selected parent.
  function layout(chosen) {
    var depth = {}, cols = [];
    var depthOf = function (x) {
      if (depth[x] !== undefined) return depth[x];
      depth[x] = 0;
      var d = 0;
      parents[x].forEach(function (p) { if (chosen[p]) d = Math.max(d, depthOf(p) + 1); });
      return (depth[x] = d);
    };
    Object.keys(chosen).forEach(function (k) { var d = depthOf(+k); (cols[d] = cols[d] || []).push(+k); });
    var W = 240, H = 44, pos = {}, rows = 1;
    cols.forEach(function (col, d) {
      col.sort(function (a, b) { return nodes[a].name < nodes[b].name ? -1 : nodes[a].name > nodes[b].name ? 1 : 0; });
      rows = Math.max(rows, col.length);
      col.forEach(function (x, r) { pos[x] = { x: d * W + 10, y: r * H + 10 }; });
    });
    return { pos: pos, width: cols.length * W + 20, height: rows * H + 20 };
  }
  function explorerSvg(chosen, hl) {
    var S = window.STRATA_SELECT, L = layout(chosen), pos = L.pos, out = [];
    out.push('<svg id="explorer-svg" data-nodes="' + Object.keys(pos).length + '" viewBox="0 0 ' + L.width + " " + L.height +
      '" preserveAspectRatio="xMinYMin meet" data-width="' + L.width + '" data-height="' + L.height + '"><g id="viewport">');
    Object.keys(pos).forEach(function (k) {
      children[+k].forEach(function (c) {
        if (!pos[c]) return;
        var p = pos[k], q = pos[c], x1 = p.x + 190, y1 = p.y + 17, x2 = q.x, y2 = q.y + 17;
        var on = hl && hl[nodes[+k].id] && hl[nodes[c].id] ? " hl" : "";
        out.push('<path class="edge' + on + '" d="M' + x1 + "," + y1 + " C" + (x1 + 25) + "," + y1 + " " + (x2 - 25) + "," + y2 + " " + x2 + "," + y2 + '"/>');
      });
    });
    Object.keys(pos).forEach(function (k) {
      var n = nodes[+k], p = pos[k], f = S.nodes[+k] || [];
      var color = f[4] ? ' style="fill:' + esc(f[4]) + '"' : "";
      var cols = hl && hl[n.id] ? hl[n.id].join(", ") : "";
      var label = n.name.length > 26 ? n.name.slice(0, 25) + "…" : n.name;
      out.push('<g class="node ' + esc(n.type) + (cols ? " hl" : "") + '" data-node="' + esc(n.id) + '"' + (f[4] ? ' data-color="' + esc(f[4]) + '"' : "") +
        ' transform="translate(' + p.x + "," + p.y + ')"><title>' + esc(n.type + " " + n.name) + "</title>" +
        '<rect width="190" height="34"' + (cols ? "" : color) + '></rect><text x="8" y="' + (cols ? 14 : 21) + '">' + esc(label) + "</text>" +
        (cols ? '<text class="cols" x="8" y="28">' + esc(cols.length > 30 ? cols.slice(0, 29) + "…" : cols) + "</text>" : "") + "</g>");
    });
    out.push("</g></svg>");
    return out.join("");
  }
  function lineageHash(sel, exc, col, tests, max) {
    var q = [];
    if (sel) q.push("select=" + encodeURIComponent(sel));
    if (exc) q.push("exclude=" + encodeURIComponent(exc));
    if (col) q.push("column=" + encodeURIComponent(col));
    if (tests) q.push("tests=1");
    if (max) q.push("max=" + max);
    return "#!/lineage" + (q.length ? "?" + q.join("&") : "");
  }
  // `name.column` (or `unique_id.column`): the node, preferring models, and the column.
  function pickColumn(text) {
    var cut = text.lastIndexOf(".");
    if (cut < 0) return null;
    var name = text.slice(0, cut), col = text.slice(cut + 1), found = byId[name];
    if (!found) {
      var rank = { model: 0, snapshot: 1, seed: 2, source: 3 };
      nodes.forEach(function (n) {
        if (n.name === name && (!found || (rank[n.type] === undefined ? 9 : rank[n.type]) < (rank[found.type] === undefined ? 9 : rank[found.type]))) found = n;
      });
    }
    return found ? { id: found.id, column: col } : null;
  }
  var view = { k: 1, x: 0, y: 0 };
  function applyView() {
    var g = $("viewport");
    if (g) g.setAttribute("transform", "translate(" + view.x + "," + view.y + ") scale(" + view.k + ")");
  }
  function showExplorer(params) {
    var t0 = performance.now();
    var sel = params.get("select") || "", exc = params.get("exclude") || "", col = params.get("column") || "", tests = params.get("tests") === "1";
    var max = Number(params.get("max")) || MAX_DRAWN;
    $("page").innerHTML = '<div class="card" id="explorer"><h1>Lineage explorer</h1><form id="explorer-form">' +
      '<input id="explorer-select" placeholder="--select, e.g. +customers, tag:finance+, @orders, source:raw+2" value="' + esc(sel) + '">' +
      '<input id="explorer-exclude" placeholder="--exclude" value="' + esc(exc) + '">' +
      '<input id="explorer-column" placeholder="column, e.g. orders.amount" value="' + esc(col) + '">' +
      '<label><input type="checkbox" id="explorer-tests"' + (tests ? " checked" : "") + "> tests</label>" +
      '<button type="submit">Draw</button></form><div id="explorer-status" class="muted"></div><pre id="explorer-error" hidden></pre>' +
      '<div id="explorer-canvas"></div><p class="muted legend"><span class="sw model"></span>model <span class="sw seed"></span>seed ' +
      '<span class="sw snapshot"></span>snapshot <span class="sw source"></span>source <span class="sw exposure"></span>exposure ' +
      '<span class="sw test"></span>test · wheel to zoom, drag to pan, click to open</p></div>';
    if (!sel) { $("explorer-status").textContent = "Write a selector to draw its nodes."; return Promise.resolve(); }
    return loadSelect().then(function () {
      var chosen;
      try {
        chosen = evaluate(parseSelector(sel));
        if (exc) Object.keys(evaluate(parseSelector(exc))).forEach(function (k) { delete chosen[k]; });
      } catch (e) {
        if (e && e.notice) { $("explorer-status").textContent = e.notice; $("explorer").setAttribute("data-notice", e.notice); return; }
        if (!e || e.msg === undefined) throw e;
        $("explorer-error").hidden = false;
        $("explorer-error").textContent = renderSelectorError(e);
        $("explorer").setAttribute("data-error", e.msg);
        return;
      }
      if (!tests) Object.keys(chosen).forEach(function (k) { if (nodes[+k].type === "test") delete chosen[k]; });
      var count = Object.keys(chosen).length;
      $("explorer").setAttribute("data-count", String(count));
      if (count > max) {
        $("explorer-status").innerHTML = '<span id="too-many"><b>' + count + " nodes</b> match: more than " + max + " are not drawn, as the page " +
          "would stall. Narrow the selection (a graph operator with a depth such as <code>2+name</code>, a <code>tag:</code> or <code>path:</code>, " +
          'or <code>--exclude</code>), or <a href="' + lineageHash(sel, exc, col, tests, count) + '">draw them anyway</a>.</span>';
        return;
      }
      $("explorer-status").textContent = count + " node" + (count === 1 ? "" : "s");
      var picked = col ? pickColumn(col) : null;
      if (col && !picked) $("explorer-status").textContent += " · no node has the name " + col.slice(0, Math.max(col.lastIndexOf("."), 0)) + " (write the column as name.column)";
      var highlight = picked ? columnLineage(picked.id, picked.column).then(function (cl) {
        var hl = {};
        hl[picked.id] = [picked.column];
        cl.up.concat(cl.down).forEach(function (x) { (hl[x.node] = hl[x.node] || []).indexOf(x.column) < 0 && hl[x.node].push(x.column); });
        return hl;
      }) : Promise.resolve(null);
      return highlight.then(function (hl) {
        $("explorer-canvas").innerHTML = explorerSvg(chosen, hl);
        // As tall as the drawing at the page's width, up to 70 % of the window.
        var svg = $("explorer-svg"), w = $("explorer-canvas").clientWidth || 1000;
        var h = Math.max(160, Math.min(+svg.getAttribute("data-height") * Math.min(1, w / +svg.getAttribute("data-width")), 0.7 * window.innerHeight));
        svg.style.height = Math.round(h) + "px";
        if (hl) $("explorer").setAttribute("data-highlighted", String(Object.keys(hl).filter(function (id) { return chosen[byId[id] ? byId[id].i : -1]; }).length));
        view = { k: 1, x: 0, y: 0 };
        applyView();
        document.body.setAttribute("data-explorer-ms", String(Math.round(performance.now() - t0)));
      });
    });
  }
  // Zoom around the pointer, pan by dragging; a drag does not open the node it ends on.
  var drag = null;
  document.addEventListener("wheel", function (e) {
    var svg = e.target.closest && e.target.closest("#explorer-svg");
    if (!svg) return;
    e.preventDefault();
    var r = svg.getBoundingClientRect(), vb = svg.viewBox.baseVal, s = vb.width / r.width;
    var px = (e.clientX - r.left) * s, py = (e.clientY - r.top) * s, f = e.deltaY < 0 ? 1.15 : 1 / 1.15;
    view.x = px - (px - view.x) * f; view.y = py - (py - view.y) * f; view.k *= f;
    applyView();
  }, { passive: false });
  document.addEventListener("mousedown", function (e) {
    var svg = e.target.closest && e.target.closest("#explorer-svg");
    if (svg) drag = { x: e.clientX, y: e.clientY, vx: view.x, vy: view.y, moved: false, s: svg.viewBox.baseVal.width / svg.getBoundingClientRect().width };
  });
  document.addEventListener("mousemove", function (e) {
    if (!drag) return;
    var dx = e.clientX - drag.x, dy = e.clientY - drag.y;
    if (Math.abs(dx) + Math.abs(dy) > 3) drag.moved = true;
    view.x = drag.vx + dx * drag.s; view.y = drag.vy + dy * drag.s;
    applyView();
  });
  document.addEventListener("mouseup", function () { setTimeout(function () { drag = null; }, 0); });
  document.addEventListener("submit", function (e) {
    if (e.target.id !== "explorer-form") return;
    e.preventDefault();
    location.hash = lineageHash($("explorer-select").value.trim(), $("explorer-exclude").value.trim(), $("explorer-column").value.trim(), $("explorer-tests").checked);
  });

  // Macro pages: every macro by package, and one macro's description, documented arguments,
  // callers and source (docs/macros.js, read when a macro page first opens).
  var macrosReady = null;
  function loadMacros() {
    if (!macrosReady) macrosReady = loadScript("docs/macros.js");
    return macrosReady;
  }
  function macroLink(id) { return "#!/macro/" + encodeURIComponent(id); }
  function showMacros() {
    var byPkg = {};
    MACROS.forEach(function (m) { (byPkg[m.pkg] = byPkg[m.pkg] || []).push(m); });
    var pkgs = Object.keys(byPkg).sort(function (a, b) { return (a === INDEX.project ? "" : a) < (b === INDEX.project ? "" : b) ? -1 : 1; });
    $("page").innerHTML = '<div class="card" id="macros" data-count="' + MACROS.length + '"><h1>Macros</h1>' + pkgs.map(function (p) {
      return "<h2>" + esc(p) + ' <span class="muted">' + byPkg[p].length + "</span></h2><ul>" + byPkg[p].sort(function (a, b) { return a.name < b.name ? -1 : 1; }).map(function (m) {
        return '<li><a href="' + macroLink(m.id) + '">' + esc(m.name) + "</a></li>";
      }).join("") + "</ul>";
    }).join("") + "</div>";
    return Promise.resolve();
  }
  function showMacro(id) {
    return loadMacros().then(function () {
      var m = (window.STRATA_MACROS || {})[id];
      if (!m) { $("page").innerHTML = '<div class="card">No macro ' + esc(id) + "</div>"; return; }
      var html = ['<div class="card" id="macro" data-macro="' + esc(id) + '"><h1>' + esc(m.name) + '</h1><div class="meta"><span class="kind">macro</span> ' +
        esc(m.package) + " · " + esc(m.path) + '</div><pre class="signature">' + esc(m.signature) + "</pre></div>"];
      if (m.description) html.push('<div class="card description">' + m.description + "</div>");
      if (m.arguments.length) {
        html.push('<div class="card"><h2>Arguments</h2><table id="arguments"><tr><th>Argument</th><th>Type</th><th>Description</th></tr>' +
          m.arguments.map(function (a) { return '<tr><td class="col">' + esc(a.name) + "</td><td>" + esc(a.type || "") + "</td><td>" + esc(a.description) + "</td></tr>"; }).join("") +
          "</table></div>");
      }
      html.push('<div class="card" id="called-by" data-count="' + m.called_by.length + '"><h2>Called by</h2>' + (m.called_by.length ? "<ul>" + m.called_by.map(function (c) {
        if (c.indexOf("macro.") === 0) return '<li><span class="kind">macro</span><a href="' + macroLink(c) + '">' + esc(c.split(".").slice(2).join(".")) + "</a></li>";
        var n = byId[c];
        return '<li><span class="kind">' + esc(n ? n.type : "") + '</span><a href="' + link(c) + '">' + esc(n ? n.name : c) + "</a></li>";
      }).join("") + "</ul>" : '<p class="muted">nothing in the project calls it</p>') + "</div>");
      html.push('<div class="card"><h2>Source</h2><pre>' + esc(m.source) + "</pre></div>");
      $("page").innerHTML = html.join("");
    });
  }

  function route() {
    var h = decodeURIComponent(location.hash.replace(/^#!?\/?/, ""));
    var done;
    if (h.indexOf("search/") === 0) {
      var q = h.slice(7);
      $("search").value = q;
      done = runSearch(q).then(overviewIfEmpty);
    } else if (h.indexOf("node/") === 0) {
      var rest = location.hash.replace(/^#!?\/node\//, "").split("/");
      $("results").hidden = true;
      current = decodeURIComponent(rest[0]);
      var n = byId[current];
      if (n && place(sideView, n)) openPath(sideView, place(sideView, n));
      done = showNode(current, rest[1] ? decodeURIComponent(rest[1]) : null);
    } else if (h.indexOf("macro/") === 0) {
      $("results").hidden = true;
      current = h.slice(6);
      var mm = MACROS.filter(function (x) { return x.id === current; })[0];
      if (mm) openPath("project", mm.folder);
      done = showMacro(current);
    } else if (h === "macros") {
      $("results").hidden = true;
      current = null;
      done = showMacros();
    } else if (h.indexOf("lineage") === 0) {
      $("results").hidden = true;
      current = null;
      var qs = location.hash.indexOf("?");
      done = showExplorer(new URLSearchParams(qs < 0 ? "" : location.hash.slice(qs + 1)));
    } else if (h.indexOf("folder/") === 0) {
      var f = location.hash.replace(/^#!?\/folder\//, "").split("/");
      $("results").hidden = true;
      done = showFolder(decodeURIComponent(f[0]), decodeURIComponent(f.slice(1).join("/")));
    } else {
      current = null;
      done = overview();
    }
    drawSidebar();
    return done.then(function () { document.body.setAttribute("data-route-done", h || "/"); }, function (e) {
      document.body.setAttribute("data-error", String(e && e.message || e));
    });
  }
  function overviewIfEmpty() { if (!$("page").innerHTML) return overview(); }

  var typing = null;
  $("search").addEventListener("input", function (e) {
    clearTimeout(typing);
    var q = e.target.value;
    typing = setTimeout(function () { runSearch(q); }, 80);
  });
  // Opening and closing a folder in the sidebar, switching its view.
  $("sidebar").addEventListener("click", function (e) {
    var v = e.target.closest && e.target.closest("[data-view]");
    if (v && v.tagName === "A") { e.preventDefault(); sideView = v.getAttribute("data-view"); drawSidebar(); return; }
    var d = e.target.closest && e.target.closest("a.dir");
    if (d && opened[sideView][d.getAttribute("data-dir")]) {
      e.preventDefault();
      delete opened[sideView][d.getAttribute("data-dir")];
      drawSidebar();
    }
  });
  // Keyboard: `/` focuses search; arrows move through the results, Enter opens, Escape closes.
  document.addEventListener("keydown", function (e) {
    var a = document.activeElement, typing = a && (a.tagName === "INPUT" || a.tagName === "TEXTAREA");
    if (e.key === "/" && !typing) { e.preventDefault(); $("search").focus(); $("search").select(); return; }
    var hits = Array.prototype.slice.call(document.querySelectorAll("#results li.hit a"));
    if ($("results").hidden || !hits.length) return;
    var at = hits.indexOf(a);
    if (e.key === "ArrowDown" && (a === $("search") || at >= 0)) { e.preventDefault(); hits[Math.min(at + 1, hits.length - 1)].focus(); }
    else if (e.key === "ArrowUp" && at >= 0) { e.preventDefault(); if (at === 0) $("search").focus(); else hits[at - 1].focus(); }
    else if (e.key === "Enter" && a === $("search")) { e.preventDefault(); location.hash = hits[0].getAttribute("href"); }
    else if (e.key === "Escape") { $("results").hidden = true; $("search").blur(); }
  });
  $("toggle-sidebar").addEventListener("click", function () { document.body.classList.toggle("no-sidebar"); });
  $("page").addEventListener("click", function (e) {
    var g = e.target.closest && e.target.closest("g.node");
    if (g && !(drag && drag.moved)) location.hash = link(g.getAttribute("data-node"));
  });
  window.addEventListener("hashchange", route);
  route().then(function () {
    // Milliseconds since the navigation started (the page's own script ran T0 ms in).
    document.body.setAttribute("data-first-view-ms", String(Math.round(performance.now())));
    document.body.setAttribute("data-script-start-ms", String(Math.round(T0)));
    // The search index arrives while the reader looks at the first page.
    setTimeout(loadSearch, 0);
  });
})();
