// warden web page: live updates. The page's own script (no inline script: the Content-Security-Policy
// allows scripts from /ui/static only). Every few seconds it asks the server for the rows it shows
// (#live[data-src], HTML the server rendered and escaped) and swaps them in.
(function () {
  "use strict";
  var live = document.getElementById("live");
  if (!live || !live.dataset.src) { return; }
  var every = parseInt(document.body.dataset.refreshMs || "5000", 10);
  function refresh() {
    fetch(live.dataset.src, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (text) {
        if (text === null) { return; }
        var doc = new DOMParser().parseFromString(text, "text/html");
        var body = doc.querySelector("main") || doc.body;
        live.replaceChildren.apply(live, Array.prototype.slice.call(body.childNodes));
        live.dataset.updated = String(Date.now());
      })
      .catch(function () { /* the next round tries again */ });
  }
  if (every > 0) { window.setInterval(refresh, every); }
})();
