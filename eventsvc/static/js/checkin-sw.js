/* eventsvc check-in service worker.
 *
 * Served from /events/<slug>/checkin/sw.js so that its scope is the desk of one event.
 * - Pages inside the scope: network first (with a short timeout); the last good copy of
 *   the desk page is kept and served when the network is gone.
 * - /static/ assets the desk uses: cache first, refreshed in the background.
 * - Everything else (the desk's JSON calls, other pages): not touched. The page itself
 *   judges scans against its snapshot and queues them when the network is gone.
 * The page pre-fills the cache (it knows its asset URLs) and empties it on logout.
 */
'use strict';

var CACHE = 'eventsvc-checkin-v1';
var NETWORK_TIMEOUT_MS = 4000;

self.addEventListener('install', function () { self.skipWaiting(); });
self.addEventListener('activate', function (event) { event.waitUntil(self.clients.claim()); });

function withTimeout(promise, ms) {
  return new Promise(function (resolve, reject) {
    var timer = setTimeout(function () { reject(new Error('timeout')); }, ms);
    promise.then(function (v) { clearTimeout(timer); resolve(v); },
                 function (e) { clearTimeout(timer); reject(e); });
  });
}

function offlinePage() {
  var html = '<!doctype html><html lang="ja"><head><meta charset="utf-8">' +
    '<meta name="viewport" content="width=device-width, initial-scale=1"><title>オフライン / Offline</title></head>' +
    '<body><main><h1>オフラインです</h1><p>この受付画面はまだこの端末に保存されていません。' +
    'インターネットにつながってから、もう一度開いてください。</p>' +
    // the worker can't know the page language: the same in English
    '<h2 lang="en">You are offline</h2><p lang="en">This check-in screen is not saved on this device yet. ' +
    'Open it again once you are back online.</p></main></body></html>';
  return new Response(html, {status: 503, headers: {'Content-Type': 'text/html; charset=utf-8'}});
}

function pageKey(url) {
  var u = new URL(url);
  return u.origin + u.pathname;
}

function networkFirst(request) {
  var url = new URL(request.url);
  return caches.open(CACHE).then(function (cache) {
    return withTimeout(fetch(request), NETWORK_TIMEOUT_MS).then(function (response) {
      // keep only the plain page (no search), as served to this session
      if (response.ok && !response.redirected && response.type === 'basic' && !url.search) {
        cache.put(pageKey(request.url), response.clone());
      }
      return response;
    }).catch(function () {
      return cache.match(pageKey(request.url), {ignoreSearch: true, ignoreVary: true}).then(function (hit) {
        return hit || offlinePage();
      });
    });
  });
}

function cacheFirst(request) {
  return caches.open(CACHE).then(function (cache) {
    return cache.match(request, {ignoreVary: true}).then(function (hit) {
      var refresh = fetch(request).then(function (response) {
        if (response.ok && response.type === 'basic') { cache.put(request, response.clone()); }
        return response;
      });
      if (hit) {
        refresh.catch(function () {});
        return hit;
      }
      return refresh;
    });
  });
}

self.addEventListener('fetch', function (event) {
  var request = event.request;
  if (request.method !== 'GET') { return; }
  var url = new URL(request.url);
  if (url.origin !== self.location.origin) { return; }
  if (request.mode === 'navigate') {
    if (request.url.indexOf(self.registration.scope) === 0) {
      event.respondWith(networkFirst(request));
    }
    return;
  }
  if (url.pathname.indexOf('/static/') !== -1) {
    event.respondWith(cacheFirst(request));
  }
});

self.addEventListener('message', function (event) {
  if (event.data === 'clear') {
    event.waitUntil(caches.delete(CACHE));
  }
});
