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
      html.push('<div class="card"><h2>Lineage</h2><div id="graph-wrap">' + drawGraph(n, null) + '</div><div id="column-lineage"></div></div>');
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
  $("toggle-sidebar").addEventListener("click", function () { document.body.classList.toggle("no-sidebar"); });
  $("page").addEventListener("click", function (e) {
    var g = e.target.closest && e.target.closest("g.node");
    if (g) location.hash = link(g.getAttribute("data-node"));
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
