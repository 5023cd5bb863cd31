// kidchat parents' pages: copy the child link, fill in the browser's time zone, and show new alerts as
// they happen (polls /parent/alerts.json). Text from the server is only ever set with textContent.
(() => {
  "use strict";

  for (const button of document.querySelectorAll("[data-copy]")) {
    button.addEventListener("click", async () => {
      const input = document.getElementById(button.dataset.copy);
      if (!input) return;
      try {
        await navigator.clipboard.writeText(input.value);
      } catch {
        input.select(); // the parent can copy the selected link by hand
        return;
      }
      button.textContent = document.documentElement.lang === "ko" ? "복사했어요" : "Copied";
    });
  }

  for (const input of document.querySelectorAll("[data-browser-timezone]")) {
    if (!input.value) {
      try { input.value = Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch { /* leave empty */ }
    }
  }

  const box = document.getElementById("alerts");
  if (!box) return;
  const badge = document.getElementById("alert-count");
  const seconds = Math.max(2, Number(box.dataset.poll) || 10);
  let after = 0;
  for (const node of box.querySelectorAll("[data-alert]")) after = Math.max(after, Number(node.dataset.alert));

  function show(alert) {
    if (box.querySelector(`[data-alert="${alert.id}"]`)) return;
    const p = document.createElement("p");
    p.className = "alert";
    p.dataset.alert = String(alert.id);
    const strong = document.createElement("strong");
    strong.textContent = alert.title;
    const link = document.createElement("a");
    link.href = alert.url;
    link.textContent = alert.link;
    p.append(strong, " ", alert.text, " ", link);
    box.prepend(p);
  }

  async function poll() {
    try {
      const response = await fetch(`/parent/alerts.json?after=${after}`, {
        credentials: "same-origin", headers: { Accept: "application/json" }, cache: "no-store",
      });
      if (!response.ok) return;
      const data = await response.json();
      for (const alert of data.alerts || []) {
        show(alert);
        after = Math.max(after, alert.id);
      }
      if (badge) {
        badge.textContent = data.unseen ? String(data.unseen) : "";
        badge.classList.toggle("hidden", !data.unseen);
      }
    } catch { /* offline for a moment: try again at the next tick */ }
  }

  poll();
  setInterval(poll, seconds * 1000);
})();
