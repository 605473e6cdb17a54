// enrollpay's service worker, rendered by web/pwa.py and served at /sw.js (scope "/").
//
// It keeps only what is safe to keep: the static files (cache-first; their URLs carry the
// build id) and the catalog and course pages (network-first, so they can be read offline).
// Apart from the static files it handles only page loads (navigations), and stores no other page:
// the API, /pay/ (its URL holds a payment token), checkout, the learner's own pages, sign-in and
// the sandbox go to the network untouched; only when such a page load fails does the offline
// page stand in.
"use strict";

var STATIC_CACHE = {{ static_cache|tojson }};
var PAGES_CACHE = {{ pages_cache|tojson }};
var OFFLINE_URL = {{ offline_url|tojson }};
var PRECACHE_URLS = {{ precache_urls|tojson }};
// "/" and "/courses/{id}": the pages kept for reading offline.
var OFFLINE_READABLE_PAGE = /^\/(courses\/[^/]+)?$/;

self.addEventListener("install", function (event) {
  event.waitUntil(
    caches.open(STATIC_CACHE)
      .then(function (cache) {
        // "reload": fresh from the server, not from the browser's HTTP cache.
        return cache.addAll(PRECACHE_URLS.map(function (url) {
          return new Request(url, { cache: "reload" });
        }));
      })
      .then(function () { return self.skipWaiting(); })
  );
});

self.addEventListener("activate", function (event) {
  event.waitUntil(
    caches.keys()
      .then(function (names) {
        return Promise.all(names.filter(function (name) {
          return name.indexOf("enrollpay-") === 0 && name !== STATIC_CACHE && name !== PAGES_CACHE;
        }).map(function (name) { return caches.delete(name); }));
      })
      .then(function () { return self.clients.claim(); })
  );
});

self.addEventListener("fetch", function (event) {
  var request = event.request;
  var url = new URL(request.url);
  if (request.method !== "GET" || url.origin !== self.location.origin) { return; }
  if (url.pathname.indexOf("/static/") === 0) {
    event.respondWith(cacheFirst(request));
  } else if (request.mode === "navigate") {
    event.respondWith(OFFLINE_READABLE_PAGE.test(url.pathname)
      ? networkFirst(event)
      : fetch(request).catch(offlinePage));
  }
});

function cacheFirst(request) {
  return caches.open(STATIC_CACHE).then(function (cache) {
    return cache.match(request).then(function (cached) {
      return cached || fetch(request).then(function (response) {
        if (response.ok) { cache.put(request, response.clone()); }
        return response;
      });
    });
  });
}

// The pages are sent with Cache-Control: no-store, which the Cache API ignores: keeping them is
// the point. They show the learner's own view; signing out wipes them (Clear-Site-Data).
function networkFirst(event) {
  var request = event.request;
  return fetch(request)
    .then(function (response) {
      if (response.ok) {
        var copy = response.clone();
        event.waitUntil(caches.open(PAGES_CACHE).then(function (cache) {
          return cache.put(request, copy);
        }));
      }
      return response;
    })
    .catch(function () {
      return caches.open(PAGES_CACHE)
        .then(function (cache) { return cache.match(request); })
        .then(function (cached) { return cached || offlinePage(); });
    });
}

function offlinePage() {
  return caches.open(STATIC_CACHE)
    .then(function (cache) { return cache.match(OFFLINE_URL); })
    .then(function (page) { return page || Response.error(); });
}
