/* The payment status page: ask the portal for the payment's state until the gateway answered, then show it. */
(function () {
  "use strict";
  var panel = document.querySelector("[data-status-url]");
  if (!panel) {
    return;
  }
  var url = panel.dataset.statusUrl;
  var delay = 1000;

  function poll() {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        return response.ok ? response.json() : null;
      })
      .then(function (body) {
        if (body && body.done) {
          window.location.reload();
          return;
        }
        delay = Math.min(delay * 1.5, 10000);
        window.setTimeout(poll, delay);
      })
      .catch(function () {
        delay = Math.min(delay * 2, 15000);
        window.setTimeout(poll, delay);
      });
  }

  window.setTimeout(poll, delay);
})();
