/* herald.js: follow a Herald (Mercure) hub from any browser, with no dependencies.
 * EventSource where the browser has one; long-polling (XMLHttpRequest, ?poll=1) where not.
 * Resumes from the last event id after any break, surfaces the hub's "herald-gap" event, and
 * asks options.token() (string, or a promise of one; null: the cookie was renewed) for a fresh
 * token when the hub refuses or ends a stream, e.g. because its token expired.
 *
 *   var sub = Herald.subscribe(hubURL + "?topic=" + encodeURIComponent(topic), {
 *     withCredentials: false, lastEventId: "", token: function () { return fetchToken(); },
 *     transport: "eventsource" | "poll",  // default: eventsource when available
 *     maxDelay: 10000                      // longest wait between reconnects (ms)
 *   });
 *   sub.addEventListener("message", function (e) { e.data; e.lastEventId; });
 *   sub.addEventListener("herald-gap", reload); // also "open", "error", or any event type
 *   sub.close();
 */
(function (root) {
  "use strict";

  function param(url, name, value) {
    return url + (url.indexOf("?") < 0 ? "?" : "&") + name + "=" + encodeURIComponent(value);
  }

  // The URL without the query parameters `names` matches.
  function strip(url, names) {
    var pattern = new RegExp("([?&])(" + names + ")=[^&]*(&|$)"), before;
    do { before = url; url = url.replace(pattern, "$1"); } while (url !== before);
    return url.replace(/[?&]$/, "");
  }

  function Subscription(url, options) {
    options = options || {};
    this.url = url;
    this.withCredentials = !!options.withCredentials;
    this.lastEventId = options.lastEventId || "";
    this.transport = options.transport || (root.EventSource ? "eventsource" : "poll");
    this.readyState = 0; // 0 connecting, 1 open, 2 closed, as EventSource
    this.onopen = this.onmessage = this.onerror = null;
    this._token = options.token;
    this._bearer = null;
    this._listeners = {};
    this._delay = 0;
    this._maxDelay = options.maxDelay || 10000;
    this._timer = this._source = this._xhr = null;
    this._connect();
  }

  var proto = Subscription.prototype;

  proto.addEventListener = function (type, listener) {
    var list = this._listeners[type];
    if (!list) {
      list = this._listeners[type] = [];
      if (this._source) this._follow(this._source, type);
    }
    list.push(listener);
  };

  proto.removeEventListener = function (type, listener) {
    var list = this._listeners[type] || [];
    for (var i = 0; i < list.length; i++) if (list[i] === listener) { list.splice(i, 1); return; }
  };

  proto.close = function () {
    this.readyState = 2;
    clearTimeout(this._timer);
    var source = this._source, xhr = this._xhr;
    this._timer = this._source = this._xhr = null;
    if (source) source.close();
    if (xhr) xhr.abort();
  };

  proto._emit = function (type, event) {
    var handler = this["on" + type], list = (this._listeners[type] || []).slice();
    if (typeof handler === "function" && (type === "open" || type === "message" || type === "error")) handler.call(this, event);
    for (var i = 0; i < list.length; i++) list[i].call(this, event);
  };

  proto._url = function () {
    var url = this.url;
    // Query parameters, not headers: no CORS preflight, and every old browser can send them.
    // The id replaces any the page gave; Mercure 1.0 (match=) names it last_event_id.
    if (this.lastEventId) {
      url = strip(url, "lastEventID|last_event_id|lastEventId");
      url = param(url, /[?&]match/.test(url) ? "last_event_id" : "lastEventID", this.lastEventId);
    }
    if (this._bearer) url = param(strip(url, "authorization"), "authorization", this._bearer);
    return url;
  };

  proto._opened = function () {
    this._delay = 0;
    if (this.readyState !== 1) {
      this.readyState = 1;
      this._emit("open", { type: "open" });
    }
  };

  proto._connect = function () {
    if (this.readyState === 2) return;
    if (this.transport === "poll") return this._poll();
    var self = this, source = new root.EventSource(this._url(), { withCredentials: this.withCredentials });
    this._source = source;
    this._followed = {};
    source.onopen = function () { if (self._source === source) self._opened(); };
    source.onerror = function () {
      if (self._source !== source) return;
      // CONNECTING: the browser reconnects by itself with Last-Event-ID. CLOSED: it gave up
      // (a refusal such as 401, or a hub that is down): start again, with a fresh token.
      var refused = source.readyState === 2;
      if (refused) { source.close(); self._source = null; }
      self.readyState = 0;
      self._emit("error", { type: "error" });
      if (refused) self._retry(true);
    };
    for (var type in this._listeners) this._follow(source, type);
    if (!this._listeners.message) this._follow(source, "message");
  };

  proto._follow = function (source, type) {
    if (type === "open" || type === "error" || this._followed[type]) return;
    this._followed[type] = true;
    var self = this;
    source.addEventListener(type, function (event) {
      if (self._source !== source) return;
      if (event.lastEventId) self.lastEventId = event.lastEventId;
      self._emit(type, event);
    });
  };

  proto._poll = function () {
    var self = this, xhr = new XMLHttpRequest(), started = new Date().getTime();
    this._xhr = xhr;
    // Until a poll succeeds, ask for an answer at once (wait=0): "open" then means what it
    // means for EventSource, the hub took the subscription; later polls wait for events.
    var url = param(this._url(), "poll", "1");
    xhr.open("GET", this.readyState === 1 ? url : param(url, "wait", "0"), true);
    xhr.withCredentials = this.withCredentials;
    xhr.onreadystatechange = function () {
      if (xhr.readyState !== 4 || self._xhr !== xhr) return;
      self._xhr = null;
      if (xhr.status !== 200) {
        self.readyState = 0;
        self._emit("error", { type: "error", status: xhr.status });
        return self._retry(xhr.status === 401 || xhr.status === 403);
      }
      var first = self.readyState !== 1;
      self._opened();
      var text = xhr.responseText || "", next = xhr.getResponseHeader("Last-Event-ID");
      self._read(text);
      if (next) self.lastEventId = next;
      // An empty answer that came at once (a hub shutting down) must not make a tight loop.
      if (!text && !first && new Date().getTime() - started < 1000) return self._retry(false);
      self._connect();
    };
    xhr.send();
  };

  // The body of a poll: text/event-stream, read as EventSource reads a stream.
  proto._read = function (text) {
    var lines = text.split(/\r\n|\r|\n/), data = null, type = "";
    for (var i = 0; i < lines.length && this.readyState !== 2; i++) {
      var line = lines[i], colon = line.indexOf(":");
      if (line === "") {
        if (data !== null) {
          this._emit(type || "message", { type: type || "message", data: data, lastEventId: this.lastEventId });
        }
        data = null;
        type = "";
        continue;
      }
      if (colon === 0) continue;
      var field = colon < 0 ? line : line.slice(0, colon);
      var value = colon < 0 ? "" : line.slice(line.charAt(colon + 1) === " " ? colon + 2 : colon + 1);
      if (field === "data") data = data === null ? value : data + "\n" + value;
      else if (field === "event") type = value;
      else if (field === "id" && value.indexOf("\u0000") < 0) this.lastEventId = value;
    }
  };

  // Tries again after a growing, jittered delay (1 s, doubling up to options.maxDelay, 10 s by
  // default); first asks for a fresh token when the hub refused this one.
  proto._retry = function (refresh) {
    var self = this;
    if (this.readyState === 2) return;
    this._delay = Math.min(this._maxDelay, this._delay ? this._delay * 2 : 1000);
    this._timer = setTimeout(function () {
      self._timer = null;
      if (!refresh || typeof self._token !== "function") return self._connect();
      var settled = false;
      var use = function (token) {
        if (settled) return;
        settled = true;
        if (typeof token === "string" && token) self._bearer = token;
        self._connect();
      };
      var fail = function () { if (!settled) { settled = true; self._retry(true); } };
      try {
        var result = self._token();
        if (result && typeof result.then === "function") result.then(use, fail);
        else use(result);
      } catch (e) {
        fail();
      }
    }, this._delay * (0.75 + Math.random() / 2));
  };

  root.Herald = {
    Subscription: Subscription,
    subscribe: function (url, options) { return new Subscription(url, options); }
  };
})(typeof window !== "undefined" ? window : this);
