/* Footfall onsite tracking: a drop-in for Klaviyo's klaviyo.js (the `_learnq` queue and the `klaviyo` object).
 * Served by Footfall at /onsite/js/<KEY>/klaviyo.js. Plain JavaScript, no dependencies, no build step.
 * It sends to the Footfall it was loaded from (or the script tag's data-api-host): POST /client/profiles/ and
 * /client/events/ as Klaviyo's script does. What it keeps: the __kla_id cookie (base64 JSON: cid, and
 * $exchange_id once identified), and in localStorage the viewed items, referrers, events held until the
 * visitor is identified and an outbox of events not yet acknowledged (resent with the same unique_id,
 * so a page left mid-request loses nothing and stores nothing twice). __kla_off=true: nothing is sent. */
(function (w, d, urlKey) {
  "use strict";
  if (w.klaviyoModulesObject) {
    if (w.console) w.console.warn("Cannot load klaviyo.js multiple times; the first copy keeps working.");
    return;
  }
  var COOKIE = "__kla_id", DAY = 864e5, COOKIE_DAYS = 730, DEBOUNCE_MS = 300, TRIES = 6, HELD_MAX = 50,
    OUTBOX_MAX = 100, VIEWED_MAX = 20, VIEWED_DAYS = 30, LAST_REFERRER_MS = 30 * 6e4,
    EVENTS_REVISION = "2026-07-15", PROFILES_REVISION = "2024-10-15",
    K_VIEWED = "__kla_viewed", K_HELD = "__kla_held", K_OUTBOX = "__kla_outbox", K_SENT = "__kla_sent",
    K_REFERRER = "__kla_referrer", K_LAST_REFERRER = "__kla_last_referrer", K_KEY = "__kl_key";
  // Which cached identity keys identify a visitor (Klaviyo's isIdentified list).
  var IDENTIFYING = ["$exchange_id", "id", "$email", "$id", "$kid", "$anonymous", "$phone_number", "email",
    "phone_number"];
  // Legacy `$` keys -> JSON:API profile attributes; the rest go to location or properties.
  var ATTRIBUTES = { $email: "email", email: "email", $phone_number: "phone_number", phone_number: "phone_number",
    $id: "external_id", $anonymous: "anonymous_id", $exchange_id: "_kx", $first_name: "first_name",
    $last_name: "last_name", $organization: "organization", $title: "title", $image: "image", $locale: "locale" };
  var IDENTIFIERS = { email: 1, phone_number: 1, external_id: 1, anonymous_id: 1, _kx: 1 };
  var LOCATION = { $address1: "address1", $address2: "address2", $city: "city", $country: "country",
    $region: "region", $zip: "zip", $timezone: "timezone", $latitude: "latitude", $longitude: "longitude" };
  var FIRST = { account: 1, cookieDomain: 1, identify: 1 }; // queued before load, these run first
  var EXCHANGE_ID = /^[\w\-=]+\.(\w+)$/;

  var script = d.currentScript;
  var base = apiBase();
  var account = urlKey || null, domain = null, identity = {}, cid = null, timer = 0, sending = false, retryTimer = 0;
  var outbox = load(K_OUTBOX, []), activityTracked = false;
  if (!Array.isArray(outbox)) outbox = [];

  // -- helpers -------------------------------------------------------------------------------------------
  function isObject(v) { return v !== null && typeof v === "object" && !Array.isArray(v); }
  function own(o, k) { return Object.prototype.hasOwnProperty.call(o, k); }
  function copy(o) { var out = {}, k; for (k in o) if (own(o, k)) out[k] = o[k]; return out; }
  function nonEmpty(o) { for (var k in o) if (own(o, k)) return true; return false; }
  function off() { return readCookie("__kla_off") === "true"; }
  function load(key, fallback) {
    try { var v = w.localStorage.getItem(key); return v ? JSON.parse(v) : fallback; } catch (e) { return fallback; }
  }
  function save(key, value) {
    try {
      if (value === null) w.localStorage.removeItem(key); else w.localStorage.setItem(key, JSON.stringify(value));
    } catch (e) { /* storage full or disabled: the value lives for this page only */ }
  }
  function hash(value) { // FNV-1a: enough to tell "sent before" from "changed", without keeping the value
    var s = JSON.stringify(value) || "", h = 0x811c9dc5;
    for (var i = 0; i < s.length; i++) { h ^= s.charCodeAt(i); h = Math.imul(h, 0x01000193); }
    return (h >>> 0).toString(36);
  }
  function uuid() {
    if (w.crypto && w.crypto.randomUUID) return w.crypto.randomUUID();
    var b = new Uint8Array(16), h = [];
    w.crypto.getRandomValues(b);
    b[6] = (b[6] & 15) | 64; b[8] = (b[8] & 63) | 128;
    for (var i = 0; i < 16; i++) h.push((b[i] + 256).toString(16).slice(1));
    return h.slice(0, 4).join("") + "-" + h.slice(4, 6).join("") + "-" + h.slice(6, 8).join("") + "-" +
      h.slice(8, 10).join("") + "-" + h.slice(10).join("");
  }
  function b64(text) { // UTF-8 aware, as Klaviyo's
    var bytes = new TextEncoder().encode(text), s = "";
    for (var i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]);
    return w.btoa(s);
  }
  function unb64(text) {
    var s = w.atob(text), bytes = new Uint8Array(s.length);
    for (var i = 0; i < s.length; i++) bytes[i] = s.charCodeAt(i);
    return new TextDecoder().decode(bytes);
  }
  function iso(time) {
    if (typeof time === "number") return new Date(time < 1e12 ? time * 1000 : time).toISOString();
    return typeof time === "string" ? time : new Date().toISOString();
  }
  function apiBase() {
    var host = (script && script.getAttribute("data-api-host")) || w.__footfallApiHost || "";
    if (!host && script && script.src) host = new URL(script.src, w.location.href).origin;
    if (host && !/^https?:\/\//.test(host)) host = w.location.protocol + "//" + host.replace(/^\/\//, "");
    return host.replace(/\/+$/, "");
  }

  // -- the __kla_id cookie -------------------------------------------------------------------------------
  function readCookie(name) {
    var m = d.cookie.match(new RegExp("(?:^|; )" + name + "=([^;]*)"));
    return m ? m[1] : null;
  }
  function readIdentity() {
    try { var v = JSON.parse(unb64(decodeURIComponent(readCookie(COOKIE) || ""))); return isObject(v) ? v : {}; }
    catch (e) { return {}; }
  }
  function persist() { // identifiers stay in the cookie only until the exchange id replaces them
    if (off()) return;
    var c = { cid: cid }, k;
    if (identity.$exchange_id) c.$exchange_id = identity.$exchange_id;
    else for (k in identity) if (IDENTIFYING.indexOf(k) >= 0) c[k] = identity[k];
    var value = encodeURIComponent(b64(JSON.stringify(c)));
    if (value.length > 3000) value = encodeURIComponent(b64(JSON.stringify({ cid: cid }))); // as Klaviyo: too big, cleared
    d.cookie = COOKIE + "=" + value + "; expires=" + new Date(Date.now() + COOKIE_DAYS * DAY).toUTCString() +
      "; path=/; SameSite=Lax" + (domain ? "; domain=" + domain : "") +
      (w.location.protocol === "https:" ? "; Secure" : "");
  }

  // -- identity ------------------------------------------------------------------------------------------
  function isIdentified() {
    for (var i = 0; i < IDENTIFYING.length; i++) if (identity[IDENTIFYING[i]]) return true;
    return false;
  }
  function publicIdentity() {
    var out = copy(identity);
    delete out.$exchange_id; delete out._kx;
    return out;
  }
  function forOtherPerson(props) {
    return ["$email", "$id"].some(function (k) { return props[k] && identity[k] && props[k] !== identity[k]; });
  }
  function clearIdentity() { identity = {}; save(K_SENT, null); }
  function identify(props) {
    if (!isObject(props)) return publicIdentity();
    props = copy(props);
    if (own(props, "_kx")) { props.$exchange_id = props._kx; delete props._kx; }
    if (props.$exchange_id && !ours(props.$exchange_id)) delete props.$exchange_id;
    if (forOtherPerson(props)) clearIdentity();
    var changed = false, k;
    for (k in props) {
      if (own(props, k) && props[k] !== undefined && JSON.stringify(identity[k]) !== JSON.stringify(props[k])) {
        identity[k] = props[k]; changed = true;
      }
    }
    if (changed) { persist(); scheduleIdentify(); }
    releaseHeld();
    return publicIdentity();
  }
  function ours(exchangeId) {
    var m = EXCHANGE_ID.exec(String(exchangeId));
    return !!m && (!account || m[1] === account);
  }
  function scheduleIdentify() { // debounced: calls within 300 ms go as one request
    if (timer) clearTimeout(timer);
    timer = setTimeout(sendIdentify, DEBOUNCE_MS);
  }
  function profileFields() {
    var fields = copy(identity), viewed = load(K_VIEWED, null), referrer = load(K_REFERRER, null),
      last = load(K_LAST_REFERRER, null);
    if (viewed && Array.isArray(viewed.items)) fields.$viewed_items = viewedItems(viewed.items);
    if (referrer) fields.$referrer = referrer;
    if (last) fields.$last_referrer = last;
    return fields;
  }
  function sendIdentify() {
    timer = 0;
    if (!account || off() || !isIdentified()) return;
    var fields = profileFields(), sent = load(K_SENT, {}) || {}, send = {}, hashes = {}, k, news = false;
    for (k in fields) {
      hashes[k] = hash(fields[k]);
      if (IDENTIFYING.indexOf(k) >= 0 || sent[k] !== hashes[k]) { send[k] = fields[k]; }
      if (sent[k] !== hashes[k]) news = true;
    }
    if (!news && identity.$exchange_id) return; // nothing new since the last identify that was answered
    withRetries("client/profiles/", PROFILES_REVISION, { data: profileDocument(send, false) }, function (status, body) {
      if (status < 200 || status >= 300) return;
      var current = load(K_SENT, {}) || {};
      for (k in send) current[k] = hashes[k];
      save(K_SENT, current);
      var kx = body && body.meta && body.meta.exchange_id;
      if (kx && ours(kx) && kx !== identity.$exchange_id) { identity.$exchange_id = kx; persist(); }
    });
  }
  function profileDocument(fields, identifiersOnly) {
    var attrs = {}, location = {}, properties = {}, data = { type: "profile", attributes: attrs }, k, v, name;
    for (k in fields) {
      v = fields[k];
      if (!own(fields, k) || v === undefined || v === null) continue;
      name = ATTRIBUTES[k];
      if (k === "$kid") data.id = String(v);
      else if (name) {
        if ((!identifiersOnly || IDENTIFIERS[name]) && (k.charAt(0) === "$" || !own(attrs, name))) attrs[name] = String(v);
      } else if (identifiersOnly) continue;
      else if (LOCATION[k]) location[LOCATION[k]] = /itude$/.test(k) ? Number(v) : String(v);
      else properties[k] = v;
    }
    if (nonEmpty(location)) attrs.location = location;
    if (nonEmpty(properties)) attrs.properties = properties;
    return data;
  }

  // -- events --------------------------------------------------------------------------------------------
  function track(event, props, service) {
    if (typeof event !== "string" || !event) return false;
    var entry = { e: event, p: isObject(props) ? copy(props) : {}, s: typeof service === "string" ? service : "api",
      t: Date.now(), u: uuid() };
    if (off()) return false;
    if (!account || !isIdentified()) { hold(entry); return false; }
    enqueue(eventDocument(entry));
    return true;
  }
  function trackOnce(event, props) {
    props = isObject(props) ? copy(props) : {};
    props.__track_once__ = true;
    return track(event, props);
  }
  function hold(entry) { // until identify, as Klaviyo does; kept across pages of the visit
    var held = load(K_HELD, []);
    if (!Array.isArray(held)) held = [];
    held.push(entry);
    save(K_HELD, held.slice(-HELD_MAX));
  }
  function releaseHeld() {
    if (!account || off() || !isIdentified()) return;
    var held = load(K_HELD, []);
    save(K_HELD, null);
    if (Array.isArray(held)) held.forEach(function (entry) { if (isObject(entry)) enqueue(eventDocument(entry)); });
  }
  function eventDocument(entry) {
    var p = copy(entry.p), attrs = {
      metric: { data: { type: "metric", attributes: { name: entry.e, service: entry.s } } },
      profile: { data: profileDocument(identity, true) }, properties: p };
    if (own(p, "$value")) { var value = Number(p.$value); if (isFinite(value)) attrs.value = value; delete p.$value; }
    if (p.$event_id !== undefined && p.$event_id !== null) { attrs.unique_id = String(p.$event_id); delete p.$event_id; }
    else if (p.__track_once__ !== true) attrs.unique_id = entry.u; // a resent event is stored once
    attrs.time = iso(own(p, "time") ? p.time : entry.t);
    delete p.time;
    p.$use_ip = true;
    p.$is_session_activity = true;
    return { data: { type: "event", attributes: attrs } };
  }

  // -- the outbox: sent in order, one at a time; retried on 429 / 503 / no answer, then dropped ----------
  function enqueue(body) {
    outbox.push({ b: body, n: 0 });
    if (outbox.length > OUTBOX_MAX) outbox.splice(0, outbox.length - OUTBOX_MAX);
    save(K_OUTBOX, outbox);
    pump();
  }
  function pump() {
    if (sending || retryTimer || !outbox.length || !account || off()) return;
    var item = outbox[0];
    sending = true;
    request("client/events/", EVENTS_REVISION, item.b, function (status, json, retryAfter) {
      sending = false;
      item.n = (item.n || 0) + 1;
      if (retryable(status) && item.n < TRIES) {
        retryTimer = setTimeout(function () { retryTimer = 0; pump(); }, delay(retryAfter));
      } else {
        var at = outbox.indexOf(item);
        if (at >= 0) outbox.splice(at, 1);
        pump();
      }
      save(K_OUTBOX, outbox);
    });
  }
  function retryable(status) { return status === 0 || status === 429 || status === 503; }
  function delay(retryAfter) { // Retry-After when the answer lets us read it, else 1-2 s as Klaviyo's script
    var s = parseFloat(retryAfter);
    return isFinite(s) && s >= 0 ? Math.min(s, 30) * 1000 : 1000 + Math.random() * 1000;
  }
  function withRetries(path, revision, body, done, tries) {
    request(path, revision, body, function (status, json, retryAfter) {
      tries = (tries || 0) + 1;
      if (retryable(status) && tries < TRIES) {
        setTimeout(function () { withRetries(path, revision, body, done, tries); }, delay(retryAfter));
      } else done(status, json);
    });
  }
  function request(path, revision, body, done) { // done(status, json, retryAfter); status 0: no answer
    var url = base + "/" + path + "?company_id=" + encodeURIComponent(account);
    try {
      w.fetch(url, { method: "POST", mode: "cors", credentials: "omit", body: JSON.stringify(body), headers: {
        "Content-Type": "application/json", Accept: "application/json", revision: revision, "X-Klaviyo-Onsite": "1",
        "X-Klaviyo-Js-Url": (w.location.pathname + "|" + w.location.search).replace(/[^ -~]/g, "").slice(0, 512) }
      }).then(function (r) {
        return r.text().then(function (text) {
          var json = null;
          try { json = text ? JSON.parse(text) : null; } catch (e) { /* not JSON: nothing to read */ }
          done(r.status, json, r.headers.get("Retry-After"));
        });
      }).catch(function () { done(0, null, null); });
    } catch (e) { done(0, null, null); }
  }

  // -- viewed items, activity, identity from links -------------------------------------------------------
  function viewedItems(items) {
    return items.map(function (pair) { var item = copy(pair[0]); item.Views = pair[1]; return item; });
  }
  function trackViewedItem(item) {
    if (!isObject(item)) return publicIdentity();
    var now = Date.now(), store = load(K_VIEWED, null), key = JSON.stringify(item), views = 1;
    if (!isObject(store) || !Array.isArray(store.items) || now - store.ts > VIEWED_DAYS * DAY) store = { items: [] };
    store.items = store.items.filter(function (pair) {
      if (JSON.stringify(pair[0]) !== key) return true;
      views = pair[1] + 1;
      return false;
    });
    store.items.unshift([item, views]); // the most recently viewed first, the last 20 kept
    store.items = store.items.slice(0, VIEWED_MAX);
    store.ts = now;
    save(K_VIEWED, store);
    return identify({ $viewed_items: viewedItems(store.items) });
  }
  function externalReferrer() {
    try { var r = new URL(d.referrer); return r.host !== w.location.host ? r : null; } catch (e) { return null; }
  }
  function saveReferrers() {
    var now = Date.now(), ref = externalReferrer(), value = ref ? ref.href : "",
      record = { ts: Math.floor(now / 1000), value: value, first_page: w.location.href };
    if (!load(K_REFERRER, null)) save(K_REFERRER, record);
    var last = load(K_LAST_REFERRER, null);
    if (!last || now - last.ts * 1000 > LAST_REFERRER_MS || value) save(K_LAST_REFERRER, record);
  }
  function agent() {
    var ua = w.navigator.userAgent;
    var browser = /Edg\//.test(ua) ? "Edge" : /OPR\//.test(ua) ? "Opera" : /Firefox\//.test(ua) ? "Firefox" :
      /Chrome\//.test(ua) ? "Chrome" : /Safari\//.test(ua) ? "Safari" : "Other";
    var os = /Windows/.test(ua) ? "Windows" : /iPhone|iPad|iPod/.test(ua) ? "iOS" : /Mac OS X/.test(ua) ? "Mac" :
      /Android/.test(ua) ? "Android" : /Linux/.test(ua) ? "Linux" : "Other";
    return [browser, os];
  }
  function trackActivity() { // once per page: Klaviyo's __activity__, stored as "Active on Site"
    if (activityTracked) return;
    activityTracked = true;
    saveReferrers();
    var page = new URL(w.location.href);
    if (page.searchParams.has("_kx")) page.searchParams.delete("_kx"); // an exchange id is not copied into events
    var ua = agent(), props = { page: page.href, browser: ua[0], os: ua[1],
      initial_page_path: w.location.pathname }, ref = externalReferrer(), params = 0;
    if (ref) props.referrer = ref.host;
    new URLSearchParams(w.location.search).forEach(function (value, name) {
      if (name === "_kx") props.kx_present = true;
      else if (/^(utm_|_ke$)/.test(name) || /^[$_]|^time$/.test(name)) {
        if (/^utm_/.test(name)) props[name] = value; // identifiers and special keys are not copied
      } else if (params < 10) { props[name] = value; params++; }
    });
    if (w.location.hash.length > 1) props.fragment = w.location.hash.slice(1);
    track("__activity__", props);
  }
  function identifyFromUrl() { // _kx from an email link, _ke or utm_email: identified without typing anything
    var q = new URLSearchParams(w.location.search), kx = q.get("_kx"), ke = q.get("_ke"), email = q.get("utm_email");
    if (kx && ours(kx) && kx !== identity.$exchange_id) {
      clearIdentity();
      identity.$exchange_id = kx;
      persist();
      releaseHeld();
    }
    if (ke) {
      var decoded = null;
      try { decoded = JSON.parse(unb64(ke)); } catch (e) { decoded = null; }
      if (isObject(decoded) && (!decoded.kl_company_id || decoded.kl_company_id === account)) {
        var props = {};
        if (decoded.kl_email) props.$email = decoded.kl_email;
        if (decoded.kl_phone_number) props.$phone_number = decoded.kl_phone_number;
        identify(props);
      } else if (/@/.test(ke)) identify({ $email: ke });
    }
    if (email) identify({ $email: email });
  }

  // -- the page-side API ---------------------------------------------------------------------------------
  function setAccount(key) {
    if (key !== undefined && key !== null && String(key)) {
      account = String(key);
      save(K_KEY, account);
    }
    if (!account) account = w.__klKey || null;
    w.__klKey = account;
    return account;
  }
  function cookieDomain(value) {
    if (typeof value === "string" && value) { domain = value; persist(); }
    return domain;
  }
  var tracker = { account: setAccount, identify: identify, track: track, trackOnce: trackOnce,
    trackViewedItem: trackViewedItem, isIdentified: isIdentified, cookieDomain: cookieDomain };

  function call(item) { // push(fn) -> fn(tracker); push([name, ...args]) -> tracker[name](...args); else ignored
    if (typeof item === "function") return item(tracker);
    if (!item || typeof item[0] !== "string" || !own(tracker, item[0])) return undefined;
    var args = Array.prototype.slice.call(item, 1), callback = null;
    for (var i = 0; i < args.length; i++) {
      if (typeof args[i] === "function") { callback = args.splice(i, 1)[0]; break; } // track(e, p, cb, service)
    }
    var result = tracker[item[0]].apply(null, args);
    if (callback) callback(result);
    return result;
  }
  function dispatcher() { for (var i = 0; i < arguments.length; i++) call(arguments[i]); return 0; }
  function split(queue) {
    var first = [], rest = [];
    Array.prototype.slice.call(queue).forEach(function (item) {
      (item && typeof item !== "function" && FIRST[item[0]] ? first : rest).push(item);
    });
    queue.length = 0;
    return [first, rest];
  }

  // -- start: the queues filled before load (account, cookieDomain, identify first), then this page's work
  var learnq = Array.isArray(w._learnq) ? w._learnq : (w._learnq = []);
  var onsite = Array.isArray(w._klOnsite) ? w._klOnsite : (w._klOnsite = []);
  var queued = [split(learnq), split(onsite)], first = queued[0][0].concat(queued[1][0]);
  learnq.push = onsite.push = dispatcher;
  identity = readIdentity();
  cid = identity.cid || b64(uuid());
  delete identity.cid; delete identity.klSessionId; delete identity.sscRefreshed;
  function run(name) { first.forEach(function (item) { if (item[0] === name) call(item); }); }
  run("account");
  setAccount(urlKey || undefined); // the key in the script's URL wins, as Klaviyo's loader pushes it last
  if (!account) account = load(K_KEY, null);
  if (identity.$exchange_id && !ours(identity.$exchange_id)) delete identity.$exchange_id;
  Object.defineProperty(w, "klaviyoModulesObject", { value: { companyId: account, loadTime: new Date() },
    enumerable: false });
  run("cookieDomain");
  persist();
  run("identify");
  learnq._loaded = true;
  ["account", "cookieDomain", "identify", "track", "isIdentified"].forEach(function (name) {
    learnq[name] = function () { return call([name].concat(Array.prototype.slice.call(arguments))); };
  });
  var klaviyo = { push: dispatcher };
  Object.keys(tracker).forEach(function (name) {
    klaviyo[name] = function () {
      var args = [name].concat(Array.prototype.slice.call(arguments));
      return new Promise(function (resolve) { resolve(call(args)); });
    };
  });
  w.klaviyo = klaviyo;
  identifyFromUrl();
  queued[0][1].concat(queued[1][1]).forEach(call);
  trackActivity();
  releaseHeld();
  pump();
  if (isIdentified() && !identity.$exchange_id) scheduleIdentify(); // an earlier identify went unanswered
})(window, document, "__FOOTFALL_KEY__");
