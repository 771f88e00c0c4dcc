// netdiag report: search/filter flows, expand/collapse, open a flow when an anomaly links to it.
// No network access (the page's CSP forbids it) and no dependency on a server.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("netdiag-data").textContent);
  var flows = Array.prototype.slice.call(document.querySelectorAll("details.flow"));
  var input = document.getElementById("flow-filter");
  var count = document.getElementById("flow-count");
  var total = data.flow_count;

  // a drawn flow may stand for several identical ones (data-flows)
  function size(el) { return parseInt(el.getAttribute("data-flows") || "1", 10); }
  var drawn = flows.reduce(function (n, el) { return n + size(el); }, 0);

  function applyFilter() {
    var terms = input.value.toLowerCase().split(/\s+/).filter(Boolean);
    var shown = 0;
    flows.forEach(function (el) {
      var hay = el.getAttribute("data-search") || "";
      var ok = terms.every(function (t) { return hay.indexOf(t) !== -1; });
      el.classList.toggle("hidden", !ok);
      if (ok) { shown += size(el); }
    });
    count.textContent = shown + " of " + drawn + " flows shown" +
      (total > drawn ? " (" + total + " in the analysis)" : "");
  }

  function setAll(open) {
    flows.forEach(function (el) { if (!el.classList.contains("hidden")) { el.open = open; } });
  }

  function openHash() {
    var target = document.getElementById(decodeURIComponent(location.hash.slice(1)));
    // a flow drawn with identical others is reached through its anchor inside their group
    var box = target && (target.tagName === "DETAILS" ? target : target.closest("details"));
    if (box) {
      box.open = true;
      box.classList.remove("hidden");
      box.scrollIntoView();
    }
  }

  // Printing shows everything: a closed section would print as its title alone.
  window.addEventListener("beforeprint", function () {
    Array.prototype.forEach.call(document.querySelectorAll("details"), function (d) {
      d.open = true;
    });
  });

  if (input) { input.addEventListener("input", applyFilter); applyFilter(); }
  document.getElementById("expand-all").addEventListener("click", function () { setAll(true); });
  document.getElementById("collapse-all").addEventListener("click", function () { setAll(false); });
  window.addEventListener("hashchange", openHash);
  openHash();
})();
