// A running job's page: fetch the live part again every few seconds and swap it in,
// keeping open failure details open; stop once the job has ended.
(function () {
  "use strict";
  var live = document.getElementById("live");
  if (!live) { return; }
  var seconds = Number(live.dataset.refresh) || 2;
  function ended() {
    var state = live.querySelector(".live-state");
    return !state || state.dataset.terminal === "true";
  }
  function refresh() {
    if (ended()) { return; }
    fetch(live.dataset.liveUrl, { credentials: "same-origin", cache: "no-store" })
      .then(function (response) {
        if (!response.ok) { throw new Error(response.status); }
        return response.text();
      })
      .then(function (html) {
        var open = Array.prototype.map.call(live.querySelectorAll("details[open]"),
                                            function (d) { return d.id; });
        live.innerHTML = html;
        open.forEach(function (id) {
          var details = id && document.getElementById(id);
          if (details) { details.open = true; }
        });
        live.dataset.refreshed = String(Number(live.dataset.refreshed || 0) + 1);
      })
      .catch(function () { /* the server restarts or the network blips: try again */ })
      .then(function () { window.setTimeout(refresh, seconds * 1000); });
  }
  window.setTimeout(refresh, seconds * 1000);
})();
