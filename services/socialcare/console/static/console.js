/* socialcare console: live updates (server-sent events), SLA countdowns, the reply
   counter, CSRF header, JSON actions. No inline script, no eval (see the page's CSP). */
(function () {
  "use strict";

  var strings = {};
  try { strings = JSON.parse(document.getElementById("sc-strings").textContent || "{}"); } catch (e) { strings = {}; }

  function fmt(key, values) {
    var text = strings[key] || key;
    return text.replace(/\{(\w+)\}/g, function (_, name) { return name in values ? String(values[name]) : ""; });
  }

  function announce(text) {
    var region = document.getElementById("sc-announce");
    if (!region) return;
    region.textContent = "";
    window.setTimeout(function () { region.textContent = text; }, 50);
  }

  function alertMessage(text) {
    var box = document.getElementById("sc-alert");
    if (!box) return;
    box.textContent = text;
    box.hidden = !text;
  }

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  // Unicode code points, as the server counts (Python len), not UTF-16 units.
  function codePoints(text) { return Array.from(text); }

  /* ---- SLA countdowns --------------------------------------------------------------- */

  function span(seconds) {
    seconds = Math.max(0, Math.round(seconds));
    var d = Math.floor(seconds / 86400), h = Math.floor((seconds % 86400) / 3600);
    var m = Math.floor((seconds % 3600) / 60), s = seconds % 60;
    if (d > 0) return d + "d " + h + "h";
    if (h > 0) return h + "h " + String(m).padStart(2, "0") + "m";
    return m + "m " + String(s).padStart(2, "0") + "s";
  }

  function tickCountdowns() {
    var now = Date.now();
    document.querySelectorAll("time.countdown[data-due]").forEach(function (el) {
      var due = Date.parse(el.getAttribute("data-due"));
      if (isNaN(due)) return;
      var left = (due - now) / 1000;
      el.textContent = left >= 0 ? fmt("sla_left", { time: span(left) }) : fmt("sla_overdue", { time: span(-left) });
      el.classList.toggle("overdue", left < 0);
      el.classList.toggle("soon", left >= 0 && left < 900);
      el.setAttribute("title", new Date(due).toLocaleString());
    });
  }

  function localTimes(root) {
    root.querySelectorAll("time.localtime[datetime]").forEach(function (el) {
      var when = Date.parse(el.getAttribute("datetime"));
      if (!isNaN(when)) el.textContent = new Date(when).toLocaleString([], { dateStyle: "short", timeStyle: "short" });
    });
    root.querySelectorAll(".bar[data-width]").forEach(function (el) {
      el.style.width = Math.min(100, parseInt(el.getAttribute("data-width"), 10) || 0) + "%";
    });
  }

  /* ---- the reply counter -------------------------------------------------------------- */

  function actor() { return document.getElementById("sc-agent"); }

  function currentSignature() {
    var el = actor();
    if (!el) return "";
    if (el.tagName === "SELECT") {
      var opt = el.options[el.selectedIndex];
      return opt ? opt.getAttribute("data-signature") || "" : "";
    }
    return el.getAttribute("data-signature") || "";
  }

  function signedLength(text) {
    // As Brand.sign: the text without trailing space, a separator, the signature.
    var signature = currentSignature();
    var body = codePoints(text.trim()).length;
    return signature ? body + 1 + codePoints(signature).length : body;
  }

  function enforceLimit(area) {
    var counter = document.getElementById("sc-counter");
    var limit = parseInt(area.getAttribute("data-limit"), 10);
    if (!counter || isNaN(limit)) return;
    var signature = currentSignature();
    var overhead = signature ? 1 + codePoints(signature).length : 0;
    var chars = codePoints(area.value);
    // Stop input at the limit: what does not fit is cut, as a maxlength would.
    var full = false;
    while (chars.length && codePoints(chars.join("").trim()).length + overhead > limit) {
      chars.pop();
      full = true;
    }
    if (full) {
      var caret = area.selectionStart;
      area.value = chars.join("");
      area.setSelectionRange(Math.min(caret, area.value.length), Math.min(caret, area.value.length));
    }
    var used = signedLength(area.value);
    counter.textContent = fmt("counter", { used: used, limit: limit });
    counter.classList.toggle("full", used >= limit);
    if (used >= limit) {
      if (!counter.dataset.announced) announce(fmt("counter_full", { limit: limit }));
      counter.dataset.announced = "1";
    } else {
      delete counter.dataset.announced;
    }
  }

  function setupComposer() {
    var area = document.getElementById("sc-text");
    if (!area || area.dataset.ready) return;
    area.dataset.ready = "1";  // once per rendered composer (it is swapped when the case changes)
    if (area.getAttribute("data-limit")) {
      // The script counts code points and the signature; the server-rendered maxlength
      // (a fallback without script) counts UTF-16 units and would stop emoji early.
      area.removeAttribute("maxlength");
      area.addEventListener("input", function () { enforceLimit(area); });
      var who = actor();
      if (who && who.tagName === "SELECT") who.addEventListener("change", function () { enforceLimit(area); });
      enforceLimit(area);
    }
    var insert = document.getElementById("sc-canned-insert");
    var canned = document.getElementById("sc-canned");
    if (insert && canned) {
      var preview = document.getElementById("sc-canned-preview");
      canned.addEventListener("change", function () {
        // What the customer would get, its length with the signature, and whether it fits.
        var opt = canned.options[canned.selectedIndex];
        if (!preview) return;
        if (!opt || !opt.value) { preview.textContent = ""; return; }
        var limit = parseInt(area.getAttribute("data-limit"), 10);
        var text = opt.getAttribute("data-text") || "";
        var length = signedLength(text);
        var fits = isNaN(limit) || length <= limit;
        preview.textContent = fmt(fits ? "canned_preview" : "canned_preview_too_long",
          { text: text, length: length, limit: isNaN(limit) ? "—" : limit });
        preview.classList.toggle("too-long", !fits);
      });
      insert.disabled = false;
      insert.addEventListener("click", function () {
        var opt = canned.options[canned.selectedIndex];
        if (!opt || !opt.value) return;
        area.value = opt.getAttribute("data-text") || "";
        area.dispatchEvent(new Event("input"));
        area.focus();
      });
    }
  }

  /* ---- actions: JSON to the REST API --------------------------------------------------- */

  function defineJsonExtension() {
    if (!window.htmx) return;
    window.htmx.defineExtension("sc-json", {
      onEvent: function (name, evt) {
        if (name === "htmx:configRequest") {
          evt.detail.headers["Content-Type"] = "application/json";
          evt.detail.headers["X-CSRF-Token"] = csrfToken();
        }
        return true;
      },
      encodeParameters: function (xhr, parameters, elt) {
        xhr.overrideMimeType("text/json");
        var body = {};
        var form = elt.closest("form");
        // Fields that are lists (the questions a reply answers): every ticked value.
        var lists = {};
        if (form) {
          form.querySelectorAll("[data-array][name]").forEach(function (el) { lists[el.getAttribute("name")] = true; });
        }
        parameters.forEach(function (value, key) {
          if (typeof value !== "string" || value.trim() === "") return;
          if (lists[key]) (body[key] = body[key] || []).push(value);
          else body[key] = value;
        });
        if (form) {
          // A field whose empty choice means "none" (the computed priority): sent as null.
          form.querySelectorAll("[data-nullable][name]").forEach(function (el) {
            var name = el.getAttribute("name");
            if (!(name in body)) body[name] = null;
          });
        }
        if (form && form.getAttribute("data-template") === "true") {
          // A WhatsApp template: {"template": {"name", "language", "parameters": [...]}}.
          var chosen = String(body.template || "").split(":");
          body = {
            template: {
              name: chosen[0] || "",
              language: chosen[1] || "",
              parameters: String(body.parameters || "").split("\n")
                .map(function (line) { return line.trim(); })
                .filter(function (line) { return line !== ""; })
            }
          };
        }
        var field = form ? form.getAttribute("data-actor-field") : null;
        var who = actor();
        if (field && who) body[field] = who.value;
        return JSON.stringify(body);
      }
    });
  }

  function errorText(xhr) {
    try {
      var body = JSON.parse(xhr.responseText);
      if (body && body.error && body.error.message) return body.error.message;
    } catch (e) { /* not JSON */ }
    return xhr.status + " " + (xhr.statusText || "");
  }

  function setupHtmxEvents() {
    document.body.addEventListener("htmx:configRequest", function (evt) {
      evt.detail.headers["X-CSRF-Token"] = csrfToken();
    });
    document.body.addEventListener("htmx:afterRequest", function (evt) {
      var form = evt.detail.elt && evt.detail.elt.closest ? evt.detail.elt.closest("form.sc-action") : null;
      if (!form) return;
      var xhr = evt.detail.xhr;
      if (xhr.status >= 200 && xhr.status < 300) {
        alertMessage("");
        announce(fmt("sent_ok", {}));
        if (form.getAttribute("data-reset") === "true") {
          form.reset();
          var area = form.querySelector("#sc-text");
          if (area) enforceLimit(area);
        }
        // Show the outcome at once: the case fragment waits until routing applied it.
        refreshCase(caseState("data-version"));
      } else if (xhr.status === 401) {
        window.location.assign("/login?next=" + encodeURIComponent(window.location.pathname));
      } else {
        alertMessage(fmt("action_failed", { reason: errorText(xhr) }));
      }
    });
    document.body.addEventListener("htmx:afterSwap", function (evt) {
      var target = evt.detail.target || document;
      localTimes(target);
      tickCountdowns();
      if (target.id === "sc-case") followCase();
      if (target.id === "sc-composer") setupComposer();
    });
  }

  /* ---- live updates ------------------------------------------------------------------- */

  var pending = {};
  function refresh(container, delay, query) {
    var id = container.id + (query || "");
    if (pending[id]) return;
    pending[id] = window.setTimeout(function () {
      delete pending[id];
      if (!window.htmx) { window.location.reload(); return; }
      // Keep the focused element's place: swap only the fragment, never the composer.
      window.htmx.ajax("GET", container.getAttribute("data-refresh") + (query || ""), { target: container, swap: "innerHTML" });
    }, delay);
  }

  /* The case page: the conversation (#sc-case) is re-rendered on every change; the
     composer (#sc-composer) and its actions (#sc-case-actions) follow what it shows. */

  function caseState(name) {
    var state = document.querySelector("#sc-case .case-state");
    return state ? state.getAttribute(name) || "" : "";
  }

  function refreshCase(afterVersion) {
    var caseView = document.getElementById("sc-case");
    if (!caseView) return;
    // `after`: the server answers once the case is past that version (the action applied).
    refresh(caseView, afterVersion ? 0 : 150, afterVersion ? "?after=" + encodeURIComponent(afterVersion) : "");
  }

  function followCase() {
    var caseView = document.getElementById("sc-case");
    var state = caseView ? caseView.querySelector(".case-state") : null;
    if (!state) return;
    caseView.setAttribute("data-status", state.getAttribute("data-status") || "");
    var box = document.getElementById("sc-composer");
    var composer = box ? box.querySelector("[data-composer]") : null;
    if (box && composer && composer.getAttribute("data-composer") !== state.getAttribute("data-composer")) {
      // Resolved, reopened, or free text gave way to templates: a new composer.
      refresh(box, 0);
      return;
    }
    var actions = document.getElementById("sc-case-actions");
    var known = actions ? actions.querySelector(".actions-state") : null;
    if (actions && known && (known.getAttribute("data-assignee") !== state.getAttribute("data-assignee") ||
        known.getAttribute("data-status") !== state.getAttribute("data-status") ||
        known.getAttribute("data-actions") !== state.getAttribute("data-actions"))) {
      // Claimed, transferred, a resolution proposed: keep what the agent is typing.
      refresh(actions, 0);
    }
    var answers = document.getElementById("sc-answers");
    var asked = answers ? answers.querySelector(".answers-state") : null;
    if (answers && asked && asked.getAttribute("data-questions") !== state.getAttribute("data-questions")) {
      refresh(answers, 0);  // a new question, or one answered: the reply's ticks follow
    }
  }

  function onCaseEvent(data) {
    if (data.type === "ready") return;
    if (data.type === "resync") {
      document.querySelectorAll("[data-refresh]").forEach(function (c) { refresh(c, 100); });
      return;
    }
    var caseView = document.getElementById("sc-case");
    if (caseView && data.case && caseView.getAttribute("data-case-id") === data.case.id) {
      refreshCase("");  // the composer and actions follow once it is swapped (followCase)
      if (data.type === "command_rejected" && data.rejection) alertMessage(fmt("rejected", { reason: data.rejection }));
    }
    var inbox = document.getElementById("sc-inbox");
    if (inbox) { refresh(inbox, 300); announce(fmt("new_activity", {})); }
    var wall = document.getElementById("sc-wall");
    if (wall) refresh(wall, 1500);
  }

  function connect() {
    var url = document.body.getAttribute("data-stream");
    var state = document.getElementById("sc-live-state");
    if (!url || !window.EventSource) return;
    var source = new EventSource(url);
    source.onopen = function () {
      if (state) { state.textContent = fmt("live_updates_on", {}); state.setAttribute("data-state", "on"); }
    };
    source.onerror = function () {
      if (state) { state.textContent = fmt("live_updates_off", {}); state.setAttribute("data-state", "off"); }
    };
    source.onmessage = function (message) {
      try { onCaseEvent(JSON.parse(message.data)); } catch (e) { /* ignore a bad event */ }
    };
  }

  function periodic() {
    document.querySelectorAll("[data-refresh-every]").forEach(function (c) {
      var seconds = parseInt(c.getAttribute("data-refresh-every"), 10);
      if (seconds > 0) window.setInterval(function () { refresh(c, 0); }, seconds * 1000);
    });
  }

  function start() {
    defineJsonExtension();
    setupHtmxEvents();
    setupComposer();
    localTimes(document);
    tickCountdowns();
    window.setInterval(tickCountdowns, 1000);
    connect();
    periodic();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
