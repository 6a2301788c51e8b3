// Herald chat: the browser side. Plain script, no framework, no build step.
// All data from the server is rendered with textContent, never as HTML.
"use strict";

(() => {
  const MAX_TEXT = 1000;        // characters per message (the server's limit)
  const MAX_NAME = 32;          // characters per display name
  const MAX_DOM_MESSAGES = 500; // older messages are dropped from the page
  const ROOM_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
  const ROOM_RULE = "Room names are 1 to 64 letters, digits, - or _ (no spaces).";
  const DEFAULT_ROOM = "general";
  const HUB = "/.well-known/mercure";
  const BACKOFF_FIRST = 1000;
  const BACKOFF_MAX = 10000;

  const $ = (id) => document.getElementById(id);
  const ui = {
    loading: $("loading"),
    login: $("login"), nameForm: $("name-form"), nameInput: $("name-input"),
    nameSubmit: $("name-submit"), nameError: $("name-error"),
    whoami: $("whoami"), currentName: $("current-name"), changeName: $("change-name"),
    chat: $("chat"), roomName: $("room-name"), status: $("status"),
    roomForm: $("room-form"), roomInput: $("room-input"), roomError: $("room-error"),
    messages: $("messages"), empty: $("empty"), gapNotice: $("gap-notice"),
    composer: $("composer"), messageInput: $("message-input"), send: $("send"),
    error: $("error"), counter: $("counter"),
    online: $("online"), onlineCount: $("online-count"),
  };

  const state = {
    name: null,
    csrf: null,
    room: null,
    info: null,              // GET /chat/rooms/{room}
    generation: 0,           // bumped whenever the room (or session) changes; stale work checks it
    source: null,            // current Herald.Subscription (herald.js: EventSource or long-polling)
    lastEventId: null,       // last SSE id seen in this room
    seen: new Set(),         // message ids already shown
    presence: new Map(),     // subscriber -> name
    presenceBuffer: null,    // presence events held back while a snapshot is fetched
    retryTimer: null,
    backoff: BACKOFF_FIRST,
    sending: false,
  };

  // ---------- small helpers ----------

  const segmenter = typeof Intl !== "undefined" && Intl.Segmenter ? new Intl.Segmenter() : null;
  // Counts user-perceived characters, like the server does.
  function charCount(text) {
    if (segmenter) {
      let n = 0;
      for (const _ of segmenter.segment(text)) n += 1;
      return n;
    }
    return Array.from(text).length;
  }

  async function api(method, path, body, headers) {
    const init = {
      method,
      headers: Object.assign({ Accept: "application/json" }, headers || {}),
      credentials: "same-origin",
      cache: "no-store",
    };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(path, init);
    } catch (_) {
      return { ok: false, status: 0, error: "cannot reach the server" };
    }
    let data = null;
    if (response.status !== 204) {
      try { data = await response.json(); } catch (_) { data = null; }
    }
    if (!response.ok) {
      const reason = data && typeof data.error === "string" && data.error ? data.error : "HTTP " + response.status;
      return { ok: false, status: response.status, error: reason };
    }
    return { ok: true, status: response.status, data };
  }

  function show(node, message) {
    node.textContent = message || "";
    node.hidden = !message;
  }

  function pad(n) { return String(n).padStart(2, "0"); }

  function formatTime(iso) {
    const date = new Date(iso);
    if (typeof iso !== "string" || isNaN(date.getTime())) return { short: "", full: String(iso || "") };
    const short = pad(date.getHours()) + ":" + pad(date.getMinutes()) + ":" + pad(date.getSeconds());
    const local = date.toLocaleString(undefined, { dateStyle: "full", timeStyle: "long" });
    return { short, full: local + " (" + iso + ")" };
  }

  function roomFromHash() {
    const params = new URLSearchParams(location.hash.replace(/^#/, ""));
    const room = params.get("room");
    return room === null || room === "" ? DEFAULT_ROOM : room;
  }

  function setHash(room, push) {
    const hash = "#room=" + room;
    if (location.hash === hash) return;
    if (push) history.pushState(null, "", hash);
    else history.replaceState(null, "", hash);
  }

  function setStatus(kind) {
    const labels = {
      idle: "offline",
      connecting: "connecting…",
      connected: "connected",
      reconnecting: "reconnecting…",
    };
    ui.status.dataset.state = kind;
    ui.status.textContent = labels[kind] || kind;
  }

  // ---------- session ----------

  async function boot() {
    const result = await api("GET", "/chat/session");
    ui.loading.hidden = true;
    if (result.ok && result.data && typeof result.data.name === "string") {
      signedIn(result.data);
    } else {
      showLogin(result.status === 401 ? "" : "Could not check your session: " + result.error);
    }
  }

  function showLogin(message, prefill) {
    stopRoom();
    state.name = null;
    state.csrf = null;
    ui.chat.hidden = true;
    ui.whoami.hidden = true;
    ui.login.hidden = false;
    ui.nameInput.value = prefill || "";
    show(ui.nameError, message);
    ui.nameInput.focus();
    ui.nameInput.select();
  }

  function signedIn(session) {
    state.name = session.name;
    state.csrf = session.csrf;
    ui.currentName.textContent = session.name;
    ui.whoami.hidden = false;
    ui.login.hidden = true;
    ui.chat.hidden = false;
    show(ui.nameError, "");
    enterRoom(roomFromHash());
    ui.messageInput.focus();
  }

  function nameProblem(name) {
    if (!name) return "Please enter a name.";
    if (charCount(name) > MAX_NAME) return "Names are at most " + MAX_NAME + " characters.";
    if (/\p{Cc}/u.test(name)) return "Names cannot contain control characters.";
    return "";
  }

  ui.nameForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const name = ui.nameInput.value.trim();
    const problem = nameProblem(name);
    if (problem) { show(ui.nameError, problem); return; }
    ui.nameSubmit.disabled = true;
    const result = await api("POST", "/chat/session", { name });
    ui.nameSubmit.disabled = false;
    if (result.ok && result.data) {
      signedIn(result.data);
    } else {
      show(ui.nameError, "Could not join: " + result.error);
    }
  });

  ui.changeName.addEventListener("click", async () => {
    const previous = state.name;
    stopRoom();
    await api("DELETE", "/chat/session");
    showLogin("", previous);
  });

  // ---------- rooms ----------

  function stopRoom() {
    state.generation += 1;
    clearTimeout(state.retryTimer);
    state.retryTimer = null;
    if (state.source) state.source.close();
    state.source = null;
    state.info = null;
    state.room = null;
    state.presenceBuffer = null;
    show(ui.gapNotice, "");
    setStatus("idle");
  }

  async function enterRoom(room) {
    if (!ROOM_PATTERN.test(room)) {
      show(ui.roomError, "“" + room + "” is not a valid room. " + ROOM_RULE);
      room = state.room || DEFAULT_ROOM;
      if (room === state.room) { setHash(room, false); return; }
    } else {
      show(ui.roomError, "");
    }
    stopRoom();
    const generation = state.generation;
    state.room = room;
    state.lastEventId = null;
    state.seen = new Set();
    state.presence = new Map();
    state.backoff = BACKOFF_FIRST;
    ui.messages.replaceChildren();
    followBottom = true;
    ui.roomName.textContent = room;
    document.title = "#" + room + " · Herald chat";
    setHash(room, false);
    renderEmpty();
    renderPresence();
    setStatus("connecting");
    await loadRoom(generation);
  }

  // Room info, then the presence snapshot, then the stream.
  async function loadRoom(generation) {
    const result = await api("GET", "/chat/rooms/" + encodeURIComponent(state.room));
    if (generation !== state.generation) return;
    if (!result.ok) {
      if (result.status === 0 || result.status >= 500) {
        setStatus("reconnecting");
        retryLater(generation, () => loadRoom(generation));
      } else {
        show(ui.roomError, "Cannot open this room: " + result.error);
        setStatus("idle");
      }
      return;
    }
    state.info = result.data;
    const snapshot = await fetchSnapshot();
    if (generation !== state.generation) return;
    openStream(generation, "earliest", false);
    if (snapshot) state.presence = snapshot;
    renderPresence();
  }

  // The subscribers of the room's topic right now, as subscriber -> name; null on failure.
  async function fetchSnapshot() {
    const result = await api("GET", state.info.subscriptionsURL);
    if (!result.ok || !result.data || !Array.isArray(result.data.subscriptions)) return null;
    const map = new Map();
    for (const subscription of result.data.subscriptions) applyPresence(map, subscription);
    return map;
  }

  function retryLater(generation, action) {
    clearTimeout(state.retryTimer);
    const delay = state.backoff;
    state.backoff = Math.min(state.backoff * 2, BACKOFF_MAX);
    state.retryTimer = setTimeout(() => {
      state.retryTimer = null;
      if (generation === state.generation) action();
    }, delay);
  }

  function openStream(generation, lastEventId, resyncOnOpen) {
    const info = state.info;
    const url = HUB +
      "?topic=" + encodeURIComponent(info.topic) +
      "&topic=" + encodeURIComponent(info.presenceTopic) +
      "&lastEventID=" + encodeURIComponent(lastEventId);
    // herald.js (served by the hub) uses EventSource, or long-polling where there is none.
    const source = Herald.subscribe(url);
    state.source = source;
    let needsResync = resyncOnOpen;

    source.onopen = () => {
      if (generation !== state.generation || source !== state.source) return;
      state.backoff = BACKOFF_FIRST;
      setStatus("connected");
      if (needsResync) {
        needsResync = false;
        resyncPresence(generation);
      }
    };
    source.onerror = () => {
      if (generation !== state.generation || source !== state.source) return;
      setStatus("reconnecting");
      // Whatever happened while we were away (perhaps a server restart) is not all in the
      // replay, so rebuild presence from a fresh snapshot once connected again.
      needsResync = true;
      // herald.js reconnects by itself, from the last event id, with growing delays.
    };
    // The hub could not replay from our last event (it restarted, or it no longer keeps
    // that far back): say so, and reload what it still has. Messages already shown stay and
    // are not shown twice; what the hub no longer has is missing for good.
    source.addEventListener("herald-gap", () => {
      if (generation !== state.generation || source !== state.source) return;
      show(ui.gapNotice, "Some messages may be missing: the server could not replay everything " +
        "since you were last connected. Showing what it still has.");
      source.close();
      state.source = null;
      openStream(generation, "earliest", true);
    });
    source.onmessage = (event) => {
      if (generation !== state.generation || source !== state.source) return;
      if (event.lastEventId) state.lastEventId = event.lastEventId;
      let data;
      try { data = JSON.parse(event.data); } catch (_) { return; }
      if (!data || typeof data !== "object") return;
      if (data.type === "ChatMessage") {
        addMessage(data);
      } else if (data.type === "Subscription") {
        onPresenceEvent(data);
      }
    };
  }

  async function resyncPresence(generation) {
    state.presenceBuffer = [];
    const snapshot = await fetchSnapshot();
    if (generation !== state.generation) return;
    const buffered = state.presenceBuffer || [];
    state.presenceBuffer = null;
    if (snapshot) state.presence = snapshot;
    for (const update of buffered) applyPresence(state.presence, update);
    renderPresence();
  }

  function onPresenceEvent(update) {
    if (state.presenceBuffer) {
      state.presenceBuffer.push(update);
      return;
    }
    applyPresence(state.presence, update);
    renderPresence();
  }

  function applyPresence(map, update) {
    if (!state.info || update.topic !== state.info.topic) return;
    if (typeof update.subscriber !== "string") return;
    if (update.active) {
      const payload = update.payload;
      const name = payload && typeof payload.name === "string" && payload.name ? payload.name : "anonymous";
      map.set(update.subscriber, name);
    } else {
      map.delete(update.subscriber);
    }
  }

  function renderPresence() {
    const connections = new Map(); // name -> how many of its connections are here
    for (const name of state.presence.values()) connections.set(name, (connections.get(name) || 0) + 1);
    const names = [...connections.keys()].sort((a, b) =>
      a.localeCompare(b, undefined, { sensitivity: "base" }) || (a < b ? -1 : a > b ? 1 : 0));
    const items = names.map((name) => {
      const item = document.createElement("li");
      const dot = document.createElement("span");
      dot.className = "dot";
      dot.setAttribute("aria-hidden", "true");
      const label = document.createElement("span");
      label.className = "who";
      label.textContent = name;
      item.append(dot, label);
      if (name === state.name) {
        item.classList.add("me");
        const you = document.createElement("span");
        you.className = "you";
        you.textContent = "(you)";
        item.append(you);
      }
      item.dataset.connections = String(connections.get(name));
      if (connections.get(name) > 1) item.title = connections.get(name) + " tabs or devices";
      return item;
    });
    ui.online.replaceChildren(...items);
    ui.onlineCount.textContent = String(names.length);
  }

  ui.roomForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const room = ui.roomInput.value.trim();
    if (!ROOM_PATTERN.test(room)) {
      show(ui.roomError, room ? "“" + room + "” is not a valid room. " + ROOM_RULE : "Type a room name. " + ROOM_RULE);
      ui.roomInput.focus();
      return;
    }
    show(ui.roomError, "");
    ui.roomInput.value = "";
    if (room === state.room) return;
    setHash(room, true);
    enterRoom(room);
  });

  window.addEventListener("hashchange", () => {
    if (!state.name) return;
    const room = roomFromHash();
    if (room !== state.room) enterRoom(room);
  });
  window.addEventListener("popstate", () => {
    if (!state.name) return;
    const room = roomFromHash();
    if (room !== state.room) enterRoom(room);
  });

  // Leave promptly so others see us go.
  window.addEventListener("pagehide", () => {
    if (state.source) state.source.close();
  });

  // ---------- messages ----------

  function nearBottom() {
    const list = ui.messages;
    return list.scrollHeight - list.scrollTop - list.clientHeight < 80;
  }

  // Follow new messages while the reader is at the bottom, also when the list is resized
  // (phone keyboards, rotation); stop following once they scroll up to read.
  let followBottom = true;
  ui.messages.addEventListener("scroll", () => { followBottom = nearBottom(); }, { passive: true });
  if (typeof ResizeObserver === "function") {
    new ResizeObserver(() => {
      if (followBottom) ui.messages.scrollTop = ui.messages.scrollHeight;
    }).observe(ui.messages);
  }

  function renderEmpty() {
    ui.empty.hidden = ui.messages.childElementCount > 0;
  }

  function addMessage(message, forceScroll) {
    if (typeof message.id !== "string" || state.seen.has(message.id)) return;
    if (typeof message.room === "string" && message.room !== state.room) return;
    state.seen.add(message.id);
    const stick = forceScroll || followBottom || nearBottom();

    const item = document.createElement("li");
    item.className = "message";
    item.dataset.id = message.id;
    if (message.name === state.name) item.classList.add("mine");

    const meta = document.createElement("div");
    meta.className = "meta";
    const name = document.createElement("span");
    name.className = "name";
    name.textContent = String(message.name ?? "");
    const time = document.createElement("time");
    time.className = "time";
    const when = formatTime(message.time);
    time.textContent = when.short;
    time.title = when.full;
    if (typeof message.time === "string") time.dateTime = message.time;
    meta.append(name, time);

    const text = document.createElement("p");
    text.className = "text";
    text.textContent = String(message.text ?? "");

    item.append(meta, text);
    ui.messages.append(item);
    while (ui.messages.childElementCount > MAX_DOM_MESSAGES) ui.messages.firstElementChild.remove();
    renderEmpty();
    if (stick) ui.messages.scrollTop = ui.messages.scrollHeight;
  }

  // ---------- composer ----------

  let lengthErrorShown = false;

  function updateCounter() {
    const count = charCount(ui.messageInput.value);
    ui.counter.textContent = count + " / " + MAX_TEXT;
    const over = count > MAX_TEXT;
    ui.counter.classList.toggle("over", over);
    ui.messageInput.setAttribute("aria-invalid", over ? "true" : "false");
    if (over) {
      show(ui.error, "Message too long: " + count + " characters (max " + MAX_TEXT + ").");
      lengthErrorShown = true;
    } else if (lengthErrorShown) {
      show(ui.error, "");
      lengthErrorShown = false;
    }
    return count;
  }

  ui.messageInput.addEventListener("input", updateCounter);

  ui.composer.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (state.sending || !state.room) return;
    const text = ui.messageInput.value;
    const count = updateCounter();
    if (count > MAX_TEXT) return;
    if (!text.trim()) {
      show(ui.error, "Type a message first.");
      return;
    }
    const room = state.room;
    const generation = state.generation;
    state.sending = true;
    ui.messageInput.disabled = true;
    ui.send.disabled = true;
    ui.composer.classList.add("busy");
    const result = await api(
      "POST", "/chat/rooms/" + encodeURIComponent(room) + "/messages", { text },
      { "X-CSRF-Token": state.csrf || "" });
    state.sending = false;
    ui.messageInput.disabled = false;
    ui.send.disabled = false;
    ui.composer.classList.remove("busy");
    if (result.ok) {
      if (ui.messageInput.value === text) ui.messageInput.value = "";
      updateCounter();
      show(ui.error, "");
      lengthErrorShown = false;
      if (generation === state.generation && result.data) addMessage(result.data, true);
    } else {
      show(ui.error, "Not sent: " + result.error + (result.status === 401 ? " (use “Change name” to sign in again)" : ""));
    }
    ui.messageInput.focus();
  });

  updateCounter();
  boot();
})();
