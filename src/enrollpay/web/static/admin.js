// The admin console's one behaviour: a <form data-api-url="/api/v1/admin/…"> is sent to the
// JSON admin API (through site.js's enrollpay.api: session cookie + X-CSRF-Token) instead of
// being posted as a page.
//   data-api-method  POST (default), PATCH or PUT
//   data-confirm     asked with confirm() first (refunds, revocations, replays)
//   data-then        "reload" (default): reload the page to show the result;
//                    "show": print the fields named in data-show (e.g. a new key, shown once)
//                    into the form's [data-result] region and stay;
//                    a URL with {id}: go there, {id} being the answer's id
// Fields: every named input, select and textarea. Empty ones are left out (so PATCH changes only
// what was filled in); data-type="number" sends a number, "json" parses the text, "list" splits
// on commas; checkboxes send true/false. Errors show the API's message in the form's
// [role=alert] region; the submit button is disabled while the request runs.
(function () {
  "use strict";

  var shared = window.enrollpay;

  function valueOf(field) {
    var type = field.getAttribute("data-type");
    if (field.type === "checkbox") { return field.checked; }
    var text = field.value.trim();
    if (text === "") { return undefined; }
    if (type === "number") { return Number(text); }
    if (type === "json") { return JSON.parse(text); }
    if (type === "list") {
      return text.split(",").map(function (item) { return item.trim(); })
        .filter(function (item) { return item !== ""; });
    }
    return text;
  }

  function bodyOf(form) {
    var body = {};
    Array.prototype.forEach.call(form.elements, function (field) {
      if (!field.name || field.disabled || field.type === "submit") { return; }
      if (field.type === "radio" && !field.checked) { return; }
      var value = valueOf(field);
      if (value !== undefined) { body[field.name] = value; }
    });
    return body;
  }

  function after(form, answer) {
    var then = form.getAttribute("data-then") || "reload";
    if (then === "show") {
      var result = form.querySelector("[data-result]");
      var names = (form.getAttribute("data-show") || "").split(",");
      result.hidden = false;
      result.textContent = "";
      names.forEach(function (name) {
        var line = document.createElement("div");
        var label = document.createElement("strong");
        label.textContent = name + ": ";
        var value = document.createElement("code");
        value.textContent = String(answer.body[name]);
        line.appendChild(label);
        line.appendChild(value);
        result.appendChild(line);
      });
      result.focus();
      return;
    }
    if (then === "reload") { window.location.reload(); return; }
    window.location.assign(then.replace("{id}", encodeURIComponent(answer.body.id)));
  }

  function submit(event) {
    var form = event.target.closest("form[data-api-url]");
    if (!form) { return; }
    event.preventDefault();
    var alert = form.querySelector("[role=alert]");
    var button = form.querySelector("[type=submit]");
    var question = form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) { return; }
    var body;
    try {
      body = bodyOf(form);
    } catch (e) {
      if (alert) { alert.textContent = "A field that takes JSON does not hold valid JSON."; }
      return;
    }
    if (alert) { alert.textContent = ""; }
    if (button) { button.disabled = true; }
    shared.api(form.getAttribute("data-api-method") || "POST", form.getAttribute("data-api-url"), body)
      .then(function (answer) {
        if (button) { button.disabled = false; }
        if (answer.ok) { after(form, answer); return; }
        var message = shared.errorMessage(answer, "The request failed (HTTP " + answer.status + ").");
        if (alert) { alert.textContent = message; } else { window.alert(message); }
      }, function () {
        if (button) { button.disabled = false; }
        if (alert) { alert.textContent = shared.NO_CONNECTION; }
      });
  }

  document.addEventListener("submit", submit);
}());
