"use strict";
// inspectr's HTML reports (diff, gate, audit, verify, behave). A change list (diff, gate) is read
// from the JSON in #data and only what is in view is drawn: the first PAGE matching rows, more as
// the list is scrolled, details and side-by-side diffs when a row is opened, directory levels when
// they are expanded. Every string from the image is set as textContent.
(function () {
  var PAGE = 200;
  var root = document.documentElement;
  // The audit page: its findings are static rows; severity boxes and the search hide rows, and a
  // rule whose rows are all hidden hides its heading too.
  function findings() {
    var box = document.getElementById("findings");
    if (!box) return;
    var rows = box.querySelectorAll("tr.finding"), rules = box.querySelectorAll("tbody.rule"), off = {}, query = "", text = null;
    var status = document.getElementById("find-status"), renders = 0;
    function apply() {
      if (query && !text) text = Array.prototype.map.call(rows, function (r) { return r.textContent.toLowerCase(); });
      var n = 0;
      for (var i = 0; i < rows.length; i++) {
        var hide = off[rows[i].dataset.sev] || (query && text[i].indexOf(query) < 0);
        rows[i].hidden = !!hide;
        if (!hide) n++;
      }
      for (var j = 0; j < rules.length; j++) rules[j].hidden = !rules[j].querySelector("tr.finding:not([hidden])");
      status.textContent = n ? "showing " + n + " of " + rows.length + " findings" : "nothing matches (" + rows.length + " findings in all)";
      root.dataset.renders = String(++renders);
    }
    document.getElementById("severities").addEventListener("change", function (e) {
      off[e.target.dataset.sev] = !e.target.checked;
      apply();
    });
    var timer = 0;
    document.getElementById("find-search").addEventListener("input", function (e) {
      clearTimeout(timer);
      var value = e.target.value.toLowerCase();
      timer = setTimeout(function () { query = value; apply(); }, 80);
    });
    apply();
  }
  function ready() {
    requestAnimationFrame(function () {
      setTimeout(function () { performance.mark("inspectr-first-rows"); root.dataset.ready = "1"; }, 0);
    });
  }
  findings();
  var dataEl = document.getElementById("data"), list = document.getElementById("list");
  if (!dataEl || !list) { ready(); return; }
  var D = JSON.parse(dataEl.textContent), C = D.changes, S = D.strings, CAUSES = D.causes;
  var MARK = {added: "+", removed: "-", modified: "~", renamed: ">"};
  var SUBJECT = {index: "Index", manifest: "Manifest", config: "Config", history: "History", layer: "Layers",
                 hidden: "Hidden content", file: "Files"};
  var on = CAUSES.map(function () { return true; });
  var mode = "all", query = "", scope = "", lower = null;
  var matches = [], shown = 0, groupCounts = {}, renders = 0;
  var status = document.getElementById("status"), more = document.getElementById("more-button");

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function group(c) { return c.x ? "Files no package change explains" : (SUBJECT[c.s] || c.s); }
  function label(c) { return (c.pl ? "[" + c.pl + "] " : "") + (c.r ? c.r + " \u2192 " : "") + c.p; }

  function filter() {
    var q = query.toLowerCase();
    if (q && !lower) lower = C.map(function (c) { return label(c).toLowerCase(); });
    matches = []; groupCounts = {};
    for (var i = 0; i < C.length; i++) {
      var c = C[i];
      if (!on[c.c]) continue;
      if (mode === "open" ? c.acc : mode === "accepted" ? !c.acc : false) continue;
      if (scope && c.p !== scope && c.p.lastIndexOf(scope + "/", 0) !== 0) continue;
      if (q && lower[i].indexOf(q) < 0) continue;
      matches.push(i);
      var g = group(c);
      groupCounts[g] = (groupCounts[g] || 0) + 1;
    }
    list.textContent = "";
    shown = 0;
    draw();
  }

  function draw() {
    var frag = document.createDocumentFragment(), end = Math.min(matches.length, shown + PAGE);
    for (var j = shown; j < end; j++) {
      var c = C[matches[j]], g = group(c);
      if (j === 0 || group(C[matches[j - 1]]) !== g) frag.appendChild(el("div", "group" + (c.x ? " sus" : ""), g + " (" + groupCounts[g] + ")"));
      frag.appendChild(row(matches[j]));
    }
    list.appendChild(frag);
    shown = end;
    status.textContent = matches.length ? "showing " + shown + " of " + matches.length + " matching (" + C.length + " in all)"
                                        : "nothing matches (" + C.length + " in all)";
    more.hidden = shown >= matches.length;
    root.dataset.renders = String(++renders);
  }

  function layers(c) {
    var out = [];
    if (c.A) out.push("A:" + c.A[0]);
    if (c.B) out.push("B:" + c.B[0]);
    return out.length ? "layer " + out.join(" ") : "";
  }

  function row(i) {
    var c = C[i], r = el("div", "row k-" + c.k + (c.acc ? " acc" : "") + (c.x ? " sus" : ""));
    r.dataset.i = String(i);
    var head = el("div", "head");
    head.tabIndex = 0;
    head.setAttribute("role", "button");
    head.setAttribute("aria-expanded", "false");
    head.appendChild(el("span", "mark", MARK[c.k] || "?"));
    head.appendChild(el("span", "path", label(c)));
    head.appendChild(el("span", "badge c" + c.c, CAUSES[c.c]));
    if (c.acc) head.appendChild(el("span", "tag", "accepted"));
    if (c.d) head.appendChild(el("span", "tag", "text diff"));
    var lay = layers(c);
    if (lay) head.appendChild(el("span", "lay", lay));
    r.appendChild(head);
    return r;
  }

  function line(parent, name, text, cls) {
    var p = el("div", "line" + (cls ? " " + cls : ""));
    p.appendChild(el("span", "k", name));
    p.appendChild(el("span", "v", text));
    parent.appendChild(p);
  }

  function details(c) {
    var d = el("div", "details");
    if (c.acc) line(d, "accepted by", c.acc);
    if (c.r) line(d, "renamed from", c.r);
    [["A", c.A], ["B", c.B]].forEach(function (s) {
      if (s[1]) line(d, s[0], "layer " + s[1][0] + (s[1][1] !== null ? ": " + S[s[1][1]] : ""), "prov");
    });
    if (c.o) line(d, "packages", c.o, c.x ? "sus" : "");
    if (c.n) line(d, "note", c.n);
    if (c.f) {
      var t = el("table", "fields"), tb = el("tbody");
      c.f.forEach(function (f) {
        var tr = el("tr");
        tr.appendChild(el("th", "", f[0]));
        if (f[4]) {
          var td = el("td", "", f[1] === "\u2205" ? f[2] : f[1]);
          td.colSpan = 2;
          tr.appendChild(td);
        } else {
          tr.appendChild(el("td", "a", f[1]));
          tr.appendChild(el("td", "b", f[2]));
        }
        tr.appendChild(el("td", "", "")).appendChild(el("span", "badge c" + f[3], CAUSES[f[3]]));
        tb.appendChild(tr);
      });
      t.appendChild(tb);
      d.appendChild(t);
    }
    if (c.ps) {
      var ul = el("ul", "paths");
      c.ps.slice(0, 100).forEach(function (p) { ul.appendChild(el("li", "", p)); });
      if (c.ps.length > 100) ul.appendChild(el("li", "", "\u2026 " + (c.ps.length - 100) + " more"));
      d.appendChild(ul);
    }
    if (c.d) d.appendChild(sideBySide(c.d));
    return d;
  }

  // A unified diff as a table: old lines on the left, new on the right, each removal run paired
  // with the addition run after it.
  function sideBySide(text) {
    var t = el("table", "sbs"), tb = el("tbody"), la = 0, lb = 0, dels = [], adds = [], inHunk = false;
    function add(na, ta, ca, nb, tbx, cb) {
      var tr = el("tr");
      tr.appendChild(el("td", "ln", na));
      tr.appendChild(el("td", "tx " + ca, ta));
      tr.appendChild(el("td", "ln", nb));
      tr.appendChild(el("td", "tx " + cb, tbx));
      tb.appendChild(tr);
    }
    function flush() {
      for (var j = 0; j < Math.max(dels.length, adds.length); j++) {
        var x = dels[j], y = adds[j];
        add(x ? x[0] : "", x ? x[1] : "", x ? "del" : "none", y ? y[0] : "", y ? y[1] : "", y ? "ins" : "none");
      }
      dels = []; adds = [];
    }
    var rows = text.split("\n"), cols = el("colgroup"), head = el("tr", "hdr");
    ["ln", "tx", "ln", "tx"].forEach(function (cls) { cols.appendChild(el("col", cls)); });
    t.appendChild(cols);
    t.appendChild(el("thead")).appendChild(head);
    rows.forEach(function (l, k) {
      if (!inHunk && (l.lastIndexOf("--- ", 0) === 0 || l.lastIndexOf("+++ ", 0) === 0)) {
        var th = el("th", "", l.slice(4));
        th.colSpan = 2;
        head.appendChild(th);
        return;
      }
      if (l.lastIndexOf("@@", 0) === 0) {
        flush();
        inHunk = true;
        var m = /^@@ -(\d+)(?:,\d+)? \+(\d+)/.exec(l);
        la = m ? +m[1] : 0; lb = m ? +m[2] : 0;
        var tr = el("tr", "hunk"), td = el("td", "", l);
        td.colSpan = 4;
        tr.appendChild(td);
        tb.appendChild(tr);
        return;
      }
      if (l === "" && k === rows.length - 1) return;
      var ch = l.charAt(0), rest = l.slice(1);
      if (ch === "-") dels.push([la++, rest]);
      else if (ch === "+") adds.push([lb++, rest]);
      else if (ch === "\\") { flush(); add("", l, "meta", "", "", "none"); }
      else { flush(); add(la++, rest, "ctx", lb++, rest, "ctx"); }
    });
    flush();
    t.appendChild(tb);
    return t;
  }

  function toggle(head) {
    var r = head.parentNode, open = r.lastChild.className === "details";
    if (open) r.removeChild(r.lastChild);
    else r.appendChild(details(C[+r.dataset.i]));
    head.setAttribute("aria-expanded", open ? "false" : "true");
  }
  list.addEventListener("click", function (e) {
    var head = e.target.closest(".head");
    if (head) toggle(head);
  });
  list.addEventListener("keydown", function (e) {
    if ((e.key === "Enter" || e.key === " ") && e.target.classList.contains("head")) { e.preventDefault(); toggle(e.target); }
  });

  // Filters.
  document.getElementById("classes").addEventListener("change", function (e) {
    on[+e.target.dataset.cause] = e.target.checked;
    filter();
  });
  document.getElementById("acceptance").addEventListener("change", function (e) { mode = e.target.value; filter(); });
  var timer = 0;
  document.getElementById("search").addEventListener("input", function (e) {
    clearTimeout(timer);
    var value = e.target.value;
    timer = setTimeout(function () { query = value; filter(); }, 80);
  });
  var scopeBox = document.getElementById("scope");
  function setScope(path) {
    scope = path;
    scopeBox.hidden = !path;
    document.getElementById("scope-path").textContent = path;
    filter();
  }
  document.getElementById("scope-clear").addEventListener("click", function () { setScope(""); });

  // More rows: when the end of the list comes into view, or on the button.
  more.addEventListener("click", draw);
  function fill() {
    if (shown < matches.length && more.getBoundingClientRect().top < window.innerHeight + 600) {
      draw();
      requestAnimationFrame(fill);
    }
  }
  if ("IntersectionObserver" in window) {
    new IntersectionObserver(function (es) { if (es[0].isIntersecting) fill(); }, {rootMargin: "600px"}).observe(more);
  }

  // The directory tree, built after the first rows are drawn; each level is drawn when opened.
  function buildTree() {
    var top = {kids: {}, files: [], n: 0};
    C.forEach(function (c, i) {
      if (c.s !== "file" && c.s !== "hidden") return;
      var parts = c.p.split("/"), node = top;
      top.n++;
      for (var j = 0; j < parts.length - 1; j++) {
        var name = parts[j];
        if (!Object.prototype.hasOwnProperty.call(node.kids, name)) {
          node.kids[name] = {kids: {}, files: [], n: 0, full: parts.slice(0, j + 1).join("/")};
        }
        node = node.kids[name];
        node.n++;
      }
      node.files.push(i);
    });
    return top;
  }
  function level(node, box) {
    Object.keys(node.kids).sort().forEach(function (name) {
      var kid = node.kids[name], shown = name, det = el("details"), sum = el("summary"), only;
      // A chain of directories that each hold one directory and no file is one node: usr/lib/x/.
      while (!kid.files.length && (only = Object.keys(kid.kids)).length === 1) { shown += "/" + only[0]; kid = kid.kids[only[0]]; }
      sum.appendChild(el("span", "dir", shown + "/"));
      sum.appendChild(el("span", "n", kid.n));
      sum.addEventListener("click", function () { setScope(kid.full); });
      det.appendChild(sum);
      det.addEventListener("toggle", function () {
        if (det.open && det.childNodes.length === 1) { var inner = el("div", "sub"); level(kid, inner); det.appendChild(inner); }
      });
      box.appendChild(det);
    });
    node.files.slice(0, 300).forEach(function (i) {
      var c = C[i], leaf = el("div", "leaf k-" + c.k, c.p.slice(c.p.lastIndexOf("/") + 1));
      leaf.title = c.p;
      leaf.tabIndex = 0;
      leaf.addEventListener("click", function () {
        setScope(c.p);
        var head = list.querySelector(".row .head");
        if (matches.length === 1 && head) toggle(head);
      });
      box.appendChild(leaf);
    });
    if (node.files.length > 300) box.appendChild(el("div", "leaf more", "\u2026 " + (node.files.length - 300) + " more: use the search"));
  }

  filter();
  ready();
  setTimeout(function () {
    var top = buildTree(), box = document.getElementById("tree-root");
    if (!top.n) { document.getElementById("tree").hidden = true; return; }
    level(top, box);
  }, 0);
})();
