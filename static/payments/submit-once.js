/* A form that acts is sent once per click: after the first submit its buttons are disabled. A courtesy only: the
 * one-time key in the form (billing/intents.py) is the protection, and a second submission shows the first outcome.
 *
 * Listens on the document, so a form's own handlers run first: a submit they hold back (the portal's Stripe card
 * check) is not counted. The buttons are disabled after the event, so the clicked button's name is still sent. */
(function () {
  "use strict";

  function buttons(form) {
    return form.querySelectorAll("button[type=submit], button:not([type]), input[type=submit]");
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (event.defaultPrevented || (form.getAttribute("method") || "").toLowerCase() !== "post") {
      return;
    }
    if (form.dataset.submitted) {
      event.preventDefault();
      return;
    }
    form.dataset.submitted = "true";
    window.setTimeout(function () {
      buttons(form).forEach(function (button) {
        button.disabled = true;
      });
    }, 0);
  });

  // A page shown again from the back-forward cache gets its buttons back.
  window.addEventListener("pageshow", function (event) {
    if (!event.persisted) {
      return;
    }
    document.querySelectorAll("form[data-submitted]").forEach(function (form) {
      delete form.dataset.submitted;
      buttons(form).forEach(function (button) {
        button.disabled = false;
      });
    });
  });
})();
