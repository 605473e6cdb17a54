/*
 * The "choose a new password" page (enrollpay.web.account). Reads the token and the API URL from
 * <script type="application/json" id="reset-config">, checks the two fields agree, and posts
 * {token, new_password} to the JSON API; the answer (or its error message) is shown in place.
 */
(function () {
  "use strict";

  var config = JSON.parse(document.getElementById("reset-config").textContent);
  var form = document.getElementById("reset-form");
  var result = document.getElementById("reset-result");
  var button = document.getElementById("reset-button");
  var password = document.getElementById("new-password");
  var repeated = document.getElementById("confirm-password");

  function show(kind, message) {
    result.className = "notice " + kind;
    result.textContent = message;
    result.hidden = false;
  }

  function errorMessage(body) {
    var error = (body && body.error) || {};
    var fields = (error.details && error.details.fields) || [];
    if (fields.length) {
      return fields.map(function (field) { return field.message; }).join(" ");
    }
    return error.message || "Something went wrong. Try again.";
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (password.value.length < config.min_length) {
      show("error", "The new password needs at least " + config.min_length + " characters.");
      password.focus();
      return;
    }
    if (password.value !== repeated.value) {
      show("error", "The two passwords are not the same.");
      repeated.focus();
      return;
    }
    button.disabled = true;
    fetch(config.confirm_url, {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify({ token: config.token, new_password: password.value }),
      credentials: "omit",
      cache: "no-store",
    })
      .then(function (response) {
        return response.json().then(function (body) {
          return { ok: response.ok, body: body };
        });
      })
      .then(function (answer) {
        if (answer.ok) {
          form.hidden = true;
          show("ok", answer.body.message);
          document.getElementById("account-title").focus();
          return;
        }
        show("error", errorMessage(answer.body));
        button.disabled = false;
      })
      .catch(function () {
        show("error", "We could not reach the server. Check your connection and try again.");
        button.disabled = false;
      });
  });
})();
