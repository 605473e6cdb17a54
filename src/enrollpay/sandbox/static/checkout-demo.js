/* The sandbox's Checkout demo page: opens Checkout and logs what the page is told. */
(function () {
  "use strict";
  var button = document.getElementById("pay");
  var log = document.getElementById("log");
  function write(label, value) {
    log.textContent += label + (value === undefined ? "" : " " + JSON.stringify(value, null, 2)) + "\n";
  }
  if (!button) return;
  button.addEventListener("click", function () {
    var rzp = new Razorpay({
      key: button.dataset.key,
      order_id: button.dataset.orderId,
      name: button.dataset.name,
      description: "Sandbox demo payment",
      handler: function (response) {
        write("handler", response);
      },
      modal: {
        ondismiss: function () {
          write("modal.ondismiss");
        },
      },
    });
    rzp.on("payment.failed", function (response) {
      write("payment.failed", response);
    });
    rzp.open();
  });
})();
