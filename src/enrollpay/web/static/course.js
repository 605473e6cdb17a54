// The course page: re-quote with a coupon (quote API) and enroll (initialize API, through
// site.js's queue so that a click made offline is sent once back online).
(function () {
  "use strict";
  var shared = window.enrollpay;
  var config = JSON.parse(document.getElementById("course-config").textContent);
  var status = document.getElementById("enroll-status");
  var couponForm = document.getElementById("coupon-form");
  var couponInput = document.getElementById("coupon");
  var enrollButton = document.getElementById("enroll");
  var money = new Intl.NumberFormat("en-IN", { style: "currency", currency: "INR" });
  var appliedCoupon = null;

  function say(text) { if (status) { shared.announce(status, text); } }

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
      shared.api("GET", url)
        .then(function (res) {
          if (!res.ok) {
            couponInput.setAttribute("aria-invalid", "true");
            say(shared.errorMessage(res, "This coupon cannot be applied."));
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
      var enrollment = shared.enrollmentFor(config.course_id, appliedCoupon);

      // Offline, or no answer: kept and sent by site.js when the browser is back online.
      function queue() {
        enrollButton.disabled = false;
        say(shared.queueEnrollment(enrollment) ? shared.OFFLINE_MESSAGE : shared.NO_CONNECTION);
      }

      if (!navigator.onLine) {
        queue();
        return;
      }
      enrollButton.disabled = true;
      say("Starting your enrollment…");
      shared.sendEnrollment(enrollment).then(function (res) {
        if (!res.ok) {
          enrollButton.disabled = false;
          say(shared.errorMessage(res, "Could not start the enrollment."));
          return;
        }
        say(res.body.payment_session ? "Opening the payment window…" : "You're enrolled!");
        window.location.assign(shared.checkoutUrl(res.body));
      }, queue);
    });
  }
})();
