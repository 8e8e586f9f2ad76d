/* The live previews of the billing admin's Refund and Issue credit note pages.
 *
 * A form with `data-preview-url` asks that endpoint (GET, JSON) again whenever one of the fields named in
 * `data-preview-fields` changes, then shows the answer: its `html` replaces #billing-preview, elements with
 * `data-preview-shown-when="key"` are shown when the answer's `key` is true, and the answer's `split` (credit notes)
 * fills the fields it names. The server computes everything; without this script the page's Preview button does
 * the same with a reload.
 */
"use strict";

(function () {
  const DELAY_MS = 300;

  function previewForm(form) {
    const url = form.dataset.previewUrl;
    const fields = (form.dataset.previewFields || "").split(/\s+/).filter(Boolean);
    const box = form.querySelector("#billing-preview");
    let timer = null;
    let controller = null;

    function query() {
      const params = new URLSearchParams();
      for (const [name, value] of new FormData(form)) {
        if (name !== "csrfmiddlewaretoken" && typeof value === "string") {
          params.append(name, value);
        }
      }
      return params.toString();
    }

    function show(answer) {
      if (box && typeof answer.html === "string") {
        box.innerHTML = answer.html;
      }
      form.querySelectorAll("[data-preview-shown-when]").forEach(function (element) {
        element.hidden = !answer[element.dataset.previewShownWhen];
      });
      if (answer.ok && answer.split) {
        Object.entries(answer.split).forEach(function ([name, value]) {
          const input = form.elements.namedItem(name);
          if (input && "value" in input) {
            input.value = value;
          }
        });
      }
    }

    function refresh() {
      if (controller) {
        controller.abort();
      }
      controller = new AbortController();
      fetch(url + "?" + query(), {
        headers: { Accept: "application/json" },
        credentials: "same-origin",
        signal: controller.signal,
      })
        .then(function (response) {
          return response.json();
        })
        .then(show)
        .catch(function (error) {
          if (error.name !== "AbortError" && box) {
            box.setAttribute("data-preview-stale", "true");
          }
        });
    }

    form.addEventListener("input", function (event) {
      if (!fields.includes(event.target.name)) {
        return;
      }
      clearTimeout(timer);
      timer = setTimeout(refresh, DELAY_MS);
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form[data-preview-url]").forEach(previewForm);
  });
})();
