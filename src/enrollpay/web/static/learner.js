// My courses and Account: their buttons call the JSON API through site.js's enrollpay.api (the
// session cookie plus X-CSRF-Token). Results are announced in a role=status region; errors show
// the API's message in a role=alert one.
(function () {
  "use strict";

  var shared = window.enrollpay;
  var announce = shared.announce;

  // ---- My courses ------------------------------------------------------------------------------

  var list = document.getElementById("my-courses");
  var pageStatus = document.getElementById("page-status");

  function triggerOf(panel) {
    return list.querySelector('[data-reveal="' + panel.id + '"]');
  }

  function closePanel(panel) {
    panel.hidden = true;
    panel.querySelector("[data-error]").textContent = "";
    var trigger = triggerOf(panel);
    trigger.setAttribute("aria-expanded", "false");
    trigger.focus();
  }

  function openPanel(trigger) {
    var panel = document.getElementById(trigger.getAttribute("data-reveal"));
    panel.hidden = false;
    trigger.setAttribute("aria-expanded", "true");
    (panel.querySelector("[data-reason]") || panel.querySelector("[data-action]")).focus();
  }

  // The server renders the cards (labels, actions, dates): fetch the page again and swap the
  // list in, keeping the status region (and its announcement) in place.
  function refreshList(enrollmentId, message) {
    return fetch(window.location.href, { credentials: "same-origin", cache: "no-store" })
      .then(function (response) {
        if (!response.ok) { throw new Error("HTTP " + response.status); }
        return response.text();
      })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("my-courses");
        if (!fresh) { throw new Error("no list in the page"); }
        list.innerHTML = fresh.innerHTML;
        var card = document.getElementById(enrollmentId);
        if (card) { card.focus(); }
        announce(pageStatus, message);
      })
      .catch(function () { window.location.reload(); });
  }

  var ACTIONS = {
    cancel: {
      body: function () { return {}; },
      done: "Enrollment cancelled. Your seat is released.",
      failed: "Could not cancel the enrollment."
    },
    refund: {
      body: function (panel) {
        // The API keeps a reason with every refund; the learner may leave it blank.
        var reason = panel.querySelector("[data-reason]").value.trim();
        return { reason: reason || "No reason given" };
      },
      done: "Refund requested: your access has ended. Banks usually take 5 to 7 working days " +
        "to show the money in your account.",
      failed: "Could not request the refund."
    }
  };

  function runAction(button) {
    var action = ACTIONS[button.getAttribute("data-action")];
    var panel = button.closest(".confirm");
    var card = button.closest(".enrollment");
    var errorSlot = panel.querySelector("[data-error]");
    var buttons = panel.querySelectorAll("button");
    function setBusy(busy) {
      Array.prototype.forEach.call(buttons, function (b) { b.disabled = busy; });
    }
    setBusy(true);
    errorSlot.textContent = "";
    shared.api("POST", button.getAttribute("data-url"), action.body(panel))
      .then(function (result) {
        if (!result.ok) {
          setBusy(false);
          errorSlot.textContent = shared.errorMessage(result, action.failed);
          return;
        }
        return refreshList(card.id, action.done);
      })
      .catch(function () {
        setBusy(false);
        errorSlot.textContent = shared.NO_CONNECTION;
      });
  }

  if (list) {
    // Delegated: the buttons are replaced whenever the list is refreshed.
    list.addEventListener("click", function (event) {
      var button = event.target.closest("button");
      if (!button || !list.contains(button)) { return; }
      if (button.hasAttribute("data-reveal")) {
        openPanel(button);
      } else if (button.hasAttribute("data-dismiss")) {
        closePanel(button.closest(".confirm"));
      } else if (button.hasAttribute("data-action")) {
        runAction(button);
      }
    });
  }

  // ---- Account ---------------------------------------------------------------------------------

  var accountStatus = document.getElementById("account-status");
  var verifyButton = document.getElementById("send-verification");
  var passwordForm = document.getElementById("password-form");

  if (verifyButton) {
    var verifyError = document.getElementById("verify-error");
    verifyButton.addEventListener("click", function () {
      verifyButton.disabled = true;
      verifyError.textContent = "";
      shared.api("POST", verifyButton.getAttribute("data-url"))
        .then(function (result) {
          verifyButton.disabled = false;
          if (!result.ok) {
            verifyError.textContent = shared.errorMessage(result, "Could not send the email.");
            return;
          }
          announce(accountStatus, result.body.message);
        })
        .catch(function () {
          verifyButton.disabled = false;
          verifyError.textContent = shared.NO_CONNECTION;
        });
    });
  }

  if (passwordForm) {
    var current = document.getElementById("current-password");
    var fresh = document.getElementById("new-password");
    var repeated = document.getElementById("repeat-password");
    var passwordButton = document.getElementById("password-button");
    var passwordError = document.getElementById("password-error");

    var showProblem = function (input, message) {
      [current, fresh, repeated].forEach(function (field) {
        if (field === input) {
          field.setAttribute("aria-invalid", "true");
        } else {
          field.removeAttribute("aria-invalid");
        }
      });
      passwordError.textContent = message;
      if (input) { input.focus(); }
    };

    passwordForm.addEventListener("submit", function (event) {
      event.preventDefault();
      if (!current.value) {
        showProblem(current, "Enter your current password.");
        return;
      }
      if (fresh.value.length < fresh.minLength) {
        showProblem(fresh, "The new password needs at least " + fresh.minLength + " characters.");
        return;
      }
      if (fresh.value !== repeated.value) {
        showProblem(repeated, "The two new passwords are not the same.");
        return;
      }
      showProblem(null, "");
      passwordButton.disabled = true;
      shared.api("POST", passwordForm.getAttribute("data-url"), {
        current_password: current.value,
        new_password: fresh.value
      })
        .then(function (result) {
          passwordButton.disabled = false;
          if (!result.ok) {
            var code = result.body && result.body.error && result.body.error.code;
            var culprit = { invalid_credentials: current, validation_error: fresh }[code] || null;
            showProblem(culprit, shared.errorMessage(result, "Could not change the password."));
            return;
          }
          passwordForm.reset();
          announce(accountStatus, result.body.message);
        })
        .catch(function () {
          passwordButton.disabled = false;
          showProblem(null, shared.NO_CONNECTION);
        });
    });
  }
})();
