/* eventsvc — the check-in desk.
 *
 * Plain JavaScript, no build step, no inline script (CSP). Without it the page still
 * works (typed code, name search, undo, walk-ins as forms); with it the desk also:
 *  - scans QR codes with the camera (vendored jsQR) and takes USB/Bluetooth scanner input
 *    (code + Enter) in the focused field, answering in a big panel (colour + text + sound);
 *    a scanner's keys typed with no text field focused go to the code field, and a code read
 *    into the name search box is taken as a scan (no scan is lost to where the focus was);
 *  - searches names as you type (kanji, hiragana, katakana, half-width alike);
 *  - keeps a snapshot of the event's tickets (SHA-256 of each code, never the code) in
 *    IndexedDB, refreshed while online, and judges scans against it when the network is
 *    gone; scans made offline are queued (IndexedDB) with their real scan time and a
 *    nonce, and uploaded once the network is back (a retried upload counts once):
 *    admissions, and refusals, which the server only logs (never admits);
 *  - registers a service worker so the page itself opens offline;
 *  - clears the snapshot and the cached page on logout (never an unsent queue).
 */
(function () {
  'use strict';

  var cfgEl = document.getElementById('checkin-config');
  if (!cfgEl) { return; }
  var cfg = cfgEl.dataset;
  var ALPHABET = '23456789ABCDEFGHJKMNPQRSTVWXYZ';
  var CACHE = 'eventsvc-checkin-v1';
  var FETCH_TIMEOUT_MS = 6000;
  var SAME_CODE_PAUSE_MS = 4000;

  function $(id) { return document.getElementById(id); }
  function fmt(template, values) {
    return String(template || '').replace(/\{(\w+)\}/g, function (m, k) {
      return values[k] !== undefined && values[k] !== null ? values[k] : m;
    });
  }
  function reasonText(reason) { return cfg['reason' + reason.charAt(0).toUpperCase() + reason.slice(1)] || reason; }
  function hhmm(iso) {
    try {
      return new Intl.DateTimeFormat('ja-JP', {hour: '2-digit', minute: '2-digit', hour12: false,
                                               timeZone: 'Asia/Tokyo'}).format(new Date(iso));
    } catch (e) { return ''; }
  }
  function randomHex(bytes) {
    var a = new Uint8Array(bytes);
    (window.crypto || window.msCrypto).getRandomValues(a);
    return Array.prototype.map.call(a, function (b) { return ('0' + b.toString(16)).slice(-2); }).join('');
  }
  function newNonce() { return randomHex(16); }

  var state = {
    online: navigator.onLine !== false,
    csrf: (document.querySelector('meta[name="csrf-token"]') || {}).content || '',
    tickets: new Map(),  // h -> snapshot entry
    queue: [],           // scans made offline, waiting for the server: admissions and refusals
    snapshotAt: null,
    lastAdmitted: null,  // {id, nonce, h, local}
    syncing: null,
    ended: false
  };

  // ------------------------------------------------------------ codes (mirror of registration/tickets.py)
  function normalizeCode(raw) {
    if (typeof raw !== 'string' || raw.length > 200) { return null; }
    var compact = raw.normalize('NFKC').toUpperCase().replace(/[^\p{L}\p{N}]/gu, '');
    if (compact.length === 28) { compact = 'T1' + compact; }  // typed without its version mark
    if (compact.slice(0, 2) !== 'T1') { return null; }
    var body = compact.slice(2);
    if (body.length !== 28) { return null; }
    for (var i = 0; i < body.length; i++) {
      if (ALPHABET.indexOf(body.charAt(i)) < 0) { return null; }
    }
    return 'T1-' + body.match(/.{4}/g).join('-');
  }
  var EMBEDDED = new RegExp('(?<![0-9A-Z])T1(?:[ \\-]?[' + ALPHABET + ']){28}(?![0-9A-Z])', 'g');
  function extractCode(raw) {
    var code = normalizeCode(raw);
    if (code || typeof raw !== 'string' || raw.length > 500) { return code; }
    var found = raw.normalize('NFKC').toUpperCase().match(EMBEDDED);
    return found && found.length === 1 ? normalizeCode(found[0]) : null;
  }
  function searchKey(s) {
    s = String(s || '').normalize('NFKC').trim();
    s = s.replace(/[\u3041-\u3096]/g, function (c) { return String.fromCharCode(c.charCodeAt(0) + 0x60); });
    return s.replace(/\s+/g, '').toLowerCase();
  }

  // ------------------------------------------------------------ SHA-256 (WebCrypto, or a small fallback on http://)
  var K = [0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2];
  function sha256Fallback(bytes) {
    var h = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];
    var len = bytes.length, total = ((len + 9 + 63) >> 6) << 6, m = new Uint8Array(total);
    m.set(bytes); m[len] = 0x80;
    var bits = len * 8;
    m[total - 4] = (bits >>> 24) & 255; m[total - 3] = (bits >>> 16) & 255;
    m[total - 2] = (bits >>> 8) & 255; m[total - 1] = bits & 255;
    var w = new Array(64);
    function rotr(x, n) { return (x >>> n) | (x << (32 - n)); }
    for (var off = 0; off < total; off += 64) {
      for (var i = 0; i < 16; i++) {
        w[i] = (m[off + 4 * i] << 24) | (m[off + 4 * i + 1] << 16) | (m[off + 4 * i + 2] << 8) | m[off + 4 * i + 3];
      }
      for (i = 16; i < 64; i++) {
        var s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >>> 3);
        var s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >>> 10);
        w[i] = (w[i - 16] + s0 + w[i - 7] + s1) | 0;
      }
      var a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
      for (i = 0; i < 64; i++) {
        var t1 = (hh + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + w[i]) | 0;
        var t2 = ((rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c))) | 0;
        hh = g; g = f; f = e; e = (d + t1) | 0; d = c; c = b; b = a; a = (t1 + t2) | 0;
      }
      h[0] = (h[0] + a) | 0; h[1] = (h[1] + b) | 0; h[2] = (h[2] + c) | 0; h[3] = (h[3] + d) | 0;
      h[4] = (h[4] + e) | 0; h[5] = (h[5] + f) | 0; h[6] = (h[6] + g) | 0; h[7] = (h[7] + hh) | 0;
    }
    return h.map(function (x) { return ('00000000' + (x >>> 0).toString(16)).slice(-8); }).join('');
  }
  function codeHash(code) {
    var bytes = new TextEncoder().encode(code);
    if (window.crypto && window.crypto.subtle) {
      return window.crypto.subtle.digest('SHA-256', bytes).then(function (buf) {
        return Array.prototype.map.call(new Uint8Array(buf), function (b) { return ('0' + b.toString(16)).slice(-2); }).join('');
      });
    }
    return Promise.resolve(sha256Fallback(bytes));
  }

  // ------------------------------------------------------------ IndexedDB (persistence of the working copy)
  var dbPromise = new Promise(function (resolve) {
    if (!window.indexedDB) { resolve(null); return; }
    var req;
    try { req = indexedDB.open('eventsvc-checkin-' + cfg.slug, 1); } catch (e) { resolve(null); return; }
    req.onupgradeneeded = function () {
      var db = req.result;
      db.createObjectStore('tickets', {keyPath: 'h'});
      db.createObjectStore('queue', {keyPath: 'nonce'});
      db.createObjectStore('meta', {keyPath: 'k'});
    };
    req.onsuccess = function () { resolve(req.result); };
    req.onerror = function () { resolve(null); };
  });
  function idb(stores, mode, fn) {
    return dbPromise.then(function (db) {
      if (!db) { return null; }
      return new Promise(function (resolve, reject) {
        var t = db.transaction(stores, mode);
        var out = fn(t);
        t.oncomplete = function () { resolve(out && out.result !== undefined ? out.result : out); };
        t.onerror = function () { reject(t.error); };
        t.onabort = function () { reject(t.error); };
      });
    });
  }
  function idbAll(store) { return idb([store], 'readonly', function (t) { return t.objectStore(store).getAll(); }); }
  function idbPut(store, value) { return idb([store], 'readwrite', function (t) { t.objectStore(store).put(value); }); }
  function idbDelete(store, key) { return idb([store], 'readwrite', function (t) { t.objectStore(store).delete(key); }); }
  function saveSnapshot(entries, generatedAt) {
    if (state.ended) { return Promise.resolve(); }  // logged out meanwhile: keep nothing
    return idb(['tickets', 'meta'], 'readwrite', function (t) {
      var s = t.objectStore('tickets');
      s.clear();
      entries.forEach(function (e) { s.put(e); });
      t.objectStore('meta').put({k: 'snapshot', generated_at: generatedAt});
    });
  }
  function clearSnapshot() {
    state.tickets = new Map();
    state.snapshotAt = null;
    showSnapshotAge();
    return idb(['tickets', 'meta'], 'readwrite', function (t) {
      t.objectStore('tickets').clear();
      t.objectStore('meta').clear();
    });
  }

  // ------------------------------------------------------------ the page
  var els = {
    result: $('result'), undoBox: $('undo-box'), undo: $('undo-last'), form: $('scan-form'), code: $('id_code') || $('code'),
    nonce: document.querySelector('#scan-form input[name="nonce"]'), net: $('net'), queue: $('queue'),
    queueCount: $('queue-count'), snapshotAge: $('snapshot-age'), camera: $('camera'), cameraStatus: $('camera-status'),
    cameraStart: $('camera-start'), cameraStop: $('camera-stop'), video: $('camera-video'), canvas: $('camera-canvas'),
    searchForm: $('search-form'), q: $('q'), results: $('search-results'), soundBox: $('sound-box'), sound: $('sound'),
    syncReport: $('sync-report'), syncList: $('sync-report-list'), dupNote: $('duplicates-note'),
    dupCount: $('duplicates-count'), logoutBlocked: $('logout-blocked'), help: $('camera-help')
  };

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text !== undefined && text !== null) { e.textContent = text; }
    return e;
  }

  // Language of parts (WCAG 3.1.2): on a page not in Japanese, what people typed in Japanese (names,
  // readings, organisations, participation types, teams, staff labels) is marked lang="ja", as the
  // server's lang_ja filter marks it on the same page (core/lang.py: the same letters, kana and ideographs)
  var PAGE_IN_JAPANESE = (document.documentElement.lang || 'ja').indexOf('ja') === 0;
  var JAPANESE = new RegExp('[\u3005-\u3007\u303b\u3041-\u3096\u309d-\u309f\u30a1-\u30fa\u30fc-\u30ff' +
    '\u31f0-\u31ff\u32d0-\u32fe\u3300-\u3357\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff66-\uff9d]' +
    '|\ud82c[\udc00-\udd6f]|[\ud840-\ud888][\udc00-\udfff]');  // kana supplement; ideographs ext. B–H
  function typed(tag, cls, text) {
    var e = el(tag, cls, text);
    if (!PAGE_IN_JAPANESE && text && JAPANESE.test(String(text))) { e.lang = 'ja'; }
    return e;
  }
  // ``fmt`` into ``parent``: the values as typed text (above), the template's words as they are
  function appendFmt(parent, template, values) {
    String(template || '').split(/(\{\w+\})/).forEach(function (part) {
      var m = /^\{(\w+)\}$/.exec(part);
      if (m && values[m[1]] !== undefined && values[m[1]] !== null) {
        parent.appendChild(typed('span', null, String(values[m[1]])));
      } else if (part) {
        parent.appendChild(document.createTextNode(part));
      }
    });
    return parent;
  }
  // "organisation · participation type · team: name" (the words of the server-rendered line)
  function metaLine(cls, r) {
    var p = el('p', cls);
    p.appendChild(r.organization ? typed('span', null, r.organization) : document.createTextNode(cfg.msgNoOrg));
    p.appendChild(document.createTextNode(' · '));
    p.appendChild(typed('span', null, r.ticket_type));
    if (r.team) {
      p.appendChild(document.createTextNode(' · ' + cfg.msgTeam + ': '));
      p.appendChild(typed('span', null, r.team));
    }
    return p;
  }

  function showNet() {
    els.net.hidden = false;
    els.net.textContent = state.online ? cfg.msgOnline : cfg.msgOffline;
    els.net.className = 'net ' + (state.online ? 'net-online' : 'net-offline');
    els.queue.hidden = false;
    els.queueCount.textContent = String(state.queue.length);
    els.queue.classList.toggle('queue-pending', state.queue.length > 0);
  }
  function showSnapshotAge() {
    if (!els.snapshotAge) { return; }
    els.snapshotAge.hidden = !state.snapshotAt;
    els.snapshotAge.textContent = state.snapshotAt ? fmt(cfg.msgSnapshot, {time: hhmm(state.snapshotAt)}) : '';
  }

  var audio = null;
  function beep(kind) {
    if (!els.sound || !els.sound.checked) { return; }
    try {
      audio = audio || new (window.AudioContext || window.webkitAudioContext)();
      var plan = kind === 'ok' ? [[880, 0, 0.15]] : kind === 'warn' ? [[520, 0, 0.12], [520, 0.18, 0.12]]
        : [[220, 0, 0.45]];
      plan.forEach(function (p) {
        var o = audio.createOscillator(), g = audio.createGain();
        o.frequency.value = p[0]; o.connect(g); g.connect(audio.destination);
        g.gain.value = 0.2;
        o.start(audio.currentTime + p[1]); o.stop(audio.currentTime + p[1] + p[2]);
      });
    } catch (e) { /* no sound: the panel still says it */ }
  }

  function kindOf(result) {
    return {checked_in: 'ok', already_checked_in: 'warn', undone: 'info'}[result] || 'error';
  }

  function showResult(out) {
    var kind = out.taken_back ? 'warn' : kindOf(out.result);  // a replayed admission undone since
    var inner = el('div', 'result-inner result-' + kind + (out.local ? ' result-local' : ''));
    var mark = el('p', 'result-mark', {ok: '✓', warn: '!', info: '↶'}[kind] || '✕');
    mark.setAttribute('aria-hidden', 'true');
    var body = el('div', 'result-body');
    var title = out.message;
    if (out.duplicate) { title += ' ' + cfg.msgDuplicate; }
    body.appendChild(el('p', 'result-title', title));
    var r = out.registration;
    if (r) {
      var person = el('p', 'result-person');
      person.appendChild(typed('span', 'result-kana', r.name_kana));
      person.appendChild(typed('span', 'result-name', r.name));
      body.appendChild(person);
      body.appendChild(metaLine('result-meta', r));
    }
    inner.appendChild(mark);
    inner.appendChild(body);
    els.result.textContent = '';
    els.result.appendChild(inner);
    els.undoBox.hidden = !(out.result === 'checked_in' && r && !out.taken_back);
    beep(kind);
  }

  // ------------------------------------------------------------ talking to the server
  function NetError(status, body) { this.status = status; this.body = body; }
  function request(method, url, payload, retried) {
    var ctrl = window.AbortController ? new AbortController() : null;
    var timer = ctrl ? setTimeout(function () { ctrl.abort(); }, FETCH_TIMEOUT_MS) : null;
    var opts = {method: method, credentials: 'same-origin', headers: {'Accept': 'application/json'},
                signal: ctrl ? ctrl.signal : undefined, cache: 'no-store'};
    if (payload !== undefined) {
      opts.headers['Content-Type'] = 'application/json';
      opts.headers['X-CSRFToken'] = state.csrf;
      opts.body = JSON.stringify(payload);
    }
    return fetch(url, opts).then(function (res) {
      if (timer) { clearTimeout(timer); }
      var json = (res.headers.get('Content-Type') || '').indexOf('application/json') === 0;
      if (res.ok && json) { return res.json(); }
      if (res.status === 400 && !json && payload !== undefined && !retried) {
        // most likely an expired CSRF token (page served from the offline cache): renew once
        return refreshState().then(function () { return request(method, url, payload, true); });
      }
      return (json ? res.json() : Promise.resolve(null)).then(function (body) { throw new NetError(res.status, body); });
    }, function (err) {
      if (timer) { clearTimeout(timer); }
      throw new NetError(0, err);
    });
  }
  function isOfflineError(err) { return err instanceof NetError && (err.status === 0 || err.status >= 500); }
  function handleAuthError(err) {
    if (err instanceof NetError && (err.status === 401 || err.status === 403)) {
      state.ended = true;
      clearSnapshot();
      var message = (err.body && err.body.message) || '';
      showResult({result: 'unknown_code', message: message});
      return true;
    }
    return false;
  }

  function setOnline(online) {
    if (state.online === online) { return; }
    state.online = online;
    showNet();
    if (online) { sync().then(refreshSnapshot); }
  }

  function refreshState() {
    return request('GET', cfg.state).then(function (data) {
      state.csrf = data.csrf_token || state.csrf;
      updateCounters(data.counters);
      setOnline(true);
      return data;
    });
  }

  function updateCounters(c) {
    if (!c) { return; }
    (c.types || []).forEach(function (t) {
      var row = document.querySelector('#counters tr[data-type="' + CSS.escape(t.code) + '"]');
      if (!row) { return; }
      row.querySelector('[data-field="checked_in"]').textContent = String(t.checked_in);
      row.querySelector('[data-field="expected"]').textContent = String(t.expected);
    });
    $('total-checked-in').textContent = String(c.checked_in);
    $('total-expected').textContent = String(c.expected);
    if (els.dupNote) {
      els.dupNote.hidden = !c.duplicates;
      els.dupCount.textContent = String(c.duplicates || 0);
    }
  }
  function bumpCounter(typeCode, delta) {
    var row = document.querySelector('#counters tr[data-type="' + CSS.escape(typeCode) + '"]');
    if (!row) { return; }
    var cell = row.querySelector('[data-field="checked_in"]');
    cell.textContent = String(Math.max(0, parseInt(cell.textContent, 10) + delta));
    var total = $('total-checked-in');
    total.textContent = String(Math.max(0, parseInt(total.textContent, 10) + delta));
  }
  var countersTimer = null;
  function refreshCountersSoon() {
    clearTimeout(countersTimer);
    countersTimer = setTimeout(function () { if (state.online) { refreshState().catch(function () {}); } }, 800);
  }

  function refreshSnapshot() {
    if (!state.online || state.ended) { return Promise.resolve(); }
    return request('GET', cfg.snapshot).then(function (data) {
      if (state.ended) { return; }
      var map = new Map();
      data.tickets.forEach(function (t) { map.set(t.h, t); });
      // admissions still waiting in the queue stay admitted on this device
      state.queue.forEach(function (q) {
        if (q.refused) { return; }
        var t = q.h ? map.get(q.h) : findById(map, q.registration_id);
        if (t && !t.checked_in_at) { t.checked_in_at = q.scanned_at; t.checked_in_by = cfg.actor; }
      });
      state.tickets = map;
      state.snapshotAt = data.generated_at;
      showSnapshotAge();
      updateCounters(data.counters);
      return saveSnapshot(Array.from(map.values()), data.generated_at);
    }).catch(function (err) {
      if (!handleAuthError(err) && isOfflineError(err)) { setOnline(false); }
    });
  }
  function findById(map, id) {
    if (id === null || id === undefined) { return null; }
    var found = null;
    map.forEach(function (t) { if (t.id === id) { found = t; } });
    return found;
  }

  // ------------------------------------------------------------ scanning
  function briefOf(t) {
    return {id: t.id, name: t.name, name_kana: t.kana, organization: t.organization, ticket_type: t.ticket_type,
            ticket_type_code: t.type_code, status: t.status, team: t.team};
  }
  function markLocally(out, nonce, h) {
    // keep the snapshot in step with what the server said (for later offline scans)
    var r = out.registration;
    if (!r || out.taken_back) { return; }  // a replay of an admission undone since says nothing of now
    var t = h ? state.tickets.get(h) : findById(state.tickets, r.id);
    if (!t) { return; }
    if (out.result === 'checked_in' || out.result === 'already_checked_in') {
      t.checked_in_at = out.checked_in_at || t.checked_in_at;
      t.checked_in_by = out.checked_in_by || t.checked_in_by;
    } else if (out.result === 'undone') {
      t.checked_in_at = null; t.checked_in_by = null;
    }
    idbPut('tickets', t);
  }

  // a scan this device turned away offline is queued too: the server logs it (refused_offline),
  // never admits it, and says if the ticket admits by now (the snapshot was older)
  function queueRefusal(target, nonce, scannedAt, out, name) {
    var item = {nonce: nonce, code: target.code || null, registration_id: target.registration_id || null,
                scanned_at: scannedAt, method: 'offline', refused: out.result, name: name || ''};
    state.queue.push(item);
    showNet();
    return idbPut('queue', item).then(function () { return out; });
  }

  function judgeLocally(target, nonce, scannedAt) {
    var lookup = target.code ? codeHash(target.code).then(function (h) { return {h: h, t: state.tickets.get(h)}; })
      : Promise.resolve({h: null, t: findById(state.tickets, target.registration_id)});
    return lookup.then(function (found) {
      var t = found.t;
      if (!t) {
        return queueRefusal(target, nonce, scannedAt, {result: 'unknown_code', message: cfg.msgUnknownOffline, local: true});
      }
      var brief = briefOf(t);
      var ref = target.code ? {code: target.code} : {registration_id: t.id};
      if (t.status !== 'confirmed') {
        return queueRefusal(ref, nonce, scannedAt, {result: 'not_admitted', reason: t.status,
          message: fmt(cfg.msgNotAdmitted, {reason: reasonText(t.status)}), registration: brief, local: true}, t.name);
      }
      if (t.checked_in_at) {
        return queueRefusal(ref, nonce, scannedAt, {result: 'already_checked_in',
          message: fmt(cfg.msgAlready, {time: hhmm(t.checked_in_at), who: t.checked_in_by || ''}),
          registration: brief, local: true}, t.name);
      }
      t.checked_in_at = scannedAt;
      t.checked_in_by = cfg.actor;
      var item = {nonce: nonce, code: target.code || null, registration_id: target.code ? null : t.id, h: found.h || t.h,
                  scanned_at: scannedAt, method: 'offline', name: t.name};
      state.queue.push(item);
      showNet();
      bumpCounter(t.type_code, 1);
      return Promise.all([idbPut('queue', item), idbPut('tickets', t)]).then(function () {
        return {result: 'checked_in', message: cfg.msgCheckedInOffline, registration: brief, local: true, nonce: nonce};
      });
    });
  }

  function admit(target, method) {
    // target: {code: 'T1-…'} or {raw: what was read} or {registration_id: n}
    var nonce = newNonce();
    var scannedAt = new Date().toISOString();
    var code = target.raw !== undefined ? extractCode(target.raw) : target.code;
    var payload = {nonce: nonce, scanned_at: scannedAt, method: method, device_id: deviceId()};
    if (target.registration_id !== undefined) { payload.registration_id = target.registration_id; } else { payload.code = target.raw !== undefined ? target.raw : code; }
    var local = function () {
      if (target.registration_id === undefined && !code) {
        var out = {result: 'unknown_code', message: cfg.msgNotACode, local: true};
        return payload.code ? queueRefusal({code: String(payload.code).slice(0, 200)}, nonce, scannedAt, out) : out;
      }
      return judgeLocally(target.registration_id !== undefined ? {registration_id: target.registration_id} : {code: code},
                          nonce, scannedAt);
    };
    var run = state.online && !state.ended
      ? request('POST', cfg.scan, payload).then(function (out) {
        markLocally(out, null, null);
        refreshCountersSoon();
        return out;
      }, function (err) {
        if (handleAuthError(err)) { return null; }
        if (isOfflineError(err)) { setOnline(false); return local(); }
        return {result: 'unknown_code', message: (err.body && err.body.message) || cfg.msgNotACode};
      })
      : Promise.resolve(local());
    return run.then(function (out) {
      if (!out) { return; }
      showResult(out);
      state.lastAdmitted = out.result === 'checked_in' && out.registration
        ? {id: out.registration.id, nonce: out.local ? nonce : null, local: !!out.local, type: out.registration.ticket_type_code}
        : state.lastAdmitted;
    });
  }

  function undoLast() {
    var last = state.lastAdmitted;
    if (!last) { return; }
    if (last.local) {
      // still in this device's queue: take it out, nothing reached the server
      var idx = state.queue.findIndex(function (q) { return q.nonce === last.nonce; });
      if (idx >= 0) {
        var item = state.queue.splice(idx, 1)[0];
        var t = item.h ? state.tickets.get(item.h) : findById(state.tickets, item.registration_id);
        if (t) { t.checked_in_at = null; t.checked_in_by = null; idbPut('tickets', t); }
        idbDelete('queue', item.nonce);
        bumpCounter(last.type, -1);
        showNet();
        state.lastAdmitted = null;
        showResult({result: 'undone', message: cfg.msgUndone, registration: t ? briefOf(t) : null, local: true});
        return;
      }
    }
    request('POST', cfg.undo, {registration_id: last.id}).then(function (out) {
      state.lastAdmitted = null;
      markLocally(out, null, null);
      showResult(out);
      refreshCountersSoon();
    }, function (err) {
      if (!handleAuthError(err)) {
        showResult({result: 'unknown_code', message: (err.body && err.body.message) || cfg.msgOffline});
      }
    });
  }

  // ------------------------------------------------------------ offline queue → server
  function sync() {
    if (state.syncing) { return state.syncing; }
    if (!state.queue.length || !state.online || state.ended) { return Promise.resolve(); }
    var batch = state.queue.slice(0, 200);
    var body = {device_id: deviceId(), scans: batch.map(function (q) {
      return {code: q.code, registration_id: q.registration_id, nonce: q.nonce, scanned_at: q.scanned_at,
              method: q.method || 'offline', admitted_locally: !q.refused, refused_locally: q.refused || null};
    })};
    state.syncing = request('POST', cfg.sync, body).then(function (out) {
      var done = {};
      batch.forEach(function (q) { done[q.nonce] = true; });
      state.queue = state.queue.filter(function (q) { return !done[q.nonce]; });
      return Promise.all(batch.map(function (q) { return idbDelete('queue', q.nonce); })).then(function () {
        reportSync(batch, out.results);
        updateCounters(out.counters);
        showNet();
      });
    }).catch(function (err) {
      if (!handleAuthError(err) && isOfflineError(err)) { setOnline(false); }
    }).then(function () {
      state.syncing = null;
      if (state.queue.length && state.online && !state.ended) { return sync(); }
    });
    return state.syncing;
  }
  function reportSync(batch, results) {
    (results || []).forEach(function (r, i) {
      if (r.result === 'checked_in' && !r.duplicate && !r.taken_back) { return; }
      // a refusal the desk already told: only news if the ticket admits by now
      if (r.result === 'refused_offline' && !r.admissible_now) { return; }
      var li = el('li');
      li.appendChild(typed('span', null, r.registration ? r.registration.name : batch[i].name || ''));
      li.appendChild(document.createTextNode(': ' + r.message + (r.duplicate ? ' ' + cfg.msgDuplicate : '')));
      els.syncList.appendChild(li);
      els.syncReport.hidden = false;
    });
  }

  // ------------------------------------------------------------ name search
  var searchTimer = null;
  function renderHits(hits) {
    els.results.textContent = '';
    var q = els.q.value.trim();
    if (!q) { return; }
    els.results.appendChild(el('p', 'muted', hits.length ? fmt(cfg.msgResults, {n: hits.length}) : cfg.msgNoResults));
    if (!hits.length) { return; }
    var ul = el('ul', 'attendee-list');
    hits.forEach(function (h) {
      var r = h.registration;
      var li = el('li', 'attendee');
      var person = el('p', 'attendee-person');
      person.appendChild(typed('span', 'attendee-kana', r.name_kana));
      person.appendChild(typed('span', 'attendee-name', r.name));
      li.appendChild(person);
      li.appendChild(metaLine('attendee-meta', r));
      if (h.checked_in_at) {
        li.appendChild(appendFmt(el('p', 'attendee-state state-done'), cfg.msgDone,
                                 {time: hhmm(h.checked_in_at), who: h.checked_in_by || ''}));
      } else if (r.status !== 'confirmed') {
        li.appendChild(el('p', 'attendee-state state-no', fmt(cfg.msgNotAdmitted, {reason: reasonText(r.status)})));
      } else {
        var b = appendFmt(el('button', 'button'), cfg.msgAdmit, {name: r.name});
        b.type = 'button';
        b.addEventListener('click', function () {
          admit({registration_id: r.id}, 'search').then(function () { els.q.value = ''; renderHits([]); els.code.focus(); });
        });
        li.appendChild(b);
      }
      ul.appendChild(li);
    });
    els.results.appendChild(ul);
    keepInSight(ul.firstChild);
  }
  function keepInSight(first) {
    // on a phone the hits start below the screen (the keyboard takes half of it): bring the search
    // form to the top, so the first hit shows under it — only while someone types there
    if (!first || document.activeElement !== els.q) { return; }
    var visible = window.visualViewport ? window.visualViewport.height : window.innerHeight;
    if (first.getBoundingClientRect().bottom > visible) { els.searchForm.scrollIntoView({block: 'start'}); }
  }
  function localSearch(q) {
    var key = searchKey(q), hits = [];
    if (!key) { return hits; }
    state.tickets.forEach(function (t) {
      var n = searchKey(t.name), k = searchKey(t.kana);
      if (n.indexOf(key) >= 0 || k.indexOf(key) >= 0) {
        hits.push({rank: [t.status !== 'confirmed' ? 1 : 0, n.indexOf(key) === 0 || k.indexOf(key) === 0 ? 0 : 1, k],
                   registration: briefOf(t), checked_in_at: t.checked_in_at, checked_in_by: t.checked_in_by});
      }
    });
    hits.sort(function (a, b) {
      for (var i = 0; i < 3; i++) { if (a.rank[i] < b.rank[i]) { return -1; } if (a.rank[i] > b.rank[i]) { return 1; } }
      return 0;
    });
    return hits.slice(0, 20);
  }
  function runSearch() {
    var q = els.q.value.trim();
    if (!q) { renderHits([]); return; }
    if (!state.online || state.ended) { renderHits(localSearch(q)); return; }
    request('GET', cfg.search + '?q=' + encodeURIComponent(q)).then(function (hits) {
      if (els.q.value.trim() === q) { renderHits(hits); }
    }, function (err) {
      if (isOfflineError(err)) { setOnline(false); }
      renderHits(localSearch(q));
    });
  }

  // a scanner types wherever the focus is: a code read into the search box is a scan (the query
  // typed before it stays), and keys typed with no text field focused go to the code field
  function scannedIntoSearch() {
    var value = els.q.value;
    var code = extractCode(value);
    if (!code) { return false; }
    clearTimeout(searchTimer);
    var found = value.normalize('NFKC').toUpperCase().match(EMBEDDED);
    var rest = found && found.length === 1 ? value.normalize('NFKC').replace(new RegExp(found[0], 'i'), '').trim() : '';
    els.q.value = searchKey(rest) ? rest : '';
    runSearch();
    els.code.value = '';
    els.code.focus();
    admit({raw: code}, 'scanner');
    return true;
  }
  function isTextField(node) {
    if (!node || node.isContentEditable) { return !!node; }
    if (node.tagName === 'TEXTAREA' || node.tagName === 'SELECT') { return true; }
    return node.tagName === 'INPUT' && ['checkbox', 'radio', 'button', 'submit', 'reset', 'file', 'image', 'range', 'color']
      .indexOf((node.type || 'text').toLowerCase()) < 0;
  }
  function typeIntoCode(e) {
    if (e.defaultPrevented || e.ctrlKey || e.metaKey || e.altKey || e.isComposing) { return; }
    if (typeof e.key !== 'string' || e.key.length !== 1 || e.key === ' ') { return; }
    if (isTextField(document.activeElement)) { return; }
    els.code.focus();  // the key itself then lands in the code field
  }

  // ------------------------------------------------------------ camera
  var camera = {stream: null, timer: null, last: '', lastAt: 0, ctx: null};
  function cameraMessage(text, isError) {
    els.cameraStatus.textContent = text;
    els.cameraStatus.classList.toggle('camera-error', !!isError);
  }
  function startCamera() {
    if (!window.isSecureContext) { cameraMessage(cfg.msgCameraHttps, true); return; }
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia || typeof window.jsQR !== 'function') {
      cameraMessage(cfg.msgCameraUnsupported, true);
      return;
    }
    navigator.mediaDevices.getUserMedia({video: {facingMode: {ideal: 'environment'}}, audio: false}).then(function (stream) {
      camera.stream = stream;
      els.video.srcObject = stream;
      els.video.hidden = false;
      els.cameraStart.hidden = true;
      els.cameraStop.hidden = false;
      cameraMessage(cfg.msgCameraOn, false);
      var played = els.video.play();
      if (played && played.catch) { played.catch(function () {}); }
      tick();
    }, function (err) {
      var name = err && err.name;
      cameraMessage(name === 'NotAllowedError' || name === 'SecurityError' ? cfg.msgCameraDenied
        : name === 'NotFoundError' || name === 'OverconstrainedError' ? cfg.msgCameraMissing
          : name === 'NotReadableError' ? cfg.msgCameraBusy : cfg.msgCameraError + (name ? ' (' + name + ')' : ''), true);
    });
  }
  function stopCamera(message) {
    clearTimeout(camera.timer);
    if (camera.stream) { camera.stream.getTracks().forEach(function (t) { t.stop(); }); }
    camera.stream = null;
    els.video.srcObject = null;
    els.video.hidden = true;
    els.cameraStart.hidden = false;
    els.cameraStop.hidden = true;
    if (message) { cameraMessage(cfg.msgCameraOff, false); }
  }
  function tick() {
    if (!camera.stream) { return; }
    var v = els.video;
    if (v.readyState >= 2 && v.videoWidth) {
      var scale = Math.min(1, 640 / v.videoWidth);
      var w = Math.round(v.videoWidth * scale), h = Math.round(v.videoHeight * scale);
      if (els.canvas.width !== w) { els.canvas.width = w; els.canvas.height = h; camera.ctx = null; }
      camera.ctx = camera.ctx || els.canvas.getContext('2d', {willReadFrequently: true});
      camera.ctx.drawImage(v, 0, 0, w, h);
      var found = window.jsQR(camera.ctx.getImageData(0, 0, w, h).data, w, h, {inversionAttempts: 'dontInvert'});
      var now = Date.now();
      if (found && found.data && (found.data !== camera.last || now - camera.lastAt > SAME_CODE_PAUSE_MS)) {
        camera.last = found.data;
        camera.lastAt = now;
        admit({raw: found.data}, 'camera');
      }
    }
    camera.timer = setTimeout(tick, 120);
  }

  // ------------------------------------------------------------ device, service worker, logout
  function deviceId() {
    var key = 'eventsvc-checkin-device', id = null;
    try { id = localStorage.getItem(key); } catch (e) { id = null; }
    if (!id) {
      id = 'web-' + randomHex(4);
      try { localStorage.setItem(key, id); } catch (e) { /* private mode: a new id per page */ }
    }
    return id;
  }
  function registerWorker() {
    if (!('serviceWorker' in navigator) || !window.isSecureContext) {
      if (els.help) { els.help.textContent = cfg.msgOfflineNoSw; els.help.hidden = false; }
      return;
    }
    navigator.serviceWorker.register(cfg.sw, {scope: cfg.scope}).then(function () {
      return navigator.serviceWorker.ready;
    }).then(precache).catch(function () { /* the desk still works online */ });
  }
  function precache() {
    if (!window.caches || state.ended) { return; }
    return caches.open(CACHE).then(function (cache) {
      var assets = (cfg.assets || '').split(' ').filter(Boolean);
      return Promise.all([
        cache.addAll(assets),
        fetch(cfg.scope, {credentials: 'same-origin'}).then(function (res) {
          if (res.ok && !res.redirected) { return cache.put(location.origin + cfg.scope, res); }
        })
      ]);
    }).catch(function () {});
  }
  function forgetDevice() {
    state.ended = true;  // no snapshot is fetched or saved from now on
    var jobs = [clearSnapshot()];
    if (window.caches) {
      jobs.push(caches.open(CACHE).then(function (cache) {
        return cache.keys().then(function (keys) {
          return Promise.all(keys.filter(function (k) { return new URL(k.url).pathname.indexOf(cfg.scope) === 0; })
            .map(function (k) { return cache.delete(k); }));
        });
      }));
    }
    return Promise.all(jobs).catch(function () {});
  }
  function guardLogout(form) {
    form.addEventListener('submit', function (e) {
      if (form.dataset.cleared) { return; }
      e.preventDefault();
      Promise.resolve(sync()).then(function () {
        if (state.queue.length) {
          els.logoutBlocked.hidden = false;
          els.logoutBlocked.focus();
          return;
        }
        return forgetDevice().then(function () { form.dataset.cleared = '1'; form.submit(); });
      });
    });
  }

  // ------------------------------------------------------------ start
  function start() {
    els.camera.hidden = false;
    els.soundBox.hidden = false;
    // the note says what needs JavaScript: it runs, so the note is wrong now
    if (els.help) { els.help.hidden = true; }
    if (els.logoutBlocked) { els.logoutBlocked.setAttribute('tabindex', '-1'); }
    try { els.sound.checked = localStorage.getItem('eventsvc-checkin-sound') !== 'off'; } catch (e) { /* default on */ }
    els.sound.addEventListener('change', function () {
      try { localStorage.setItem('eventsvc-checkin-sound', els.sound.checked ? 'on' : 'off'); } catch (e) { /* ignore */ }
    });
    showNet();

    els.form.addEventListener('submit', function (e) {
      e.preventDefault();
      var raw = els.code.value;
      els.code.value = '';
      els.code.focus();
      if (!raw.trim()) { return; }
      admit({raw: raw}, 'scanner');
    });
    els.undo.addEventListener('click', function () {
      els.code.focus();  // the button hides: the next scan must not land on nothing
      undoLast();
    });
    document.addEventListener('keydown', typeIntoCode, true);
    els.searchForm.addEventListener('submit', function (e) {
      e.preventDefault();
      if (scannedIntoSearch()) { return; }
      runSearch();
    });
    els.q.addEventListener('input', function () { clearTimeout(searchTimer); searchTimer = setTimeout(runSearch, 200); });
    els.cameraStart.addEventListener('click', startCamera);
    els.cameraStop.addEventListener('click', function () { stopCamera(true); });
    window.addEventListener('online', function () { setOnline(true); });
    window.addEventListener('offline', function () { setOnline(false); });
    var staffLogout = $('staff-logout');
    if (staffLogout) { guardLogout(staffLogout); }
    document.querySelectorAll('.site-header form[action$="/logout"]').forEach(guardLogout);

    Promise.all([idbAll('tickets'), idbAll('queue'), idb(['meta'], 'readonly', function (t) {
      return t.objectStore('meta').get('snapshot');
    })]).then(function (loaded) {
      (loaded[0] || []).forEach(function (t) { state.tickets.set(t.h, t); });
      state.queue = (loaded[1] || []).sort(function (a, b) { return a.scanned_at < b.scanned_at ? -1 : 1; });
      state.snapshotAt = loaded[2] ? loaded[2].generated_at : null;
      showSnapshotAge();
      showNet();
    }).catch(function () {}).then(function () {
      if (state.online) { return sync().then(refreshSnapshot); }
    });
    registerWorker();
    setInterval(function () {
      // scans wait to be sent: send them, or look for the network again (an upload that failed on
      // a flaky network counted the desk offline) — sooner than the 30-second round below
      if (!state.queue.length) { return; }
      if (state.online) { sync(); } else { refreshState().then(sync).catch(function () {}); }
    }, 10000);
    setInterval(function () {
      if (state.online) { refreshSnapshot(); } else if (!state.queue.length) { refreshState().then(sync).catch(function () {}); }
    }, 30000);
    document.body.classList.add('desk-js');
  }

  start();
}());
