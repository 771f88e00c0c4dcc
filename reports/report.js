// netdiag report: search/filter flows, expand/collapse, open a flow when an anomaly links to it.
// No network access (the page's CSP forbids it) and no dependency on a server.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("netdiag-data").textContent);
  var flows = Array.prototype.slice.call(document.querySelectorAll("details.flow"));
  var input = document.getElementById("flow-filter");
  var count = document.getElementById("flow-count");
  var total = data.flow_count;

  function applyFilter() {
    var terms = input.value.toLowerCase().split(/\s+/).filter(Boolean);
    var shown = 0;
    flows.forEach(function (el) {
      var hay = el.getAttribute("data-search") || "";
      var ok = terms.every(function (t) { return hay.indexOf(t) !== -1; });
      el.classList.toggle("hidden", !ok);
      if (ok) { shown += 1; }
    });
    count.textContent = shown + " of " + flows.length + " flows shown" +
      (total > flows.length ? " (" + total + " in the analysis)" : "");
  }

  function setAll(open) {
    flows.forEach(function (el) { if (!el.classList.contains("hidden")) { el.open = open; } });
  }

  function openHash() {
    var target = document.getElementById(decodeURIComponent(location.hash.slice(1)));
    if (target && target.tagName === "DETAILS") {
      target.open = true;
      target.classList.remove("hidden");
      target.scrollIntoView();
    }
  }

  if (input) { input.addEventListener("input", applyFilter); applyFilter(); }
  document.getElementById("expand-all").addEventListener("click", function () { setAll(true); });
  document.getElementById("collapse-all").addEventListener("click", function () { setAll(false); });
  window.addEventListener("hashchange", openHash);
  openHash();
})();
