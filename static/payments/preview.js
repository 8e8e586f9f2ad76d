/* The live previews of the billing admin's Refund and Issue credit note pages.
 *
 * A form with `data-preview-url` asks that endpoint (GET, JSON) again whenever one of the fields named in
 * `data-preview-fields` changes, then shows the answer: its `html` replaces #billing-preview, elements with
 * `data-preview-shown-when="key"` are shown when the answer's `key` is true, and the answer's `split` (credit notes)
 * fills the fields it names, as long as the person typed none of them: a split they typed (refund 60, credit 40) stays
 * as typed whatever the amount becomes. Each suggestion is kept in its hidden `data-suggested-for` field, so the
 * server's Preview tells a suggested value from a typed one too. The server computes everything; without this script
 * the page's Preview button does the same with a reload.
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
    const typed = new Set();

    function suggestedField(name) {
      return form.querySelector('[data-suggested-for="' + name + '"]');
    }

    // A field shown again by the server with a value that is not its suggestion was typed.
    form.querySelectorAll("[data-suggested-for]").forEach(function (marker) {
      const input = form.elements.namedItem(marker.dataset.suggestedFor);
      if (input && "value" in input && input.value.trim() !== "" && input.value !== marker.value) {
        typed.add(marker.dataset.suggestedFor);
      }
    });

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
      if (answer.ok && answer.split && !Object.keys(answer.split).some((name) => typed.has(name))) {
        Object.entries(answer.split).forEach(function ([name, value]) {
          const input = form.elements.namedItem(name);
          if (input && "value" in input) {
            input.value = value;
          }
          const marker = suggestedField(name);
          if (marker) {
            marker.value = value;
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
        if (suggestedField(event.target.name)) {
          const marker = suggestedField(event.target.name);
          if (event.target.value.trim() === "" || event.target.value === marker.value) {
            typed.delete(event.target.name);
          } else {
            typed.add(event.target.name);
          }
        }
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
