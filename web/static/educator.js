// kidchat persona editor: the preview chat. It posts the unsaved form (the draft) with the educator's
// words and reads the reply as it streams (NDJSON frames of the chat protocol). Nothing is stored.
// All text goes on the page with textContent, never as HTML.
(() => {
  "use strict";
  const form = document.getElementById("persona-form");
  const box = document.getElementById("preview");
  if (!form || !box) return;
  const $ = (id) => document.getElementById(id);
  const log = $("preview-log"), input = $("preview-text"), sendBtn = $("preview-send"), stopBtn = $("preview-stop");
  const errors = $("preview-errors"), labels = $("preview-labels").dataset;
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  let turns = [];
  let controller = null;

  function line(who, text, cls) {
    const li = document.createElement("li");
    if (cls) li.className = cls;
    const strong = document.createElement("strong");
    strong.textContent = `${who}: `;
    const body = document.createElement("span");
    body.textContent = text;
    li.append(strong, body);
    log.append(li);
    log.scrollTop = log.scrollHeight;
    return body;
  }

  function busy(on) {
    sendBtn.disabled = on;
    stopBtn.hidden = !on;
  }

  async function send() {
    const text = input.value.trim();
    if (!text || controller) return;
    errors.hidden = true;
    const data = new FormData(form);
    data.set("preview_text", text);
    data.set("preview_history", JSON.stringify(turns));
    line(labels.child, text, "preview-child");
    input.value = "";
    const reply = line(labels.persona, "", "preview-persona");
    controller = new AbortController();
    busy(true);
    let shown = "";
    let status = "";
    try {
      const response = await fetch(box.dataset.url, {
        method: "POST", body: new URLSearchParams(data), headers: { "X-CSRF-Token": csrf },
        credentials: "same-origin", signal: controller.signal,
      });
      if (!response.ok) {
        const problem = await response.json().catch(() => ({}));
        const list = problem.errors ? Object.entries(problem.errors).map(([k, v]) => `${k}: ${v}`) : [];
        errors.textContent = list.join(" · ") || String(response.status);
        errors.hidden = false;
        reply.parentElement.remove();
        return;
      }
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true });
        let cut;
        while ((cut = buffer.indexOf("\n")) >= 0) {
          const frame = JSON.parse(buffer.slice(0, cut));
          buffer = buffer.slice(cut + 1);
          if (frame.type === "delta") shown += frame.text;
          else if (frame.type === "redirect") { shown = frame.text; reply.parentElement.classList.add("preview-redirect"); reply.previousSibling.textContent = `${labels.redirect}: `; }
          else if (frame.type === "error") { errors.textContent = frame.message; errors.hidden = false; }
          else if (frame.type === "done") status = frame.status;
          reply.textContent = shown;
        }
      }
    } catch (err) {
      if (err.name !== "AbortError") { errors.textContent = String(err.message || err); errors.hidden = false; }
      status = "interrupted";
    } finally {
      controller = null;
      busy(false);
      input.focus();
    }
    if (status !== "blocked") turns.push({ role: "child", text }, { role: "assistant", text: shown });
  }

  sendBtn.addEventListener("click", send);
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.isComposing && event.keyCode !== 229) { event.preventDefault(); send(); }
  });
  stopBtn.addEventListener("click", () => controller && controller.abort());
  $("preview-reset").addEventListener("click", () => { turns = []; log.replaceChildren(); errors.hidden = true; });
  const summary = document.getElementById("form-errors");
  if (summary) summary.focus();
})();
