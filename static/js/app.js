// The project's own behaviour; htmx itself comes from django-htmx.
// Keyboard: j/k move between task rows, Enter or o opens the current one, / searches.
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

  function rows() {
    return Array.from(document.querySelectorAll("tr[data-task-row]"));
  }

  function typing(target) {
    return target.closest("input, textarea, select, [contenteditable=true]");
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

  document.addEventListener("keydown", function (event) {
    if (event.defaultPrevented || event.altKey || event.ctrlKey || event.metaKey) return;
    if (typing(event.target)) {
      if (event.key === "Escape") event.target.blur();
      return;
    }
    if (event.key === "j") { move(1); event.preventDefault(); }
    else if (event.key === "k") { move(-1); event.preventDefault(); }
    else if (event.key === "o") {
      var current = document.querySelector("tr.kbd-current[data-href]");
      if (current) window.location.href = current.dataset.href;
    } else if (event.key === "/") {
      var search = document.querySelector("[data-shortcut-search]");
      if (search) { search.focus(); event.preventDefault(); }
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
