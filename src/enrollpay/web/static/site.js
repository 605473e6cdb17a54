// Every page (base.html, before the page's own scripts): registers the service worker, sends an
// enrollment started while offline once the browser is back online, and holds on
// window.enrollpay what the page scripts share: calling the JSON API with the session cookie
// and X-CSRF-Token, error messages, announcements and the enroll queue.
(function () {
  "use strict";
  var QUEUE_KEY = "enrollpay.queued-enrollment";
  // Past a day the click is stale; the server also keeps Idempotency-Keys only that long (at
  // least), so a later resend could no longer be matched to a first attempt that got through.
  var QUEUE_MAX_AGE_MS = 24 * 60 * 60 * 1000;
  var INITIALIZE_URL = "/api/v1/enrollments/initialize";
  var OFFLINE_MESSAGE = "You're offline. Your enrollment will start as soon as you're back online.";
  var DEFAULT_RETRY_SECONDS = 10;

  var NO_CONNECTION = "Could not reach the server. Check your connection and try again.";

  function csrfToken() {
    var match = document.cookie.match(/(?:^|;\s*)csrf=([^;]*)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  // Resolves with {ok, status, body (parsed JSON or null), headers} for any answer; rejects
  // only when no answer came (offline). Writes carry the CSRF token the session requires.
  function api(method, url, body, headers) {
    var sent = { Accept: "application/json" };
    if (method !== "GET") {
      sent["Content-Type"] = "application/json";
      sent["X-CSRF-Token"] = csrfToken();
    }
    Object.keys(headers || {}).forEach(function (name) { sent[name] = headers[name]; });
    return fetch(url, {
      method: method,
      credentials: "same-origin",
      cache: "no-store",
      headers: sent,
      body: method === "GET" ? undefined : JSON.stringify(body || {})
    }).then(function (response) {
      // A body that is not JSON (a proxy's error page) is still an answer.
      return response.json().catch(function () { return null; }).then(function (json) {
        return { ok: response.ok, status: response.status, body: json, headers: response.headers };
      });
    });
  }

  // The API's words for a failed answer: its field problems, else its message.
  function errorMessage(answer, fallback) {
    var error = (answer && answer.body && answer.body.error) || {};
    var fields = (error.details && error.details.fields) || [];
    if (fields.length) {
      return fields.map(function (field) { return field.message; }).join(" ");
    }
    return error.message || fallback;
  }

  // Cleared first, so the same words twice are announced twice by an aria-live region.
  function announce(region, text) {
    region.textContent = "";
    window.setTimeout(function () { region.textContent = text; }, 50);
  }

  function newIdempotencyKey() {
    if (window.crypto.randomUUID) { return window.crypto.randomUUID(); }
    // randomUUID needs HTTPS (or localhost); getRandomValues works everywhere.
    return Array.prototype.map.call(window.crypto.getRandomValues(new Uint8Array(16)),
      function (byte) { return (byte + 0x100).toString(16).slice(1); }).join("");
  }

  // localStorage may be unavailable (storage blocked): then nothing is queued.
  function queuedEnrollment() {
    try {
      var enrollment = JSON.parse(window.localStorage.getItem(QUEUE_KEY));
      if (enrollment && Date.now() - enrollment.queued_at <= QUEUE_MAX_AGE_MS) { return enrollment; }
      window.localStorage.removeItem(QUEUE_KEY);
    } catch (e) { /* nothing queued */ }
    return null;
  }

  function queueEnrollment(enrollment) {
    enrollment.queued_at = Date.now();
    try {
      window.localStorage.setItem(QUEUE_KEY, JSON.stringify(enrollment));
      return true;
    } catch (e) {
      return false;
    }
  }

  function forgetQueued(enrollment) {
    var queued = queuedEnrollment();
    if (queued && queued.idempotency_key === enrollment.idempotency_key) {
      window.localStorage.removeItem(QUEUE_KEY);
    }
  }

  // The enrollment a click asks for. Clicking again for what is already queued reuses its
  // Idempotency-Key, so a first attempt that did reach the server is not started twice.
  function enrollmentFor(courseId, couponCode) {
    var queued = queuedEnrollment();
    if (queued && queued.course_id === courseId && (queued.coupon_code || null) === (couponCode || null)) {
      return queued;
    }
    var enrollment = { course_id: courseId, idempotency_key: newIdempotencyKey() };
    if (couponCode) { enrollment.coupon_code = couponCode; }
    return enrollment;
  }

  // Answers worth another try later; any other answer is final.
  function retryLater(answer) {
    var code = answer.body && answer.body.error && answer.body.error.code;
    return answer.status === 503 || answer.status === 429 ||
      (answer.status === 409 && code === "request_in_progress");
  }

  // Resolves with the answer; rejects only when the request got no answer (offline).
  function sendEnrollment(enrollment) {
    var body = { course_id: enrollment.course_id };
    if (enrollment.coupon_code) { body.coupon_code = enrollment.coupon_code; }
    return api("POST", INITIALIZE_URL, body, { "Idempotency-Key": enrollment.idempotency_key })
      .then(function (answer) {
        answer.retryAfter = Number(answer.headers.get("Retry-After")) || DEFAULT_RETRY_SECONDS;
        if (!retryLater(answer)) { forgetQueued(enrollment); }
        return answer;
      });
  }

  // The checkout page opens Razorpay Checkout (start=1), or shows the enrollment.
  function checkoutUrl(started) {
    return "/checkout/" + encodeURIComponent(started.enrollment_id) +
      (started.payment_session ? "?start=1" : "");
  }

  // The course page's status line, else a notice of our own at the bottom of the page.
  function notify(text) {
    var status = document.getElementById("enroll-status") || document.getElementById("enroll-notice");
    if (!status) {
      status = document.createElement("p");
      status.id = "enroll-notice";
      status.className = "notice";
      status.setAttribute("role", "status");
      status.style.cssText = "position:fixed;left:1rem;right:1rem;bottom:1rem;margin:0;" +
        "background:var(--surface);z-index:1";
      document.body.appendChild(status);
    }
    status.textContent = text;
  }

  var sending = false;

  function sendQueuedEnrollment() {
    var enrollment = queuedEnrollment();
    if (!enrollment || sending) { return; }
    sending = true;
    notify("Starting your enrollment…");
    sendEnrollment(enrollment).then(function (answer) {
      sending = false;
      if (answer.ok) {
        window.location.assign(checkoutUrl(answer.body));
      } else if (retryLater(answer)) {
        window.setTimeout(sendQueuedEnrollment, answer.retryAfter * 1000);
      } else {
        notify(errorMessage(answer, "Could not start your enrollment."));
      }
    }, function () {
      sending = false;
      notify(OFFLINE_MESSAGE);
    });
  }

  // The offline page lists the course pages the service worker kept.
  function listSavedCourses() {
    var section = document.getElementById("saved-courses");
    if (!section || !window.caches) { return; }
    caches.open(section.getAttribute("data-cache")).then(function (cache) {
      return cache.keys().then(function (requests) {
        return Promise.all(requests.filter(function (request) {
          return new URL(request.url).pathname.indexOf("/courses/") === 0;
        }).map(function (request) {
          return cache.match(request).then(function (page) { return page.text(); })
            .then(function (html) {
              var heading = new DOMParser().parseFromString(html, "text/html").querySelector("h1");
              return { url: request.url, title: heading ? heading.textContent : request.url };
            });
        }));
      });
    }).then(function (courses) {
      var list = section.querySelector("ul");
      courses.forEach(function (course) {
        var link = document.createElement("a");
        link.href = course.url;
        link.textContent = course.title;
        list.appendChild(document.createElement("li")).appendChild(link);
      });
      section.hidden = courses.length === 0;
    }).catch(function () { /* nothing to list */ });
  }

  window.enrollpay = {
    NO_CONNECTION: NO_CONNECTION,
    api: api,
    errorMessage: errorMessage,
    announce: announce,
    OFFLINE_MESSAGE: OFFLINE_MESSAGE,
    enrollmentFor: enrollmentFor,
    queueEnrollment: queueEnrollment,
    sendEnrollment: sendEnrollment,
    checkoutUrl: checkoutUrl
  };

  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register("/sw.js", { scope: "/" }).catch(function () {
      /* the site works without it */
    });
  }
  window.addEventListener("online", sendQueuedEnrollment);
  if (navigator.onLine) { sendQueuedEnrollment(); }
  listSavedCourses();
})();
