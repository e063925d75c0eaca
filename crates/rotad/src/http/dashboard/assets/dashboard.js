// rotad dashboard: progressive enhancement only; every page works without this script.
(function () {
  "use strict";

  // <time datetime> in the browser's time zone, relative and absolute (UTC stays in `title`).
  function relative(ms) {
    var diff = ms - Date.now(), secs = Math.round(Math.abs(diff) / 1000), text;
    if (secs < 60) text = secs + " s";
    else if (secs < 3600) text = Math.round(secs / 60) + " min";
    else if (secs < 86400) text = Math.round(secs / 3600) + " h";
    else text = Math.round(secs / 86400) + " d";
    return diff >= 0 ? "in " + text : text + " ago";
  }
  function localTimes(root) {
    var times = root.querySelectorAll("time[data-local]");
    for (var i = 0; i < times.length; i++) {
      var t = times[i], ms = Date.parse(t.getAttribute("datetime"));
      if (isNaN(ms)) continue;
      var rel = t.querySelector(".rel"), abs = t.querySelector(".abs");
      if (rel) rel.textContent = relative(ms);
      if (abs) abs.textContent = new Date(ms).toLocaleString(undefined,
        { dateStyle: "medium", timeStyle: "short" });
    }
  }

  // Live parts: fetch the fragment every few seconds and swap it in.
  function poll(el) {
    var url = el.getAttribute("data-live");
    function tick() {
      if (document.hidden) return;
      fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } })
        .then(function (res) {
          if (res.redirected || res.status === 401) { window.location.assign("/sign-in"); return null; }
          return res.ok ? res.text() : null;
        })
        .then(function (html) {
          if (html !== null && html !== undefined) { el.innerHTML = html; localTimes(el); }
        })
        .catch(function () {});
    }
    setInterval(tick, 3000);
  }

  // A form with data-progress shows that it is working; data-confirm asks first.
  function forms() {
    var all = document.querySelectorAll("form[data-progress], form[data-confirm]");
    for (var i = 0; i < all.length; i++) {
      all[i].addEventListener("submit", function (event) {
        var form = event.currentTarget;
        var ask = form.getAttribute("data-confirm");
        if (ask && !window.confirm(ask)) { event.preventDefault(); return; }
        var note = form.getAttribute("data-progress");
        var button = form.querySelector("button[type=submit]");
        if (note && button) {
          button.disabled = true;
          button.textContent = note;
          var live = document.createElement("span");
          live.setAttribute("role", "status");
          live.setAttribute("data-progress-note", "");
          live.textContent = " " + note;
          form.appendChild(live);
        }
      });
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    localTimes(document);
    var live = document.querySelectorAll("[data-live]");
    for (var i = 0; i < live.length; i++) poll(live[i]);
    forms();
  });
})();
