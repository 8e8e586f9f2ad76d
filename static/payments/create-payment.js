/* Create payment (the invoice page): the submit button's label follows the chosen method (Charge for a saved card,
 * Record payment for External), and External's fields show only when External is chosen. The server reads the
 * method, whatever the label says; without this script the page's style does the same where browsers know :has(). */
"use strict";

(function () {
  function follow(form) {
    const chosen = form.querySelector("input[name=method]:checked");
    const external = chosen !== null && chosen.value === "external";
    form.querySelectorAll("[data-method-label]").forEach(function (label) {
      label.hidden = (label.dataset.methodLabel === "external") !== external;
    });
    form.querySelectorAll("[data-method-shown=external]").forEach(function (block) {
      block.hidden = !external;
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form.billing-create-payment").forEach(function (form) {
      follow(form);
      form.addEventListener("change", function (event) {
        if (event.target.name === "method") {
          follow(form);
        }
      });
    });
  });
})();
