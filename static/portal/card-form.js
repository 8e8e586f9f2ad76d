/* The card forms of the member portal (pay, pay all, add a card).
 *
 * Shows the new-card fields only when "A new card" is chosen. On Stripe (the form has data-stripe-key and Stripe.js
 * is loaded), the card is typed in Stripe's card element: on submit we ask the portal for a SetupIntent, confirm
 * the card with stripe.confirmCardSetup, put the resulting PaymentMethod id in the form and send it. The card
 * number never reaches our server.
 */
(function () {
  "use strict";

  function csrfToken(form) {
    var input = form.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function setUp(form) {
    var newCard = form.querySelector("[data-new-card]");
    var choices = form.querySelectorAll("input[name=card]");
    var submit = form.querySelector("[data-submit]");

    function choosesNewCard() {
      if (!choices.length) {
        return true;
      }
      var chosen = form.querySelector("input[name=card]:checked");
      return !chosen || chosen.value === "new";
    }

    function syncChoice() {
      if (newCard) {
        newCard.hidden = !choosesNewCard();
      }
    }

    choices.forEach(function (choice) {
      choice.addEventListener("change", syncChoice);
    });
    syncChoice();

    var key = form.dataset.stripeKey;
    if (key && typeof window.Stripe === "function") {
      setUpStripe(form, key, choosesNewCard, submit);
    }
    // Registered last: a form on its way (not held back for Stripe) is not sent twice.
    form.addEventListener("submit", function (event) {
      if (!event.defaultPrevented && submit) {
        window.setTimeout(function () {
          submit.disabled = true;
        }, 0);
      }
    });
  }

  function setUpStripe(form, key, choosesNewCard, submit) {
    var stripe = window.Stripe(key);
    var card = stripe.elements().create("card");
    var mountPoint = form.querySelector("[data-card-element]");
    card.mount(mountPoint);
    var errorBox = form.querySelector("[data-card-error]");
    var tokenInput = form.querySelector("input[name=payment_method_token]");

    function fail(message) {
      if (errorBox) {
        errorBox.textContent = message || "The card could not be checked; try again.";
      }
      if (submit) {
        submit.disabled = false;
      }
    }

    form.addEventListener("submit", function (event) {
      if (!choosesNewCard() || tokenInput.value) {
        return;
      }
      event.preventDefault();
      if (submit) {
        submit.disabled = true;
      }
      if (errorBox) {
        errorBox.textContent = "";
      }
      fetch(form.dataset.setupUrl, {
        method: "POST",
        credentials: "same-origin",
        headers: { "X-CSRFToken": csrfToken(form), Accept: "application/json" },
      })
        .then(function (response) {
          return response.json().then(function (body) {
            if (!response.ok) {
              throw new Error(body.error);
            }
            return body.client_secret;
          });
        })
        .then(function (clientSecret) {
          return stripe.confirmCardSetup(clientSecret, { payment_method: { card: card } });
        })
        .then(function (result) {
          if (result.error) {
            fail(result.error.message);
            return;
          }
          var method = result.setupIntent.payment_method;
          tokenInput.value = typeof method === "string" ? method : method.id;
          form.submit();
        })
        .catch(function (error) {
          fail(error && error.message);
        });
    });
  }

  document.querySelectorAll("[data-card-form]").forEach(setUp);
})();
