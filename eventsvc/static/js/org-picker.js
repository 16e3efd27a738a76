/* Organisation type-ahead for the registration form (progressive enhancement).
   Without JavaScript the form works with the prefecture select and the
   "show municipalities" button; this adds a search box that fills both selects.
   No dependencies, no external requests. */
(function () {
  "use strict";
  var root = document.querySelector("[data-org-picker]");
  if (!root || !window.fetch) { return; }
  var box = root.querySelector(".org-search");
  var input = document.getElementById("org-search-input");
  var list = document.getElementById("org-search-results");
  var status = document.getElementById("org-search-status");
  var pref = root.querySelector("select[name$='prefecture']");
  var org = root.querySelector("select[name$='organization_code']");
  var freeText = root.querySelector("input[name$='organization_name']");
  if (!box || !input || !list || !pref || !org) { return; }
  box.hidden = false;
  var url = root.getAttribute("data-search-url");
  // announcements in the page's language (the template passes them; "{name}", "{n}" are filled in here)
  var say = {
    chosen: root.getAttribute("data-msg-chosen") || "{name} を選びました",
    found: root.getAttribute("data-msg-found") || "{n}件の候補があります",
    none: root.getAttribute("data-msg-none") || "候補はありません"
  };
  var items = [];
  var active = -1;
  var timer = null;
  var seq = 0;

  function close() {
    list.innerHTML = "";
    items = [];
    active = -1;
    input.setAttribute("aria-expanded", "false");
    input.removeAttribute("aria-activedescendant");
  }

  function choose(item) {
    pref.value = item.prefecture;
    var found = false;
    for (var i = 0; i < org.options.length; i++) {
      if (org.options[i].value === item.code) { found = true; break; }
    }
    if (!found) {
      var opt = document.createElement("option");
      opt.value = item.code;
      opt.textContent = item.name;
      org.appendChild(opt);
    }
    org.value = item.code;
    if (freeText) { freeText.value = ""; }
    input.value = item.name;
    close();
    status.textContent = say.chosen.replace("{name}", function () { return item.name; });
  }

  function highlight(index) {
    var nodes = list.querySelectorAll("[role=option]");
    for (var i = 0; i < nodes.length; i++) {
      nodes[i].setAttribute("aria-selected", i === index ? "true" : "false");
    }
    active = index;
    if (index >= 0 && nodes[index]) {
      input.setAttribute("aria-activedescendant", nodes[index].id);
    }
  }

  function render(results) {
    close();
    items = results;
    results.forEach(function (item, i) {
      var li = document.createElement("li");
      li.id = "org-option-" + i;
      li.setAttribute("role", "option");
      li.setAttribute("aria-selected", "false");
      li.className = "org-option";
      li.textContent = item.name;
      li.addEventListener("mousedown", function (ev) { ev.preventDefault(); choose(item); });
      list.appendChild(li);
    });
    input.setAttribute("aria-expanded", results.length ? "true" : "false");
    status.textContent = results.length ? say.found.replace("{n}", String(results.length)) : say.none;
  }

  function search() {
    var q = input.value.trim();
    if (q.length < 2) { close(); return; }
    var mine = ++seq;
    fetch(url + "?q=" + encodeURIComponent(q), { headers: { "Accept": "application/json" } })
      .then(function (r) { return r.ok ? r.json() : []; })
      .then(function (results) { if (mine === seq) { render(results); } })
      .catch(function () { /* the selects below still work */ });
  }

  input.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(search, 150);
  });
  input.addEventListener("keydown", function (ev) {
    if (ev.key === "ArrowDown" && items.length) { ev.preventDefault(); highlight(Math.min(active + 1, items.length - 1)); }
    else if (ev.key === "ArrowUp" && items.length) { ev.preventDefault(); highlight(Math.max(active - 1, 0)); }
    else if (ev.key === "Enter" && active >= 0) { ev.preventDefault(); choose(items[active]); }
    else if (ev.key === "Escape") { close(); }
  });
  input.addEventListener("blur", function () { setTimeout(close, 100); });
})();
