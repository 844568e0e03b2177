// The project's own behaviour; htmx itself comes from django-htmx.
// Keyboard: j/k move between task rows, Enter or o opens the current one, / searches,
// c claims, Ctrl+Enter sends the task form, g i goes to My tasks, ? lists them all.
// A request from a form or button that fails says so beside it, and keeps what was typed.
// No inline handlers anywhere (the Content-Security-Policy forbids them): behaviour is here.
(function () {
  "use strict";

  // The browser's time zone, for the server to show dates on this person's clock when they
  // have not chosen one in Settings (pages/zones.py checks the name; the next page uses it).
  try {
    var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (zone && document.cookie.indexOf("tz=" + encodeURIComponent(zone)) === -1) {
      document.cookie = "tz=" + encodeURIComponent(zone) + "; path=/; max-age=31536000; samesite=lax" +
        (window.location.protocol === "https:" ? "; secure" : "");
    }
  } catch (e) { /* no Intl: the server's default zone */ }

  // Filters fold behind their "Filters" button on a phone (static/css/app.css shows the
  // button there only); rendered open, so they are never hidden without this script.
  var phone = window.matchMedia("(max-width: 700px)");
  function foldFilters() {
    document.querySelectorAll("details[data-filters-fold]").forEach(function (fold) {
      fold.open = !phone.matches;
    });
  }
  foldFilters();
  phone.addEventListener("change", foldFilters);

  // <select data-autosubmit>: choosing an option submits its form.
  document.addEventListener("change", function (event) {
    var field = event.target;
    if (field instanceof HTMLSelectElement && field.hasAttribute("data-autosubmit") && field.form) {
      field.form.requestSubmit();
    }
  });

  // [data-needs-selection="NAME"]: actions on the selected rows (bulk cancel, bulk assign),
  // hidden until a checkbox NAME of their form is ticked; "N selected" in
  // [data-selection-count]. Without this script they simply stay visible.
  function syncSelectionActions() {
    document.querySelectorAll("[data-needs-selection]").forEach(function (el) {
      var form = el.closest("form");
      var name = el.getAttribute("data-needs-selection");
      var n = form ? Array.from(form.elements).filter(function (field) {
        return field.type === "checkbox" && field.name === name && field.checked;
      }).length : 0;
      el.hidden = n === 0;
      el.querySelectorAll("[data-selection-count]").forEach(function (count) {
        count.textContent = n ? "(" + n + " selected)" : "";
      });
    });
  }
  document.addEventListener("change", function (event) {
    if (event.target instanceof HTMLInputElement && event.target.type === "checkbox") syncSelectionActions();
  });
  // Rows come and go: htmx swaps, live rows removed out of band.
  document.addEventListener("htmx:afterSettle", syncSelectionActions);
  document.addEventListener("htmx:oobAfterSwap", syncSelectionActions);
  syncSelectionActions();

  function rows() {
    return Array.from(document.querySelectorAll("tr[data-task-row]"));
  }

  function typing(target) {
    return target instanceof Element && target.closest("input, textarea, select, [contenteditable=true]");
  }

  function move(step) {
    var all = rows();
    if (!all.length) return;
    var index = all.findIndex(function (r) { return r.classList.contains("kbd-current"); });
    var next = Math.max(0, Math.min(all.length - 1, index === -1 ? 0 : index + step));
    all.forEach(function (r) { r.classList.remove("kbd-current"); });
    all[next].classList.add("kbd-current");
    var link = all[next].querySelector("a.task-link");
    if (link) link.focus();
  }

  // A form is sent as its own submit button would send it (htmx hears the submit event);
  // one held off (its workflow paused: aria-disabled) is not.
  function submit(form) {
    if (!form || form.getAttribute("aria-disabled") === "true") return false;
    form.requestSubmit();
    return true;
  }

  // "c": claim the task of the page, or of the current (or focused) row of a list.
  function claim() {
    var row = document.activeElement && document.activeElement.closest &&
      document.activeElement.closest("tr[data-task-row]");
    row = row || document.querySelector("tr[data-task-row].kbd-current");
    var form = row ? row.querySelector("form[data-shortcut-claim]")
                   : document.querySelector(".task-page form[data-shortcut-claim]");
    return submit(form);
  }

  // Ctrl+Enter (Cmd+Enter): send the task form being typed in, else the page's complete form.
  function submitTaskForm(target) {
    var form = target instanceof Element && target.closest("form[data-shortcut-submit]");
    return submit(form || document.querySelector("#complete-form form[data-shortcut-submit]"));
  }

  // "?": the list of shortcuts, a modal <dialog> (Escape closes it, focus comes back).
  function showShortcuts() {
    var dialog = document.getElementById("shortcuts-dialog");
    if (!dialog || dialog.open) return false;
    dialog.showModal();
    return true;
  }

  // Two-key shortcuts on links, as <a data-shortcut="g i">: the first key waits a second.
  var pending = "";
  var pendingTimer = null;
  function sequence(key) {
    var typed = pending ? pending + " " + key : key;
    var links = Array.from(document.querySelectorAll("[data-shortcut]"));
    var hit = links.find(function (el) { return el.dataset.shortcut === typed; });
    clearTimeout(pendingTimer);
    pending = "";
    if (hit) { hit.click(); return true; }
    if (links.some(function (el) { return el.dataset.shortcut.indexOf(typed + " ") === 0; })) {
      pending = typed;
      pendingTimer = setTimeout(function () { pending = ""; }, 1000);
      return true;
    }
    return false;
  }

  document.addEventListener("keydown", function (event) {
    if (event.defaultPrevented || event.isComposing) return;
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey) && !event.altKey) {
      if (submitTaskForm(event.target)) event.preventDefault();
      return;
    }
    if (event.altKey || event.ctrlKey || event.metaKey) return;
    if (event.target instanceof Element && event.target.closest("dialog[open]")) return;
    if (typing(event.target)) {
      if (event.key === "Escape") event.target.blur();
      return;
    }
    var done = false;
    if (pending) done = sequence(event.key);
    else if (event.key === "j") { move(1); done = true; }
    else if (event.key === "k") { move(-1); done = true; }
    else if (event.key === "o") {
      var current = document.querySelector("tr.kbd-current[data-href]");
      if (current) window.location.href = current.dataset.href;
    } else if (event.key === "/") {
      var search = document.querySelector("[data-shortcut-search]");
      if (search) { search.focus(); done = true; }
    } else if (event.key === "?") done = showShortcuts();
    else if (event.key === "c") done = claim();
    else done = sequence(event.key);
    if (done) event.preventDefault();
  });

  // The live region (#live-announcer, _base.html) says what changed in words; the regions
  // that change are not live themselves, or a screen reader would read them whole.
  function announce(text) {
    var region = document.getElementById("live-announcer");
    if (!region || !text) return;
    region.textContent = "";
    var line = document.createElement("span");
    line.textContent = text;
    region.appendChild(line);
  }

  // After a swap the person asked for: a form sent back with errors puts the focus on its
  // first invalid field (htmx also honours its autofocus attribute); a task table swapped
  // by a filter, a page link or a bulk action says its result (bulk results, else its size).
  // The live script's re-syncs (requests from <body>) say nothing.
  document.addEventListener("htmx:afterSettle", function (event) {
    var d = event.detail;
    // The event's own "elt" is the settled element; who sent the request is requestConfig's.
    // No requestConfig: a swap from the live socket.
    if (!d || !d.target || !d.requestConfig || !requestSource(d.requestConfig.elt)) return;
    var region = d.target.id ? document.getElementById(d.target.id) : d.target;
    if (!region) return;
    var invalid = region.querySelector("[aria-invalid=true]");
    if (invalid && !invalid.disabled) { invalid.focus(); return; }
    if (region.id === "task-table") {
      var results = region.querySelector(".bulk-results");
      announce(results ? results.textContent.replace(/\s+/g, " ").trim() : region.dataset.announce);
    }
  });

  // Failed requests. htmx swaps nothing on a network error or a 4xx/5xx answer (its default
  // responseHandling), so the form keeps what was typed; this says what happened, right after
  // the form (or the element with hx-*) that sent it, until its next request succeeds.
  // The live script's re-syncs (htmx.ajax, sent from <body>) are left to the "Reconnecting…" chip.
  // Only a success of what failed, or of the form itself, sent after the failure clears it:
  // suggestions fetched as the person typed (sent by a field, or before the failure) do not.
  var requestErrors = new WeakMap();
  var requestNumbers = new WeakMap();
  var sent = 0;
  document.addEventListener("htmx:beforeRequest", function (event) {
    if (event.detail.xhr) requestNumbers.set(event.detail.xhr, ++sent);
  });

  function requestSource(elt) {
    if (!(elt instanceof Element) || elt === document.body || elt === document.documentElement) return null;
    return elt.closest("form") || elt;
  }

  function clearRequestError(source, elt, after) {
    var shown = requestErrors.get(source);
    if (shown && (elt === source || elt === shown.elt) && after > shown.number) {
      shown.message.remove();
      requestErrors.delete(source);
    }
  }

  function showRequestError(source, elt, xhr, text) {
    clearRequestError(source, source, Infinity);  // a new element, so the alert is announced again
    var message = document.createElement("p");
    message.className = "error request-error";
    message.setAttribute("role", "alert");
    message.textContent = text;
    source.insertAdjacentElement("afterend", message);
    requestErrors.set(source, { message: message, elt: elt, number: requestNumbers.get(xhr) || sent });
  }

  // What a refusal (4xx) says: the reason on our error pages (templates/_error.html), or a
  // short plain-text body.
  function refusalText(xhr) {
    var type = xhr.getResponseHeader("Content-Type") || "";
    var body = xhr.responseText || "";
    if (type.indexOf("text/html") === 0) {
      var doc = new DOMParser().parseFromString(body, "text/html");
      var heading = doc.getElementById("error-heading");
      var reason = doc.querySelector(".error-reason");
      var parts = [heading, reason].filter(Boolean).map(function (el) { return el.textContent.trim(); });
      return parts.join(". ");
    }
    if (type.indexOf("text/plain") === 0 && body.trim().length <= 300) return body.trim();
    return "";
  }

  // A refusal that carries the form again (rendered with its errors, the request's target by
  // id) is swapped in like a success: the server's own words beside the fields.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var d = event.detail;
    if (!d.xhr || d.xhr.status < 400 || d.xhr.status >= 500 || !d.target || !d.target.id) return;
    if (!requestSource(d.elt)) return;
    var body = d.xhr.responseText || "";
    if (/<html[\s>]/i.test(body)) return;  // a whole page (an error page), not the fragment
    var doc = new DOMParser().parseFromString(body, "text/html");
    if (doc.getElementById(d.target.id)) {
      d.shouldSwap = true;
      d.isError = false;
    }
  });

  document.addEventListener("htmx:sendError", function (event) {
    var source = requestSource(event.detail.elt);
    if (!source) return;
    showRequestError(source, event.detail.elt, event.detail.xhr, "Could not reach the server. Your input is kept; try again when the connection is back.");
  });

  document.addEventListener("htmx:responseError", function (event) {
    var source = requestSource(event.detail.elt);
    var xhr = event.detail.xhr;
    if (!source || !xhr) return;
    if (xhr.status === 503) {
      // The database is away for a moment (config/outage.py): nothing was saved.
      var wait = xhr.getResponseHeader("Retry-After") || "a few";
      showRequestError(source, event.detail.elt, xhr, "The task inbox is temporarily unavailable (error 503); nothing was saved. Your input is kept; try again in " + wait + " seconds.");
      return;
    }
    if (xhr.status >= 500) {
      showRequestError(source, event.detail.elt, xhr, "Something went wrong on the server (error " + xhr.status + "). Your input is kept; try again.");
      return;
    }
    var said = refusalText(xhr);
    showRequestError(source, event.detail.elt, xhr, (said ? said + " " : "The server refused this. ") + "(error " + xhr.status + ") Your input is kept.");
  });

  document.addEventListener("htmx:afterRequest", function (event) {
    if (!event.detail.successful) return;
    var source = requestSource(event.detail.elt);
    if (source) clearRequestError(source, event.detail.elt, requestNumbers.get(event.detail.xhr) || 0);
  });
})();
