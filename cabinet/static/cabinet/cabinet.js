// The cabinet's only script: an htmx request that fails is never silent. The message for each kind of failure
// is written in Russian in base.html (<template id="failures">); it replaces the content of the request's
// target, and the form stays as it was (a chosen file stays chosen). A file's sending shows its progress.
(function () {
  "use strict";

  function failure(kind) {
    var all = document.getElementById("failures");
    var found = all && all.content.querySelector('[data-failure="' + kind + '"]');
    return found ? found.cloneNode(true) : null;
  }

  function kindOf(status) {
    if (status === 413 || status === 401 || status === 403) return String(status);
    if (status === 503 || status === 507) return String(status);
    return status >= 500 ? "500" : "other";
  }

  function show(event, kind) {
    var target = event.detail.target || event.detail.elt;
    var message = failure(kind);
    if (!target || !message) return;
    target.replaceChildren(message);
    var indicator = document.getElementById("checking");
    if (indicator && indicator.dataset.idle) indicator.textContent = indicator.dataset.idle;
  }

  document.addEventListener("htmx:responseError", function (event) {
    show(event, kindOf(event.detail.xhr.status));
  });
  document.addEventListener("htmx:sendError", function (event) {
    show(event, "network");
  });
  document.addEventListener("htmx:xhr:progress", function (event) {
    var indicator = document.getElementById("checking");
    if (!indicator || !event.detail.lengthComputable || !event.detail.total) return;
    indicator.dataset.idle = indicator.dataset.idle || indicator.textContent;
    var done = Math.round((100 * event.detail.loaded) / event.detail.total);
    indicator.textContent = done < 100 ? indicator.dataset.sending.replace("%", done + " %") : indicator.dataset.idle;
  });
})();
