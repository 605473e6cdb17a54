// The course page: re-quote with a coupon (quote API) and enroll (initialize API) with the
// session cookie plus the csrf cookie's value as X-CSRF-Token.
(function () {
  "use strict";
  var config = JSON.parse(document.getElementById("course-config").textContent);
  var status = document.getElementById("enroll-status");
  var couponForm = document.getElementById("coupon-form");
  var couponInput = document.getElementById("coupon");
  var enrollButton = document.getElementById("enroll");
  var money = new Intl.NumberFormat("en-IN", { style: "currency", currency: "INR" });
  var appliedCoupon = null;

  function say(text) { if (status) { status.textContent = text; } }

  function csrfToken() {
    var match = document.cookie.match(/(?:^|;\s*)csrf=([^;]*)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  function errorMessage(body, fallback) {
    return body && body.error && body.error.message ? body.error.message : fallback;
  }

  function show(quote) {
    var summary = document.getElementById("price-summary");
    ["original_amount", "course_discount", "coupon_discount", "final_amount", "tax_amount",
      "total_payable"].forEach(function (name) {
      var cell = summary.querySelector('[data-field="' + name + '"]');
      var discount = name.indexOf("discount") !== -1;
      cell.textContent = (discount ? "−" : "") + money.format(quote[name]);
      if (discount) { cell.parentElement.hidden = !quote[name]; }
    });
  }

  if (couponForm) {
    couponForm.addEventListener("submit", function (event) {
      event.preventDefault();
      var code = couponInput.value.trim();
      var url = config.quote_url + (code ? "?coupon_code=" + encodeURIComponent(code) : "");
      fetch(url, { headers: { Accept: "application/json" } })
        .then(function (r) { return r.json().then(function (b) { return { ok: r.ok, body: b }; }); })
        .then(function (res) {
          if (!res.ok) {
            couponInput.setAttribute("aria-invalid", "true");
            say(errorMessage(res.body, "This coupon cannot be applied."));
            return;
          }
          couponInput.removeAttribute("aria-invalid");
          appliedCoupon = code || null;
          show(res.body);
          say(code ? "Coupon applied. Total: " + money.format(res.body.total_payable)
                   : "Total: " + money.format(res.body.total_payable));
        })
        .catch(function () { say("Could not check the coupon. Check your connection."); });
    });
  }

  if (enrollButton) {
    enrollButton.addEventListener("click", function () {
      enrollButton.disabled = true;
      say("Starting your enrollment…");
      var body = { course_id: config.course_id };
      if (appliedCoupon) { body.coupon_code = appliedCoupon; }
      fetch(config.initialize_url, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": csrfToken() },
        body: JSON.stringify(body)
      })
        .then(function (r) { return r.json().then(function (b) { return { ok: r.ok, body: b }; }); })
        .then(function (res) {
          if (!res.ok) {
            enrollButton.disabled = false;
            say(errorMessage(res.body, "Could not start the enrollment."));
            return;
          }
          // The checkout page opens Razorpay Checkout (start=1), or shows the enrollment.
          var checkoutUrl = "/checkout/" + encodeURIComponent(res.body.enrollment_id);
          say(res.body.payment_session ? "Opening the payment window…" : "You're enrolled!");
          window.location.assign(checkoutUrl + (res.body.payment_session ? "?start=1" : ""));
        })
        .catch(function () {
          enrollButton.disabled = false;
          say("Could not reach the server. Check your connection and try again.");
        });
    });
  }
})();
