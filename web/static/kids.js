// kidchat kids' page: pick a persona, chat over the /ws/chat websocket (docs/protocol.md).
// Plain modern JavaScript, no framework and no build step. Text from the server and from the child is
// only ever put on the page with textContent, never as HTML.
(() => {
  "use strict";

  const cfg = JSON.parse(document.getElementById("kidchat-config").textContent);
  // Saved per child: two children sharing a device never resume each other's conversation.
  const who = cfg.child ? `.${cfg.child}` : "";
  const KEYS = { conversation: `kidchat.conversation${who}`, persona: `kidchat.persona${who}`, lang: "kidchat.lang" };
  const RETRY_MAX_MS = 30000;

  // localStorage can throw (private mode, storage off): the page still works, it just cannot resume.
  const store = {
    get(key) {
      try { return window.localStorage.getItem(key); } catch { return null; }
    },
    set(key, value) {
      try {
        if (value === null || value === undefined) window.localStorage.removeItem(key);
        else window.localStorage.setItem(key, String(value));
      } catch { /* not stored */ }
    },
  };

  const $ = (id) => document.getElementById(id);
  const el = {
    rest: $("rest"), picker: $("picker"), chat: $("chat"), messages: $("messages"), composer: $("composer"),
    input: $("input"), send: $("send"), stop: $("stop"), counter: $("counter"), status: $("status"),
    newChat: $("new-chat"), switchLang: $("switch-lang"), chatAvatar: $("chat-avatar"), chatName: $("chat-name"),
  };

  const savedLang = store.get(KEYS.lang);
  const state = {
    lang: savedLang && cfg.i18n[savedLang] ? savedLang : cfg.lang,
    conversation: store.get(KEYS.conversation),
    persona: store.get(KEYS.persona),
    active: false,       // the chat view is open and wants a live socket
    ws: null,
    ready: false,        // the server answered "start" with "ready"
    streaming: false,    // a reply is on its way (from our message until "done")
    stopping: false,
    reply: null,         // { li, body, text } of the reply being streamed
    retry: 0,
    retryTimer: null,
    statusKey: null,
    composing: false,
    rest: cfg.rest || null, // "time_up" | "quiet_hours" | "signed_out": chatting is over for now
  };

  // ---- interface language -------------------------------------------------------------------------

  function t(key) {
    const dict = cfg.i18n[state.lang] || {};
    return dict[key] ?? cfg.i18n.en[key] ?? key;
  }

  function personaById(id) {
    return cfg.personas.find((p) => p.id === id) || null;
  }

  function pick(map, p) {
    if (!map) return "";
    return map[state.lang] || map[p.languages[0]] || Object.values(map)[0] || "";
  }

  function applyLang() {
    document.documentElement.lang = state.lang;
    document.title = t("title");
    for (const node of document.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
    for (const node of document.querySelectorAll("[data-i18n-label]")) {
      node.setAttribute("aria-label", t(node.dataset.i18nLabel));
    }
    for (const node of document.querySelectorAll("[data-i18n-placeholder]")) {
      node.setAttribute("placeholder", t(node.dataset.i18nPlaceholder));
    }
    const speaks = t("speaks");
    for (const p of cfg.personas) {
      const name = document.querySelector(`[data-persona-name="${CSS.escape(p.id)}"]`);
      const desc = document.querySelector(`[data-persona-desc="${CSS.escape(p.id)}"]`);
      const langs = document.querySelector(`[data-persona-langs="${CSS.escape(p.id)}"]`);
      if (name) name.textContent = pick(p.name, p) || p.id;
      if (desc) desc.textContent = pick(p.description, p);
      if (langs) langs.textContent = p.languages.map((l) => speaks[l] || l).join(" · ");
    }
    for (const node of el.messages.querySelectorAll(".who[data-who='persona']")) node.textContent = personaName();
    renderHeading();
    setStatus(state.statusKey);
    updateCounter();
    if (state.rest) el.rest.textContent = t(state.rest);
  }

  function personaName() {
    const p = personaById(state.persona);
    return p ? pick(p.name, p) || p.id : "";
  }

  function renderHeading() {
    const p = personaById(state.persona);
    el.chatAvatar.textContent = p ? p.avatar : "";
    el.chatName.textContent = personaName();
  }

  function setStatus(key) {
    state.statusKey = key;
    el.status.textContent = key ? t(key) : "";
    el.status.hidden = !key;
  }

  // ---- views --------------------------------------------------------------------------------------

  function showChat() {
    el.picker.hidden = true;
    el.chat.hidden = false;
    el.newChat.hidden = false;
    renderHeading();
  }

  function showPicker() {
    el.chat.hidden = true;
    el.picker.hidden = false;
    el.newChat.hidden = true;
    const current = state.persona && el.picker.querySelector(`[data-persona="${CSS.escape(state.persona)}"]`);
    (current || el.picker.querySelector("button.persona"))?.focus();
  }

  // ---- message list -------------------------------------------------------------------------------

  const isChild = (role) => role === "child" || role === "user";

  function nearBottom() {
    const m = el.messages;
    return m.scrollHeight - m.scrollTop - m.clientHeight < 80;
  }

  function scrollToEnd(force) {
    if (force || nearBottom()) el.messages.scrollTop = el.messages.scrollHeight;
  }

  function addBubble(role, text, status) {
    const child = isChild(role);
    const li = document.createElement("li");
    li.className = child ? "msg msg-child" : "msg msg-persona";
    if (!child) {
      const avatar = document.createElement("span");
      avatar.className = "msg-avatar";
      avatar.setAttribute("aria-hidden", "true");
      avatar.textContent = personaById(state.persona)?.avatar || "🙂";
      li.append(avatar);
    }
    const bubble = document.createElement("div");
    bubble.className = "bubble";
    const who = document.createElement("span");
    who.className = "who visually-hidden";
    who.dataset.who = child ? "child" : "persona";
    who.textContent = child ? t("you") : personaName();
    const body = document.createElement("span");
    body.className = "body";
    body.textContent = text || "";
    bubble.append(who, body);
    li.append(bubble);
    if (status === "interrupted") markInterrupted(bubble);
    if (status === "blocked" && !child) li.classList.add("msg-redirect");
    el.messages.append(li);
    return { li, bubble, body, text: text || "" };
  }

  function markInterrupted(bubble) {
    if (bubble.querySelector(".note")) return;
    const note = document.createElement("span");
    note.className = "note";
    note.dataset.i18n = "interrupted";
    note.textContent = t("interrupted");
    bubble.append(note);
  }

  function addNotice(text) {
    const li = document.createElement("li");
    li.className = "msg msg-notice";
    li.textContent = text;
    el.messages.append(li);
    scrollToEnd(true);
  }

  function renderHistory(history) {
    // Silence the live region while the whole history is (re)drawn, so a resume is not read aloud again.
    el.messages.setAttribute("aria-live", "off");
    el.messages.replaceChildren();
    for (const m of history || []) {
      // A reply with no words yet (pending, or stopped before its first word) shows only its note.
      if (!m.text && !isChild(m.role) && m.status !== "interrupted") continue;
      addBubble(m.role, m.text, m.status);
    }
    scrollToEnd(true);
    setTimeout(() => el.messages.setAttribute("aria-live", "polite"), 0);
  }

  // ---- the reply being streamed -------------------------------------------------------------------

  function beginReply() {
    state.streaming = true;
    state.stopping = false;
    state.reply = addBubble("assistant", "");
    state.reply.li.classList.add("pending");
    el.messages.setAttribute("aria-busy", "true"); // a screen reader reads the reply once it is whole
    scrollToEnd(true);
    updateControls();
  }

  function ensureReply() {
    if (!state.reply) {
      state.reply = addBubble("assistant", "");
      el.messages.setAttribute("aria-busy", "true");
    }
    return state.reply;
  }

  function endReply(status) {
    const reply = state.reply;
    if (reply) {
      reply.li.classList.remove("pending");
      if (status === "interrupted") markInterrupted(reply.bubble);
      else if (!reply.text) reply.li.remove();
    }
    state.reply = null;
    state.streaming = false;
    state.stopping = false;
    el.messages.setAttribute("aria-busy", "false");
    updateControls();
  }

  // ---- socket -------------------------------------------------------------------------------------

  function wsUrl() {
    const proto = window.location.protocol === "https:" ? "wss:" : "ws:";
    return `${proto}//${window.location.host}/ws/chat`;
  }

  function send(frame) {
    const ws = state.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return false;
    ws.send(JSON.stringify(frame));
    return true;
  }

  function sendStart() {
    if (state.conversation) return send({ type: "start", conversation: state.conversation });
    if (state.persona) return send({ type: "start", persona: state.persona });
    return false;
  }

  function closeSocket() {
    const ws = state.ws;
    state.ws = null; // handlers of a replaced socket see they are stale and do nothing
    state.ready = false;
    if (ws && ws.readyState <= WebSocket.OPEN) ws.close(1000);
  }

  function connect() {
    clearTimeout(state.retryTimer);
    state.retryTimer = null;
    closeSocket();
    updateControls();
    setStatus(state.retry ? "reconnecting" : "connecting");
    let ws;
    try {
      ws = new WebSocket(wsUrl());
    } catch {
      scheduleReconnect();
      return;
    }
    state.ws = ws;
    ws.addEventListener("open", () => {
      if (ws === state.ws) sendStart();
    });
    ws.addEventListener("message", (event) => {
      if (ws !== state.ws || typeof event.data !== "string") return;
      let frame;
      try { frame = JSON.parse(event.data); } catch { return; }
      if (frame && typeof frame === "object") handle(frame);
    });
    ws.addEventListener("close", (event) => {
      if (ws !== state.ws) return;
      state.ws = null;
      if (event.code === 1008) {
        // No valid child session (signed out, new link, profile removed): retrying cannot help.
        showRest("signed_out");
        return;
      }
      onDrop();
    });
  }

  function onDrop() {
    state.ready = false;
    // The server ends a reply when its socket drops (status "interrupted"); show the same here.
    if (state.streaming) endReply("interrupted");
    updateControls();
    if (state.active) scheduleReconnect();
  }

  function scheduleReconnect() {
    clearTimeout(state.retryTimer);
    const base = Math.min(RETRY_MAX_MS, 1000 * 2 ** state.retry);
    const delay = base / 2 + Math.random() * (base / 2); // backoff with jitter
    state.retry += 1;
    setStatus(navigator.onLine === false ? "offline" : "reconnecting");
    state.retryTimer = setTimeout(connect, delay);
  }

  function reconnectNow() {
    if (state.active && !state.ws) {
      state.retry = Math.min(state.retry, 1);
      connect();
    }
  }

  // ---- frames from the server ---------------------------------------------------------------------

  function handle(frame) {
    switch (frame.type) {
      case "ready": return onReady(frame);
      case "delta": return onDelta(frame);
      case "redirect": return onRedirect(frame);
      case "done": return onDone(frame);
      case "error": return onError(frame);
      default: return undefined; // a newer server's frame type: ignore it
    }
  }

  function onReady(frame) {
    const resumed = frame.conversation === state.conversation;
    state.conversation = frame.conversation;
    if (frame.persona) state.persona = frame.persona;
    store.set(KEYS.conversation, state.conversation);
    store.set(KEYS.persona, state.persona);
    state.ready = true;
    state.retry = 0;
    state.reply = null;
    state.streaming = false;
    state.stopping = false;
    el.messages.setAttribute("aria-busy", "false");
    setStatus(null);
    showChat();
    renderHistory(frame.history);
    updateControls();
    if (!resumed && !matchMedia("(pointer: coarse)").matches) el.input.focus();
  }

  function onDelta(frame) {
    if (typeof frame.text !== "string") return;
    const reply = ensureReply();
    const stick = nearBottom();
    reply.li.classList.remove("pending");
    reply.text += frame.text;
    reply.body.textContent = reply.text;
    if (stick) scrollToEnd(true);
  }

  function onRedirect(frame) {
    // The persona's kind redirect replaces whatever part of this reply was shown.
    const reply = ensureReply();
    reply.li.classList.remove("pending");
    reply.li.classList.add("msg-redirect");
    reply.text = typeof frame.text === "string" ? frame.text : "";
    reply.body.textContent = reply.text;
    scrollToEnd(true);
  }

  function onDone(frame) {
    endReply(frame.status);
  }

  function showRest(key) {
    state.rest = key;
    state.active = false;
    clearTimeout(state.retryTimer);
    // A reply that never started leaves no empty bubble behind.
    if (state.streaming) endReply(state.reply && state.reply.text ? "interrupted" : "complete");
    el.rest.textContent = t(key);
    el.rest.hidden = false;
    el.composer.hidden = true;
    el.picker.hidden = true;
    el.newChat.hidden = true;
    setStatus(null);
    updateControls();
    el.rest.setAttribute("tabindex", "-1");
    el.rest.focus();
  }

  function onError(frame) {
    if (frame.code === "time_up" || frame.code === "quiet_hours") {
      showRest(frame.code);
      return;
    }
    const text = typeof frame.message === "string" && frame.message
      ? frame.message
      : t(frame.code === "too_long" ? "too_long" : "generic_error");
    switch (frame.code) {
      case "unknown_conversation":
        // The stored conversation is gone (e.g. a fresh database): start a new one with the same friend.
        state.conversation = null;
        store.set(KEYS.conversation, null);
        if (personaById(state.persona) && sendStart()) return;
        goToPicker();
        return;
      case "unknown_persona":
        state.conversation = null;
        state.persona = null;
        store.set(KEYS.conversation, null);
        store.set(KEYS.persona, null);
        goToPicker();
        return;
      case "not_started":
        sendStart();
        break;
      default:
        break;
    }
    // An error while we wait for a reply means the turn is over (rejected, or failed on the server).
    if (state.streaming) endReply(state.reply && state.reply.text ? "interrupted" : "complete");
    addNotice(text);
  }

  // ---- sending ------------------------------------------------------------------------------------

  function updateCounter() {
    const n = el.input.value.length; // the same UTF-16 count the maxlength attribute uses
    const max = cfg.maxMessageChars;
    el.counter.textContent = t("counter").replace("{n}", String(n)).replace("{max}", String(max));
    el.counter.classList.toggle("counter-near", n >= max * 0.9);
  }

  function updateControls() {
    const live = state.ready && state.ws && state.ws.readyState === WebSocket.OPEN;
    el.send.disabled = !live || state.streaming || !el.input.value.trim();
    const stopHadFocus = document.activeElement === el.stop;
    el.stop.hidden = !state.streaming;
    el.stop.disabled = !live || state.stopping;
    if (stopHadFocus && el.stop.hidden) el.input.focus();
  }

  function sendMessage() {
    if (el.send.disabled) return;
    const text = el.input.value.trim();
    if (!text) return;
    if (text.length > cfg.maxMessageChars) {
      addNotice(t("too_long"));
      return;
    }
    if (!send({ type: "message", text })) return;
    addBubble("child", text);
    el.input.value = "";
    updateCounter();
    beginReply();
  }

  function stopReply() {
    if (!state.streaming || state.stopping) return;
    if (send({ type: "stop" })) {
      state.stopping = true;
      updateControls();
    }
  }

  // ---- persona choice -----------------------------------------------------------------------------

  function startWith(personaId) {
    if (!personaById(personaId)) return;
    state.persona = personaId;
    state.conversation = null;
    store.set(KEYS.persona, personaId);
    store.set(KEYS.conversation, null);
    state.active = true;
    state.retry = 0;
    state.reply = null;
    state.streaming = false;
    el.messages.replaceChildren();
    showChat();
    connect();
  }

  function goToPicker() {
    state.active = false;
    clearTimeout(state.retryTimer);
    closeSocket();
    state.conversation = null;
    store.set(KEYS.conversation, null);
    state.reply = null;
    state.streaming = false;
    state.stopping = false;
    setStatus(null);
    el.messages.replaceChildren();
    updateControls();
    showPicker();
  }

  // ---- events -------------------------------------------------------------------------------------

  el.picker.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-persona]");
    if (button) startWith(button.dataset.persona);
  });
  el.newChat.addEventListener("click", goToPicker);
  el.switchLang.addEventListener("click", () => {
    state.lang = state.lang === "ko" ? "en" : "ko";
    store.set(KEYS.lang, state.lang);
    applyLang();
  });

  el.composer.addEventListener("submit", (event) => {
    event.preventDefault();
    sendMessage();
  });
  el.stop.addEventListener("click", stopReply);

  // Korean (and other IME) input: the Enter that confirms a syllable must not send. Chrome marks that
  // keydown isComposing; Safari fires compositionend first and then a keydown with keyCode 229.
  el.input.addEventListener("compositionstart", () => { state.composing = true; });
  el.input.addEventListener("compositionend", () => {
    setTimeout(() => { state.composing = false; }, 0);
  });
  el.input.addEventListener("blur", () => { state.composing = false; });
  el.input.addEventListener("keydown", (event) => {
    if (event.key !== "Enter" || event.shiftKey) return; // Shift+Enter: a new line
    if (event.isComposing || event.keyCode === 229 || state.composing) return;
    event.preventDefault();
    sendMessage();
  });
  el.input.addEventListener("input", () => {
    updateCounter();
    updateControls();
  });

  window.addEventListener("online", reconnectNow);
  window.addEventListener("offline", () => { if (state.active && !state.ws) setStatus("offline"); });
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") reconnectNow();
  });

  // ---- start --------------------------------------------------------------------------------------

  applyLang();
  if (state.rest) {
    el.picker.hidden = true; // time is up (or quiet hours): the kind words only
    el.composer.hidden = true;
  } else if (state.conversation) {
    state.active = true; // resume the stored conversation
    showChat();
    connect();
  } else {
    setStatus(null);
    updateControls();
  }
})();
