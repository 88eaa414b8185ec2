/* The driver's page opens without a network: this service worker keeps the last copy of /driver and
 * of the assets it loads, and serves them when the network is away. Scans themselves never pass
 * through here: they wait in the page's localStorage queue, and /driver/sync and /driver/check
 * always go to the network (the page keeps a scan queued when they fail). */
"use strict";
var CACHE = "cylinder-ledger-driver-v1";

self.addEventListener("install", function () { self.skipWaiting(); });
self.addEventListener("activate", function (event) { event.waitUntil(self.clients.claim()); });

function kept(request) {
  var url = new URL(request.url);
  return request.method === "GET" && url.origin === self.location.origin &&
    (url.pathname === "/driver" || url.pathname.indexOf("/static/pages/") === 0);
}

self.addEventListener("fetch", function (event) {
  if (!kept(event.request)) return;
  event.respondWith(fetch(event.request).then(function (answer) {
    // a redirect means the session ended: the sign-in page is not the driver's page
    if (answer.ok && !answer.redirected) {
      var copy = answer.clone();
      caches.open(CACHE).then(function (cache) { cache.put(event.request, copy); });
    }
    return answer;
  }).catch(function () {
    return caches.match(event.request).then(function (copy) { return copy || Response.error(); });
  }));
});
