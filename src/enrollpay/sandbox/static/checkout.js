/*
 * enrollpay sandbox: a stand-in for Razorpay's https://checkout.razorpay.com/v1/checkout.js
 *
 *   var rzp = new Razorpay(options);   // throws "No key passed" without options.key
 *   rzp.on("payment.failed", function (response) { ... response.error ... });
 *   rzp.open();
 *   rzp.close();                       // closes and calls modal.ondismiss
 *
 * Options honoured: key, order_id (required here), amount, currency, name, description, image,
 * prefill{name,email,contact,method,vpa}, readonly{contact,email}, hidden{contact,email}, notes
 * (accepted, not used), theme{color,backdrop_color}, handler, callback_url, redirect, timeout,
 * modal{ondismiss,escape (default true),backdropclose (default false),confirm_close},
 * retry{enabled (default true)}.
 *
 * Test mode only: no real money moves. The modal lives in a shadow root (styles cannot leak in
 * or out), talks only to the sandbox this file was loaded from (found from
 * document.currentScript.src) and loads nothing else. Test-mode rules (test cards, OTP lengths,
 * UPI test VPAs) are applied by the sandbox server (checkout_rules.py), not here.
 *
 * Choices where Razorpay's behaviour is not documented (UNCONFIRMED):
 * - options.amount / options.currency that differ from the order's are refused with an error.
 * - With callback_url, a success is always POSTed there (handler is not called); with
 *   redirect: true a failure is POSTed too, as error[code], error[description], error[source],
 *   error[step], error[reason] and error[metadata] (a JSON string {order_id, payment_id}); then
 *   neither handler nor payment.failed runs (the page is navigating away).
 * - timeout: after `timeout` seconds the modal shows "Payment timed out", closes and calls
 *   modal.ondismiss (payment.failed does not fire; no payment is created).
 * - rzp.close() calls modal.ondismiss, as closing with the X does.
 */
(function () {
  "use strict";

  if (window.Razorpay && window.Razorpay.__enrollpaySandbox) {
    return; // loaded twice: keep the first copy
  }

  var script = document.currentScript;
  if (!script) {
    var candidates = document.querySelectorAll('script[src*="checkout.js"]');
    script = candidates[candidates.length - 1] || null;
  }
  var BASE = script && script.src ? script.src.replace(/[?#].*$/, "").replace(/\/[^/]*$/, "") : "";

  var METHODS = [
    { id: "card", label: "Card", hint: "Visa, Mastercard, RuPay, Amex, Diners" },
    { id: "upi", label: "UPI", hint: "success@razorpay / failure@razorpay" },
    { id: "netbanking", label: "Netbanking", hint: "All Indian banks" },
    { id: "wallet", label: "Wallet", hint: "PhonePe, Amazon Pay and more" },
  ];

  // ---- small helpers ---------------------------------------------------------------------

  function h(tag, attrs, children) {
    var el = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (name) {
        var value = attrs[name];
        if (value === null || value === undefined || value === false) return;
        if (name === "text") el.textContent = value;
        else if (name.slice(0, 2) === "on") el.addEventListener(name.slice(2), value);
        else if (value === true) el.setAttribute(name, "");
        else el.setAttribute(name, String(value));
      });
    }
    (children || []).forEach(function (child) {
      if (child === null || child === undefined || child === false) return;
      el.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
    return el;
  }

  function formatAmount(amount, currency) {
    currency = currency || "INR";
    try {
      var fmt = new Intl.NumberFormat("en-IN", { style: "currency", currency: currency });
      var digits = fmt.resolvedOptions().maximumFractionDigits;
      return fmt.format(amount / Math.pow(10, digits));
    } catch (e) {
      return currency + " " + (amount / 100).toFixed(2);
    }
  }

  function contrastText(color) {
    var m = /^#?([0-9a-f]{3}|[0-9a-f]{6})$/i.exec(String(color || "").trim());
    if (!m) return "#ffffff";
    var hex = m[1].length === 3 ? m[1].replace(/(.)/g, "$1$1") : m[1];
    var rgb = [0, 2, 4].map(function (i) {
      var c = parseInt(hex.slice(i, i + 2), 16) / 255;
      return c <= 0.03928 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4);
    });
    var luminance = 0.2126 * rgb[0] + 0.7152 * rgb[1] + 0.0722 * rgb[2];
    return luminance > 0.4 ? "#111111" : "#ffffff";
  }

  function safeCall(fn, arg, what) {
    if (typeof fn !== "function") return;
    try {
      fn(arg);
    } catch (e) {
      if (window.console) console.error("Razorpay sandbox: error in " + what, e);
    }
  }

  function api(method, path, body, signal) {
    var init = { method: method, credentials: "omit", signal: signal, headers: {} };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    return fetch(BASE + path, init).then(
      function (response) {
        return response
          .json()
          .catch(function () {
            return {};
          })
          .then(function (data) {
            return { ok: response.ok, status: response.status, body: data };
          });
      },
      function (err) {
        if (err && err.name === "AbortError") throw err;
        return {
          ok: false,
          status: 0,
          body: {
            error: {
              code: "SERVER_ERROR",
              description: "Could not reach the Razorpay sandbox at " + BASE + ".",
            },
          },
        };
      }
    );
  }

  function postForm(url, fields) {
    var form = h("form", { method: "POST", action: url, "accept-charset": "utf-8" });
    form.style.display = "none";
    Object.keys(fields).forEach(function (name) {
      form.appendChild(h("input", { type: "hidden", name: name, value: fields[name] }));
    });
    document.body.appendChild(form);
    HTMLFormElement.prototype.submit.call(form);
  }

  // ---- the public object -----------------------------------------------------------------

  function Razorpay(options) {
    if (!(this instanceof Razorpay)) return new Razorpay(options);
    if (!options || typeof options !== "object") throw new Error("Razorpay: options are required");
    if (!options.key) throw new Error("No key passed");
    this.options = options;
    this._events = {};
    this._modal = null;
  }

  Razorpay.prototype.on = function (event, callback) {
    if (typeof callback === "function") {
      (this._events[event] = this._events[event] || []).push(callback);
    }
    return this;
  };

  Razorpay.prototype.open = function () {
    if (!this._modal) {
      this._modal = new Modal(this);
      this._modal.open();
    }
    return this;
  };

  Razorpay.prototype.close = function () {
    if (this._modal) this._modal.dismiss();
  };

  Razorpay.prototype._emit = function (event, payload) {
    (this._events[event] || []).forEach(function (callback) {
      safeCall(callback, payload, "the '" + event + "' listener");
    });
  };

  Razorpay.__enrollpaySandbox = true;
  Razorpay.sandboxBase = BASE;

  // ---- the modal -------------------------------------------------------------------------

  function Modal(rzp) {
    var o = rzp.options;
    this.rzp = rzp;
    this.o = o;
    this.modalOpts = o.modal || {};
    this.prefill = o.prefill || {};
    this.readonly = o.readonly || {};
    this.retryEnabled = !(o.retry === false || (o.retry && o.retry.enabled === false));
    this.redirect = Boolean(o.callback_url) && o.redirect === true;
    this.order = null;
    this.banks = {};
    this.wallets = {};
    this.form = {
      contact: this.prefill.contact || "",
      email: this.prefill.email || "",
      method: null,
      card: { number: "", expiry: "", cvv: "", name: this.prefill.name || "" },
      vpa: this.prefill.vpa || "",
      bank: "",
      wallet: "",
    };
    var method = this.prefill.method;
    // prefill.method works only with contact and email prefilled (Razorpay's rule).
    if (method && this.prefill.contact && this.prefill.email) this.form.method = method;
    this.form.method = this.form.method || "card";
    this.busy = null; // AbortController of the request in flight
    this.closed = false;
    this.locked = false; // after a result: no more input
  }

  Modal.prototype.open = function () {
    var self = this;
    this.previousFocus = document.activeElement;
    this.host = h("div", { "data-razorpay-sandbox": "checkout" });
    this.host.hidden = true;
    var theme = this.o.theme || {};
    if (theme.color) {
      this.host.style.setProperty("--accent", theme.color);
      this.host.style.setProperty("--accent-text", contrastText(theme.color));
    }
    if (theme.backdrop_color) this.host.style.setProperty("--backdrop", theme.backdrop_color);
    var root = (this.root = this.host.attachShadow({ mode: "open" }));
    var stylesheet = h("link", { rel: "stylesheet", href: BASE + "/checkout.css" });
    var reveal = function () {
      if (!self.closed && self.host.hidden) {
        self.host.hidden = false;
        self.focusFirst(self.focusSelector);
      }
    };
    stylesheet.addEventListener("load", reveal);
    stylesheet.addEventListener("error", reveal);
    root.appendChild(stylesheet);

    this.status = h("p", { class: "status", role: "status", "aria-live": "polite" });
    this.screen = h("div", { class: "screen" });
    this.closeButton = h("button", {
      type: "button",
      class: "close",
      "aria-label": "Close checkout",
      onclick: function () {
        self.requestClose();
      },
    }, ["\u00d7"]);
    var logo = null;
    if (this.o.image) {
      logo = h("img", { class: "logo", src: this.o.image, alt: "", referrerpolicy: "no-referrer" });
      logo.addEventListener("error", function () {
        logo.remove();
      });
    }
    this.amountEl = h("p", { class: "amount", id: "rzp-amount" });
    this.dialog = h("section", {
      class: "dialog",
      role: "dialog",
      "aria-modal": "true",
      "aria-labelledby": "rzp-title",
      "aria-describedby": "rzp-badge rzp-amount",
      tabindex: "-1",
    }, [
      h("header", { class: "head" }, [
        logo,
        h("div", { class: "merchant" }, [
          h("h2", { id: "rzp-title", text: this.o.name || "Checkout" }),
          this.o.description ? h("p", { class: "description", text: this.o.description }) : null,
        ]),
        this.closeButton,
      ]),
      h("div", { class: "summary" }, [
        this.amountEl,
        h("p", { class: "badge", id: "rzp-badge", text: "SANDBOX \u2014 test mode, no real money" }),
      ]),
      this.status,
      this.screen,
    ]);
    this.frame = h("div", { class: "frame" }, [this.dialog]);
    this.frame.addEventListener("mousedown", function (event) {
      if (event.target === self.frame && self.modalOpts.backdropclose === true) self.requestClose();
    });
    root.appendChild(h("div", { class: "backdrop", "aria-hidden": "true" }));
    root.appendChild(this.frame);

    this.onKeydown = function (event) {
      self.keydown(event);
    };
    this.onFocusin = function (event) {
      // Keep focus in the dialog (aria-modal): anything outside it pulls focus back.
      if (!self.closed && !self.host.hidden && event.target !== self.host) self.focusFirst();
    };
    root.addEventListener("keydown", this.onKeydown);
    document.addEventListener("focusin", this.onFocusin);
    this.savedOverflow = document.documentElement.style.overflow;
    document.documentElement.style.overflow = "hidden";
    document.body.appendChild(this.host);

    var timeout = Number(this.o.timeout);
    if (timeout > 0) {
      this.timer = window.setTimeout(function () {
        self.timedOut();
      }, timeout * 1000);
    }
    this.showAmount(this.o.amount, this.o.currency);
    this.loadOrder();
  };

  Modal.prototype.showAmount = function (amount, currency) {
    var value = Number(amount);
    this.amountEl.textContent = isFinite(value) && value > 0 ? formatAmount(value, currency) : "";
  };

  Modal.prototype.say = function (message) {
    // aria-live announces changes: clear first so a repeated message is read again.
    var status = this.status;
    status.textContent = "";
    window.setTimeout(function () {
      status.textContent = message;
    }, 30);
  };

  Modal.prototype.render = function (nodes, announce, focusSelector) {
    var screen = this.screen;
    this.focusSelector = focusSelector || null;
    while (screen.firstChild) screen.removeChild(screen.firstChild);
    nodes.forEach(function (node) {
      if (node) screen.appendChild(node);
    });
    if (announce) this.say(announce);
    if (!this.host.hidden) this.focusFirst(focusSelector);
  };

  Modal.prototype.focusables = function () {
    var scope = this.dialog.querySelector(".confirm") || this.dialog;
    var all = scope.querySelectorAll(
      'button:not([disabled]), input:not([disabled]):not([type="hidden"]), select:not([disabled]), a[href], [tabindex="0"]'
    );
    return Array.prototype.filter.call(all, function (el) {
      return el.getClientRects().length > 0;
    });
  };

  /** Focus `selector` (an input the customer must fill next) or else the dialog itself, so a
   * screen reader reads the dialog and a phone does not pop its keyboard over the summary. */
  Modal.prototype.focusFirst = function (selector) {
    var target = selector ? this.dialog.querySelector(selector) : null;
    (target || this.dialog).focus();
  };

  Modal.prototype.keydown = function (event) {
    if (event.key === "Escape") {
      if (this.confirming) {
        event.preventDefault();
        this.hideConfirm();
      } else if (this.modalOpts.escape !== false) {
        event.preventDefault();
        this.requestClose();
      }
      return;
    }
    if (event.key !== "Tab") return;
    var items = this.focusables();
    if (!items.length) {
      event.preventDefault();
      return;
    }
    var first = items[0];
    var last = items[items.length - 1];
    var active = this.root.activeElement;
    if (event.shiftKey && (active === first || !this.dialog.contains(active))) {
      event.preventDefault();
      last.focus();
    } else if (!event.shiftKey && (active === last || !this.dialog.contains(active))) {
      event.preventDefault();
      first.focus();
    }
  };

  // ---- closing -----------------------------------------------------------------------------

  Modal.prototype.requestClose = function () {
    if (this.closed) return;
    if (this.modalOpts.confirm_close && !this.locked && !this.confirming) {
      this.showConfirm();
      return;
    }
    this.dismiss();
  };

  Modal.prototype.showConfirm = function () {
    var self = this;
    this.confirming = true;
    var panel = h("div", {
      class: "confirm",
      role: "alertdialog",
      "aria-modal": "true",
      "aria-labelledby": "rzp-confirm-title",
    }, [
      h("p", { id: "rzp-confirm-title", class: "confirm-title", text: "Cancel this payment?" }),
      h("div", { class: "actions" }, [
        h("button", {
          type: "button",
          class: "primary",
          text: "Yes, cancel",
          onclick: function () {
            self.dismiss();
          },
        }),
        h("button", {
          type: "button",
          class: "secondary",
          text: "No, continue",
          onclick: function () {
            self.hideConfirm();
          },
        }),
      ]),
    ]);
    this.dialog.appendChild(panel);
    panel.querySelector("button").focus();
  };

  Modal.prototype.hideConfirm = function () {
    var panel = this.dialog.querySelector(".confirm");
    if (panel) panel.remove();
    this.confirming = false;
    this.focusFirst(this.focusSelector);
  };

  /** Close and tell the page the customer left (modal.ondismiss). */
  Modal.prototype.dismiss = function () {
    if (this.closed) return;
    this.teardown();
    safeCall(this.modalOpts.ondismiss, undefined, "modal.ondismiss");
  };

  Modal.prototype.teardown = function () {
    if (this.closed) return;
    this.closed = true;
    if (this.busy) this.busy.abort();
    window.clearTimeout(this.timer);
    document.removeEventListener("focusin", this.onFocusin);
    document.documentElement.style.overflow = this.savedOverflow;
    this.host.remove();
    this.rzp._modal = null;
    var previous = this.previousFocus;
    if (previous && typeof previous.focus === "function" && document.contains(previous)) {
      previous.focus();
    }
  };

  Modal.prototype.timedOut = function () {
    if (this.closed) return;
    var self = this;
    this.locked = true;
    if (this.busy) this.busy.abort();
    this.render(
      [
        h("div", { class: "result failed", role: "alert" }, [
          h("h3", { text: "Payment timed out" }),
          h("p", { text: "This payment has timed out. Please start again." }),
        ]),
      ],
      "Payment timed out"
    );
    window.setTimeout(function () {
      self.dismiss();
    }, 1000);
  };

  // ---- loading the order -------------------------------------------------------------------

  Modal.prototype.loadOrder = function () {
    var self = this;
    this.render([h("p", { class: "loading", text: "Loading\u2026" })], "Loading payment details");
    if (!this.o.order_id) {
      this.fatal("order_id is required: the enrollpay sandbox takes payments against orders only.");
      return;
    }
    var query = "?key_id=" + encodeURIComponent(this.o.key) +
      "&order_id=" + encodeURIComponent(this.o.order_id);
    api("GET", "/checkout/order" + query).then(function (result) {
      if (self.closed) return;
      if (!result.ok) {
        self.fatal(self.describe(result.body));
        return;
      }
      var order = result.body.order;
      var wanted = self.o.amount;
      if (wanted !== undefined && wanted !== null && wanted !== "" &&
          Number(wanted) !== order.amount && Number(wanted) !== order.amount_due) {
        self.fatal("The amount (" + wanted + ") does not match the order's amount (" +
          order.amount + ").");
        return;
      }
      if (self.o.currency && String(self.o.currency).toUpperCase() !== order.currency) {
        self.fatal("The currency (" + self.o.currency + ") does not match the order's currency (" +
          order.currency + ").");
        return;
      }
      self.order = order;
      self.banks = result.body.netbanking || {};
      self.wallets = result.body.wallets || {};
      self.showAmount(order.amount_due, order.currency);
      self.showMethods();
    });
  };

  Modal.prototype.describe = function (body) {
    var error = (body && body.error) || {};
    return error.description || "Something went wrong. Please try again.";
  };

  Modal.prototype.fatal = function (message) {
    var self = this;
    this.locked = true;
    if (window.console) console.error("Razorpay sandbox: " + message);
    this.render(
      [
        h("div", { class: "result failed", role: "alert" }, [
          h("h3", { text: "Unable to process this payment" }),
          h("p", { class: "error-text", text: message }),
        ]),
        h("div", { class: "actions" }, [
          h("button", {
            type: "button",
            class: "secondary",
            text: "Close",
            onclick: function () {
              self.dismiss();
            },
          }),
        ]),
      ],
      "Error: " + message,
      ".actions .secondary"
    );
  };

  // ---- the method form -------------------------------------------------------------------

  function field(id, label, input, hint) {
    input.id = id;
    var describedBy = [];
    var hintEl = null;
    if (hint) {
      hintEl = h("p", { class: "hint", id: id + "-hint", text: hint });
      describedBy.push(id + "-hint");
    }
    var errorEl = h("p", { class: "field-error", id: id + "-error", hidden: true });
    describedBy.push(id + "-error");
    input.setAttribute("aria-describedby", describedBy.join(" "));
    return h("div", { class: "field", "data-field": id }, [
      h("label", { for: id, text: label }),
      input,
      hintEl,
      errorEl,
    ]);
  }

  Modal.prototype.showMethods = function (message) {
    var self = this;
    var f = this.form;
    this.locked = false;

    var contact = h("input", {
      type: "tel",
      name: "contact",
      autocomplete: "tel",
      inputmode: "tel",
      required: true,
      readonly: Boolean(this.readonly.contact && f.contact),
      value: f.contact,
    });
    var email = h("input", {
      type: "email",
      name: "email",
      autocomplete: "email",
      required: true,
      readonly: Boolean(this.readonly.email && f.email),
      value: f.email,
    });
    var hidden = this.o.hidden || {};
    var contactBox = h("div", { class: "contact" }, [
      hidden.contact && f.contact ? null : field("rzp-contact", "Phone number", contact),
      hidden.email && f.email ? null : field("rzp-email", "Email", email),
    ]);

    var panel = h("div", { class: "method-panel" });
    var options = METHODS.map(function (method) {
      var radio = h("input", {
        type: "radio",
        name: "method",
        value: method.id,
        id: "rzp-method-" + method.id,
        // The tile shows a hint too; the radio's name stays the method's name.
        "aria-label": method.label,
        "aria-describedby": "rzp-method-" + method.id + "-hint",
        checked: f.method === method.id,
        onchange: function () {
          f.method = method.id;
          self.renderPanel(panel);
        },
      });
      return h("div", { class: "method" }, [
        radio,
        h("label", { for: "rzp-method-" + method.id }, [
          h("span", { class: "method-name", text: method.label }),
          h("span", { class: "method-hint", id: "rzp-method-" + method.id + "-hint", text: method.hint }),
        ]),
      ]);
    });
    var methods = h("fieldset", { class: "methods" }, [
      h("legend", { text: "Payment method" }),
    ].concat(options));

    var errorBox = h("p", { class: "form-error", role: "alert", hidden: !message, text: message || "" });
    var pay = h("button", {
      type: "submit",
      class: "primary pay",
      text: "Pay " + formatAmount(this.order.amount_due, this.order.currency),
    });
    var form = h("form", {
      class: "pay-form",
      novalidate: true,
      onsubmit: function (event) {
        event.preventDefault();
        self.submitMethod(form);
      },
    }, [contactBox, methods, panel, errorBox, h("div", { class: "actions" }, [pay])]);
    this.renderPanel(panel);
    this.render([form], message ? "Payment failed: " + message : "Choose a payment method");
  };

  Modal.prototype.renderPanel = function (panel) {
    var f = this.form;
    while (panel.firstChild) panel.removeChild(panel.firstChild);
    var node;
    if (f.method === "card") {
      node = h("div", { class: "card-fields" }, [
        field(
          "rzp-card-number",
          "Card number",
          h("input", {
            name: "card_number",
            inputmode: "numeric",
            autocomplete: "cc-number",
            maxlength: "23",
            required: true,
            value: f.card.number,
          }),
          "Test card: 4100 2800 0000 1007, any future expiry, any CVV"
        ),
        h("div", { class: "row" }, [
          field(
            "rzp-card-expiry",
            "Expiry (MM/YY)",
            h("input", {
              name: "card_expiry",
              inputmode: "numeric",
              autocomplete: "cc-exp",
              placeholder: "MM/YY",
              maxlength: "7",
              required: true,
              value: f.card.expiry,
            })
          ),
          field(
            "rzp-card-cvv",
            "CVV",
            h("input", {
              name: "card_cvv",
              type: "password",
              inputmode: "numeric",
              autocomplete: "cc-csc",
              maxlength: "4",
              required: true,
              value: f.card.cvv,
            })
          ),
        ]),
        field(
          "rzp-card-name",
          "Name on card (optional)",
          h("input", { name: "card_name", autocomplete: "cc-name", value: f.card.name })
        ),
      ]);
    } else if (f.method === "upi") {
      node = field(
        "rzp-vpa",
        "UPI ID",
        h("input", {
          name: "vpa",
          autocomplete: "off",
          autocapitalize: "none",
          spellcheck: "false",
          required: true,
          value: f.vpa,
        }),
        "Test mode: success@razorpay succeeds, failure@razorpay fails"
      );
    } else {
      var isBank = f.method === "netbanking";
      var choices = isBank ? this.banks : this.wallets;
      var select = h("select", { name: isBank ? "bank" : "wallet", required: true }, [
        h("option", { value: "", text: isBank ? "Select a bank" : "Select a wallet" }),
      ].concat(Object.keys(choices).map(function (code) {
        return h("option", {
          value: code,
          text: choices[code],
          selected: (isBank ? f.bank : f.wallet) === code,
        });
      })));
      node = field(
        isBank ? "rzp-bank" : "rzp-wallet",
        isBank ? "Bank" : "Wallet",
        select,
        "A mock page lets you choose Success or Failure"
      );
    }
    panel.appendChild(node);
  };

  Modal.prototype.readForm = function (form) {
    var f = this.form;
    var value = function (name) {
      var el = form.elements[name];
      return el ? el.value.trim() : undefined;
    };
    if (value("contact") !== undefined) f.contact = value("contact");
    if (value("email") !== undefined) f.email = value("email");
    if (f.method === "card") {
      f.card = {
        number: value("card_number"),
        expiry: value("card_expiry"),
        cvv: value("card_cvv"),
        name: value("card_name"),
      };
    } else if (f.method === "upi") {
      f.vpa = value("vpa");
    } else if (f.method === "netbanking") {
      f.bank = value("bank");
    } else {
      f.wallet = value("wallet");
    }
  };

  var FIELD_IDS = {
    contact: "rzp-contact",
    email: "rzp-email",
    "card[number]": "rzp-card-number",
    "card[expiry]": "rzp-card-expiry",
    "card[cvv]": "rzp-card-cvv",
    vpa: "rzp-vpa",
    bank: "rzp-bank",
    wallet: "rzp-wallet",
  };

  Modal.prototype.clearErrors = function () {
    Array.prototype.forEach.call(this.dialog.querySelectorAll(".field-error"), function (el) {
      el.hidden = true;
      el.textContent = "";
    });
    Array.prototype.forEach.call(this.dialog.querySelectorAll("[aria-invalid]"), function (el) {
      el.removeAttribute("aria-invalid");
    });
    var box = this.dialog.querySelector(".form-error");
    if (box) box.hidden = true;
  };

  /** Show an input error next to its field (or above the Pay button) and focus it. */
  Modal.prototype.fieldError = function (fieldName, message) {
    var id = FIELD_IDS[fieldName];
    var input = id ? this.dialog.querySelector("#" + id) : null;
    if (input) {
      var errorEl = this.dialog.querySelector("#" + id + "-error");
      errorEl.textContent = message;
      errorEl.hidden = false;
      input.setAttribute("aria-invalid", "true");
      input.focus();
      this.say(message);
    } else {
      var box = this.dialog.querySelector(".form-error");
      if (box) {
        box.textContent = message;
        box.hidden = false;
      }
      this.say(message);
    }
  };

  Modal.prototype.payload = function (extra) {
    var f = this.form;
    var body = {
      key_id: this.o.key,
      order_id: this.o.order_id,
      method: f.method,
      contact: f.contact || null,
      email: f.email || null,
    };
    if (f.method === "card") body.card = f.card;
    if (f.method === "upi") body.vpa = f.vpa;
    if (f.method === "netbanking") body.bank = f.bank;
    if (f.method === "wallet") body.wallet = f.wallet;
    Object.keys(extra || {}).forEach(function (name) {
      body[name] = extra[name];
    });
    return body;
  };

  Modal.prototype.submitMethod = function (form) {
    var self = this;
    var f = this.form;
    this.readForm(form);
    this.clearErrors();
    // Only "is it filled in" here: the sandbox server applies the test-mode rules.
    var required = [["contact", f.contact], ["email", f.email]];
    if (f.method === "card") {
      required.push(["card[number]", f.card.number], ["card[expiry]", f.card.expiry],
        ["card[cvv]", f.card.cvv]);
    } else if (f.method === "upi") {
      required.push(["vpa", f.vpa]);
    } else if (f.method === "netbanking") {
      required.push(["bank", f.bank]);
    } else {
      required.push(["wallet", f.wallet]);
    }
    for (var i = 0; i < required.length; i++) {
      if (!required[i][1]) {
        this.fieldError(required[i][0], "This field is required.");
        return;
      }
    }
    if (f.method === "card") {
      this.send(this.payload(), function (body) {
        self.showBankPage(body.card);
      });
    } else if (f.method === "upi") {
      this.send(this.payload());
    } else {
      this.showBankPage(null);
    }
  };

  /** POST /checkout/pay; input errors go back to the form, results to finish(). */
  Modal.prototype.send = function (body, onAuthenticationRequired) {
    var self = this;
    var controller = window.AbortController ? new AbortController() : null;
    this.busy = controller;
    var formScreen = Array.prototype.slice.call(this.screen.childNodes);
    this.render([h("p", { class: "loading", "aria-busy": "true", text: "Processing payment\u2026" })],
      "Processing payment");
    api("POST", "/checkout/pay", body, controller ? controller.signal : undefined).then(
      function (result) {
        self.busy = null;
        if (self.closed) return;
        var data = result.body || {};
        if (result.ok && data.status === "authentication_required" && onAuthenticationRequired) {
          onAuthenticationRequired(data);
        } else if (result.ok && data.status === "success") {
          self.succeeded(data.response);
        } else if (result.ok && data.status === "failed") {
          self.failed(data.error);
        } else {
          // Refused before any payment was made: back to the form with the message.
          var error = data.error || {};
          self.restore(formScreen);
          if (body.otp !== undefined || body.action !== undefined) {
            self.bankError(self.describe(data));
          } else {
            self.fieldError(FIELD_IDS[error.field] ? error.field : null, self.describe(data));
          }
        }
      },
      function () {
        self.busy = null; // aborted: the modal is closing
      }
    );
  };

  Modal.prototype.restore = function (nodes) {
    this.render(nodes);
  };

  // ---- the mock bank page ----------------------------------------------------------------

  Modal.prototype.showBankPage = function (card) {
    var self = this;
    var f = this.form;
    var title;
    var detail;
    if (f.method === "card") {
      title = "Sandbox Bank \u00b7 Secure authentication";
      detail = (card && card.network ? card.network : "Card") + " \u2022\u2022\u2022\u2022 " +
        (card && card.last4 ? card.last4 : "");
    } else if (f.method === "netbanking") {
      title = (this.banks[f.bank] || f.bank) + " \u00b7 mock netbanking page";
      detail = "Netbanking";
    } else {
      title = (this.wallets[f.wallet] || f.wallet) + " \u00b7 mock wallet page";
      detail = "Wallet";
    }
    var decide = function (action) {
      return function () {
        self.send(self.payload({ action: action }));
      };
    };
    var nodes = [
      h("div", { class: "bank-head" }, [
        h("h3", { id: "rzp-bank-title", text: title }),
        h("p", {
          text: "Paying " + formatAmount(this.order.amount_due, this.order.currency) + " to " +
            (this.o.name || "the merchant") + " \u00b7 " + detail,
        }),
      ]),
    ];
    if (f.method === "card") {
      var otp = h("input", {
        name: "otp",
        inputmode: "numeric",
        autocomplete: "one-time-code",
        maxlength: "10",
        required: true,
      });
      var otpForm = h("form", {
        class: "otp-form",
        novalidate: true,
        onsubmit: function (event) {
          event.preventDefault();
          var value = otp.value.trim();
          if (!value) {
            self.bankError("Enter the OTP.");
            return;
          }
          self.send(self.payload({ otp: value }));
        },
      }, [
        field("rzp-otp", "One-time password (OTP)", otp,
          "Test mode: any 4\u201310 digits succeed, fewer than 4 fail"),
        h("p", { class: "form-error", role: "alert", hidden: true }),
        h("div", { class: "actions" }, [h("button", { type: "submit", class: "primary", text: "Submit OTP" })]),
      ]);
      nodes.push(otpForm);
    } else {
      nodes.push(h("p", { class: "form-error", role: "alert", hidden: true }));
    }
    nodes.push(
      h("div", { class: "mock-buttons", role: "group", "aria-label": "Simulate the bank's answer" }, [
        h("p", { class: "hint", text: "Or simulate the bank's answer:" }),
        h("div", { class: "actions two" }, [
          h("button", { type: "button", class: "success", text: "Success", onclick: decide("success") }),
          h("button", { type: "button", class: "failure", text: "Failure", onclick: decide("failure") }),
        ]),
      ])
    );
    this.render(nodes, title, f.method === "card" ? "#rzp-otp" : null);
  };

  Modal.prototype.bankError = function (message) {
    var box = this.dialog.querySelector(".form-error");
    if (box) {
      box.textContent = message;
      box.hidden = false;
    }
    this.say(message);
  };

  // ---- results -----------------------------------------------------------------------------

  Modal.prototype.succeeded = function (response) {
    var self = this;
    this.locked = true;
    window.clearTimeout(this.timer); // paid: the timeout no longer applies
    this.render(
      [
        h("div", { class: "result success", role: "alert" }, [
          h("h3", { text: "Payment successful" }),
          h("p", { class: "mono", text: response.razorpay_payment_id }),
        ]),
      ],
      "Payment successful"
    );
    window.setTimeout(function () {
      if (self.closed) return;
      if (self.o.callback_url) {
        // Razorpay auto-submits successful payments to callback_url (handler is not called).
        postForm(self.o.callback_url, {
          razorpay_payment_id: response.razorpay_payment_id,
          razorpay_order_id: response.razorpay_order_id,
          razorpay_signature: response.razorpay_signature,
        });
        return;
      }
      self.teardown();
      safeCall(self.o.handler, response, "handler");
    }, 250);
  };

  Modal.prototype.failed = function (error) {
    var self = this;
    error = error || {};
    var metadata = error.metadata || {};
    if (this.redirect) {
      this.locked = true;
      window.clearTimeout(this.timer);
      postForm(this.o.callback_url, {
        "error[code]": error.code || "",
        "error[description]": error.description || "",
        "error[source]": error.source || "",
        "error[step]": error.step || "",
        "error[reason]": error.reason || "",
        "error[metadata]": JSON.stringify({
          order_id: metadata.order_id || this.o.order_id,
          payment_id: metadata.payment_id || null,
        }),
      });
      return;
    }
    this.rzp._emit("payment.failed", {
      error: {
        code: error.code,
        description: error.description,
        source: error.source,
        step: error.step,
        reason: error.reason,
        metadata: { order_id: metadata.order_id, payment_id: metadata.payment_id },
      },
    });
    if (this.closed) return; // a listener closed the modal
    if (!this.retryEnabled) {
      this.dismiss();
      return;
    }
    this.locked = false;
    this.render(
      [
        h("div", { class: "result failed", role: "alert" }, [
          h("h3", { text: "Payment failed" }),
          h("p", { class: "error-text", text: error.description || "The payment failed." }),
          metadata.payment_id ? h("p", { class: "mono", text: metadata.payment_id }) : null,
        ]),
        h("div", { class: "actions" }, [
          h("button", {
            type: "button",
            class: "primary",
            text: "Retry",
            onclick: function () {
              self.showMethods();
            },
          }),
        ]),
      ],
      "Payment failed: " + (error.description || ""),
      ".actions .primary"
    );
  };

  window.Razorpay = Razorpay;
})();
