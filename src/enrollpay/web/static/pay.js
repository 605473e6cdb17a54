/*
 * The hosted payment page (enrollpay.web.paypage). Reads its settings from
 * <script type="application/json" id="pay-config"> and runs in one of two modes:
 *
 * - "checkout": opens Razorpay Checkout (on load while pending, and on the button). Checkout
 *   POSTs the result to callback_url (redirect: true); closing it goes to cancel_url, or shows
 *   "Payment not completed" here.
 * - "confirm": polls status_url every 2 s while the payment is being confirmed, then reloads so
 *   the server shows where the enrollment stands.
 */
(function () {
  "use strict";

  var config = JSON.parse(document.getElementById("pay-config").textContent);
  var status = document.getElementById("pay-status");

  function say(message) {
    window.enrollpay.announce(status, message);
  }

  function checkout() {
    var button = document.getElementById("pay-button");
    // Checkout's timeout counts from each open; the hold ends at a fixed time.
    var deadline = Date.now() + config.options.timeout * 1000;

    function onDismiss() {
      if (config.cancel_url) {
        window.location.assign(config.cancel_url);
        return;
      }
      say("Payment not completed — try again when you are ready.");
      button.focus();
    }

    function open() {
      var left = Math.floor((deadline - Date.now()) / 1000);
      if (left < 1) {
        window.location.reload(); // the server explains that the time to pay ran out
        return;
      }
      if (typeof window.Razorpay !== "function") {
        say("The secure payment window could not be loaded. Check your connection and try again.");
        return;
      }
      var options = Object.assign({}, config.options, {
        timeout: left,
        modal: { ondismiss: onDismiss },
      });
      say("Opening the secure payment window…");
      new window.Razorpay(options).open();
    }

    button.addEventListener("click", open);
    if (config.auto_open) open();
  }

  function confirm() {
    var started = Date.now();
    var GIVE_UP_MS = 10 * 60 * 1000;

    function poll() {
      fetch(config.status_url, { cache: "no-store", credentials: "omit" })
        .then(function (response) {
          return response.ok ? response.json() : null;
        })
        .catch(function () {
          return null; // offline for a moment: keep trying
        })
        .then(function (body) {
          if (body && body.status !== "pending") {
            window.location.reload();
            return;
          }
          if (Date.now() - started > GIVE_UP_MS) {
            say("This is taking longer than usual. Your enrollment is confirmed as soon as the " +
              "payment completes; you can close this page and check back later.");
            return;
          }
          window.setTimeout(poll, 2000);
        });
    }

    window.setTimeout(poll, 2000);
  }

  if (config.mode === "checkout") checkout();
  else if (config.mode === "confirm") confirm();
})();
