// Plaudit's own script: it only improves pages that work without it.
"use strict";
(function () {
  var zone = "UTC";
  try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC"; } catch (e) { /* keep UTC */ }
  // Tell the server the viewer's zone, for the values of time fields.
  document.cookie = "plaudit_tz=" + encodeURIComponent(zone) + "; path=/app; SameSite=Lax; max-age=31536000";

  function ready(fn) {
    if (document.readyState !== "loading") fn(); else document.addEventListener("DOMContentLoaded", fn);
  }

  ready(function () {
    // Times: shown in the viewer's zone, with the zone named.
    var fmt = new Intl.DateTimeFormat(undefined, {
      year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", timeZoneName: "short"
    });
    document.querySelectorAll("time[datetime]").forEach(function (el) {
      var d = new Date(el.getAttribute("datetime"));
      if (!isNaN(d)) { el.title = el.textContent; el.textContent = fmt.format(d); }
    });
    document.querySelectorAll("[data-zone]").forEach(function (el) { el.textContent = zone; });
    document.querySelectorAll("input[name=time_zone]").forEach(function (el) { if (!el.value || el.value === "UTC") el.value = zone; });

    // Live character counters: <textarea data-counter="ID" maxlength="N" data-min="M">.
    document.querySelectorAll("textarea[data-counter]").forEach(function (area) {
      var out = document.getElementById(area.getAttribute("data-counter"));
      var min = parseInt(area.getAttribute("data-min") || "0", 10);
      var max = parseInt(area.getAttribute("data-max") || "0", 10);
      function update() {
        var n = area.value.trim().length;
        var text = n + " of " + max + " characters";
        if (n < min) text += " (at least " + min + ")";
        out.textContent = text;
      }
      area.addEventListener("input", update); update();
    });

    // Live total of the criteria weights: inputs [data-weight], output #weights-total.
    var total = document.getElementById("weights-total");
    if (total) {
      var update = function () {
        var sum = 0; // in ten-thousandths, so the sum is exact like the server's
        document.querySelectorAll("input[data-weight]").forEach(function (el) {
          var v = parseFloat(el.value);
          if (!isNaN(v)) sum += Math.round(v * 10000);
        });
        total.textContent = (sum / 10000).toFixed(4);
        total.classList.toggle("off", sum !== 10000);
        var note = document.getElementById("weights-note");
        if (note) note.textContent = sum === 10000 ? (note.getAttribute("data-ok") || "Ready to publish.")
          : (note.getAttribute("data-off") || "Weights must sum to exactly 1.0000 to publish.");
      };
      document.addEventListener("input", function (e) { if (e.target.hasAttribute("data-weight")) update(); });
      update();
    }

    // Colleague search: suggestions from /app/people/search as you type.
    document.querySelectorAll("input[data-search]").forEach(function (input) {
      var list = document.getElementById(input.getAttribute("list"));
      var timer = null, last = "";
      input.addEventListener("input", function () {
        clearTimeout(timer);
        timer = setTimeout(function () {
          var q = input.value.trim();
          if (q.length < 2 || q === last || q.indexOf("<") >= 0) return;
          last = q;
          fetch(input.getAttribute("data-search") + "?q=" + encodeURIComponent(q), { credentials: "same-origin" })
            .then(function (r) { return r.ok ? r.json() : { items: [] }; })
            .then(function (data) {
              list.innerHTML = "";
              data.items.forEach(function (p) {
                var opt = document.createElement("option");
                opt.value = p.label; list.appendChild(opt);
              });
            }).catch(function () { /* the plain field still works */ });
        }, 150);
      });
    });

    // Confirmations that say what will happen: <form data-confirm="...">.
    document.querySelectorAll("form[data-confirm]").forEach(function (form) {
      form.addEventListener("submit", function (e) {
        if (form.hasAttribute("data-confirmed")) return;
        if (!window.confirm(form.getAttribute("data-confirm"))) e.preventDefault();
      });
    });

    var summary = document.querySelector(".error-summary");
    if (summary) summary.focus();
  });
})();
