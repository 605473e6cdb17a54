/*
 * The learner's checkout page (enrollpay.web.checkout_page). Reads
 * <script type="application/json" id="checkout-config"> and moves between the page's panels:
 *
 *   pay       Razorpay Checkout with a handler (no redirect), opened at once with ?start=1
 *   progress  after Checkout's success: verify-payment, then payment-status every 2 s
 *   retry     a failed payment, a dismissed window after a failure, or a hold that ran out
 *   enrolled  the success state with the course's access link
 *   closed    the enrollment can no longer be paid (the server's page explains)
 *
 * Everything the page decides comes from the API (site.js's enrollpay.api: the cookie plus
 * X-CSRF-Token on writes), so it ends the same whether the browser's verify or Razorpay's
 * webhook arrives first.
 */
(function () {
  "use strict";

  var POLL_MS = 2000;
  var GIVE_UP_MS = 10 * 60 * 1000;
  var PANELS = ["pay", "progress", "retry", "enrolled", "closed"];
  var STEPS = ["paid", "verified", "enrolled"];

  var shared = window.enrollpay;
  var api = shared.api;
  var config = JSON.parse(document.getElementById("checkout-config").textContent);
  var status = document.getElementById("checkout-status");
  var payButton = document.getElementById("pay-button");
  var retryButton = document.getElementById("retry-button");
  var session = null;
  var deadline = 0; // when the current session's hold ends, by this browser's clock

  function byId(id) { return document.getElementById(id); }

  function say(message) { shared.announce(status, message); }

  function show(panel) {
    PANELS.forEach(function (name) { byId("panel-" + name).hidden = name !== panel; });
  }

  function useSession(next) {
    session = next;
    deadline = next ? Date.now() + next.timeout * 1000 : 0;
  }

  // ---- outcomes ------------------------------------------------------------------------------

  function enrolled() {
    show("enrolled");
    byId("checkout-eyebrow").textContent = "Enrollment confirmed";
    document.title = "You're enrolled · enrollpay";
    say("Payment confirmed. You're enrolled.");
    byId("access-link").focus();
  }

  function failed(reason, heading) {
    byId("retry-heading").textContent = heading || "Your payment did not go through.";
    byId("retry-reason").textContent = reason || "";
    show("retry");
    retryButton.disabled = false;
    retryButton.focus();
  }

  function step(current) {
    var reached = STEPS.indexOf(current);
    STEPS.forEach(function (name, index) {
      var item = document.querySelector('[data-step="' + name + '"]');
      item.toggleAttribute("data-done", index < reached);
      if (index === reached) item.setAttribute("aria-current", "step");
      else item.removeAttribute("aria-current");
    });
  }

  /** Acts on a payment-status body; false while there is nothing to do but wait. */
  function follow(body) {
    if (body.enrollment_status === "enrolled") {
      enrolled();
      return true;
    }
    if (body.enrollment_status === "failed") {
      failed(body.failure_reason);
      return true;
    }
    if (body.enrollment_status !== "pending") {
      window.location.reload(); // expired, cancelled, refunded: the server's page says why
      return true;
    }
    if (body.payment_status === "authorized" || body.payment_status === "completed") {
      step("enrolled");
    }
    return false;
  }

  function poll(started) {
    api("GET", config.status_url)
      .catch(function () { return null; }) // offline for a moment: keep trying
      .then(function (res) {
        if (res && res.status === 401) {
          window.location.reload(); // signed out meanwhile: the page asks to log in
          return;
        }
        if (res && res.ok && follow(res.body)) return;
        if (Date.now() - started > GIVE_UP_MS) {
          say("This is taking longer than usual. Your enrollment is confirmed as soon as the " +
            "payment completes; you can close this page and check My courses later.");
          return;
        }
        window.setTimeout(function () { poll(started); }, POLL_MS);
      });
  }

  function confirming(currentStep, message) {
    show("progress");
    step(currentStep);
    say(message);
    poll(Date.now());
  }

  // ---- Checkout ------------------------------------------------------------------------------

  function onPaid(response) {
    show("progress");
    step("verified");
    say("Payment made. Checking it with Razorpay…");
    api("POST", config.verify_url, {
      razorpay_payment_id: response.razorpay_payment_id,
      razorpay_order_id: response.razorpay_order_id,
      razorpay_signature: response.razorpay_signature,
    })
      .catch(function () { return null; })
      .then(function (res) {
        if (res && res.ok) {
          if (!follow(res.body)) confirming("enrolled", "Payment confirmed. Enrolling you…");
        } else if (res && res.status === 400) {
          failed("If money was taken, it is refunded automatically, or you are enrolled as soon " +
            "as Razorpay confirms the payment to us.", "We could not verify this payment.");
        } else {
          // Razorpay or we are slow to answer: the webhook settles it, keep watching.
          confirming("verified", "Waiting for Razorpay to confirm your payment…");
        }
      });
  }

  function open() {
    var left = Math.floor((deadline - Date.now()) / 1000);
    if (!session || left < 1) {
      failed("Start again to get a new payment window.", "The time to pay ran out.");
      return;
    }
    if (typeof window.Razorpay !== "function") {
      show("pay");
      say("The secure payment window could not be loaded. Check your connection and try again.");
      return;
    }
    var lastError = null;
    var paid = false;
    var prefill = {};
    Object.keys(session.prefill).forEach(function (key) {
      if (session.prefill[key]) prefill[key] = session.prefill[key];
    });
    var rzp = new window.Razorpay({
      key: session.razorpay_key_id,
      order_id: session.razorpay_order_id,
      amount: session.amount,
      currency: session.currency,
      name: session.name,
      description: session.description,
      prefill: prefill,
      theme: { color: config.theme_color },
      timeout: left,
      handler: function (response) {
        paid = true;
        onPaid(response);
      },
      modal: {
        ondismiss: function () {
          if (paid) return;
          if (lastError) {
            failed(lastError.description);
            return;
          }
          show("pay");
          say("Payment not completed — try again when you are ready.");
          payButton.focus();
        },
      },
    });
    // Our own failure panel and retry button instead of Checkout's in-window retry.
    rzp.on("payment.failed", function (response) {
      lastError = response.error || {};
      rzp.close();
    });
    say("Opening the secure payment window…");
    rzp.open();
  }

  /** Asks where the payment stands, then reopens, renews or shows the outcome. */
  function tryAgain() {
    retryButton.disabled = true;
    say("Getting a payment window ready…");
    api("GET", config.status_url)
      .then(function (res) {
        if (!res.ok) throw res;
        var body = res.body;
        if (body.retry_allowed) {
          return api("POST", config.retry_url).then(function (renewed) {
            if (!renewed.ok) throw renewed;
            if (!renewed.body.payment_session) return window.location.reload();
            useSession(renewed.body.payment_session);
            return open();
          });
        }
        if (body.enrollment_status === "pending" && body.payment_status === "pending" && session &&
            body.razorpay_order_id === session.razorpay_order_id) {
          return open(); // the same order takes another attempt
        }
        if (!follow(body)) confirming("enrolled", "Payment confirmed. Enrolling you…");
      })
      .catch(function (res) {
        retryButton.disabled = false;
        say(shared.errorMessage(res, shared.NO_CONNECTION));
      });
  }

  useSession(config.session);
  payButton.addEventListener("click", open);
  retryButton.addEventListener("click", tryAgain);
  if (config.state === "confirming") {
    confirming("enrolled", "Payment made. Enrolling you…");
  } else if (config.start) {
    // Opened once from Enroll; a reload shows the Pay button instead of reopening.
    window.history.replaceState(null, "", window.location.pathname);
    open();
  }
})();
