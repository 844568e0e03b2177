// "Save view" (templates/savedviews/_save.html): the filters are the address bar's, which
// htmx filter forms update without reloading, so the form's query is set from it as it is
// sent (capture phase: before htmx reads the form). Without script the query the page was
// rendered with is sent, which is the address bar's too.
(function () {
  "use strict";
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form || !form.matches || !form.matches("form[data-save-view]")) return;
    var query = form.querySelector("[data-save-view-query]");
    if (query) query.value = window.location.search.replace(/^\?/, "");
  }, true);
})();
