// The project's own behaviour; htmx itself comes from django-htmx.
// Keyboard: j/k move between task rows, Enter or o opens the current one, / searches.
// No inline handlers anywhere (the Content-Security-Policy forbids them): behaviour is here.
(function () {
  "use strict";

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
})();
