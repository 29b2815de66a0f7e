// Live alert list: re-fetch the table rows of the current filter/page every 10 s (no framework, no build).
(function () {
  "use strict";
  var body = document.getElementById("alert-rows");
  var toggle = document.getElementById("live");
  if (!body || !toggle) { return; }
  function refresh() {
    if (!toggle.checked || document.hidden) { return; }
    fetch(body.dataset.src, { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(function (html) { body.innerHTML = html; })
      .catch(function (err) { console.warn("alert refresh failed", err); });
  }
  setInterval(refresh, 10000);
})();
