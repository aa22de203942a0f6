// Admin page: announcements. Compose (text, optional http/https link, level,
// optional start and expiry) with POST /api/announcements and an
// Idempotency-Key, so a double click or a retried request sends one banner;
// history with sent/delivered/seen counts; withdraw. Every text is put in
// with textContent (docs/api.md: the text is plain text).
import { t } from "./i18n.js";

const $ = (id) => document.getElementById(id);
const el = (tag, cls, text) => {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text != null) e.textContent = text;
  return e;
};

const key = () => (crypto.randomUUID ? crypto.randomUUID() : String(Date.now()) + Math.random().toString(16).slice(2));

const fmt = (iso) => {
  const d = iso ? new Date(iso) : null;
  return d && !isNaN(d) && d.getFullYear() > 1 ? d.toLocaleString() : "—";
};

export class Announcements {
  constructor(session) {
    this.session = session;
    this.list = [];
    this.shown = false;
    this._key = key(); // one key per composed announcement: a retry reuses it
    this._busy = false;
    if (document.readyState !== "loading") this._wire();
    else document.addEventListener("DOMContentLoaded", () => this._wire());
  }

  _wire() {
    if (this._wired || !$("ann-form")) return;
    this._wired = true;
    $("ann-form").addEventListener("input", () => { this._key = key(); }); // changed text: a new announcement
    $("ann-form").addEventListener("submit", (e) => { e.preventDefault(); this.submit(); });
    $("ann-history").addEventListener("click", (e) => {
      const b = e.target.closest("button[data-withdraw]");
      if (b) this.withdraw(b.dataset.withdraw);
    });
  }

  _error(msg) {
    $("ann-error").textContent = msg || "";
    $("ann-error").hidden = !msg;
  }

  async submit() {
    if (this._busy) return;
    const body = { text: $("ann-text").value.trim(), level: $("ann-level").value };
    if (!body.text) { this._error(t("annNeedText")); return; }
    const link = $("ann-link").value.trim();
    if (link) {
      let ok = false;
      try { ok = /^https?:$/.test(new URL(link).protocol); } catch (e) { /* not a URL */ }
      if (!ok) { this._error(t("annBadLink")); return; }
      body.link = link;
    }
    for (const [id, field] of [["ann-starts", "starts_at"], ["ann-expires", "expires_at"]]) {
      const v = $(id).value;
      if (v) {
        const d = new Date(v); // datetime-local: the admin's local time
        if (isNaN(d)) { this._error(t("annBadTime")); return; }
        body[field] = d.toISOString();
      }
    }
    this._busy = true;
    $("ann-send").disabled = true;
    try {
      this._error("");
      await this.session.request("POST", "/api/announcements", body, { "Idempotency-Key": this._key });
      $("ann-form").reset();
      this._key = key();
      await this.load();
    } catch (err) {
      this._error(err.message);
    } finally {
      this._busy = false;
      $("ann-send").disabled = false;
    }
  }

  async withdraw(id) {
    const a = this.list.find((x) => x.id === id);
    if (!a || !confirm(t("annConfirmWithdraw", a.text.slice(0, 80)))) return;
    try {
      this._error("");
      await this.session.request("POST", "/api/announcements/" + encodeURIComponent(id) + "/withdraw");
    } catch (err) {
      if (err.status !== 409) this._error(err.message); // 409: it already ended; the reload shows it
    }
    await this.load();
  }

  show() { this.shown = true; this.load(); }
  hide() { this.shown = false; }

  async load() {
    if (!this.shown) return;
    try {
      const r = await this.session.request("GET", "/api/announcements?limit=100");
      this.list = r.announcements || [];
      this.render();
    } catch (err) { this._error(err.message); }
  }

  render() {
    $("ann-history").replaceChildren(...this.list.map((a) => {
      const tr = el("tr", "ann-row " + (a.status || ""));
      tr.dataset.id = a.id;
      const td = el("td", "ann-t", a.text);
      if (a.link) {
        td.appendChild(document.createElement("br"));
        td.appendChild(el("span", "muted", a.link)); // shown, not linked: an admin reviews it here
      }
      tr.appendChild(td);
      const lv = el("td");
      lv.appendChild(el("span", "lvl " + (a.level || "info"), t("level_" + a.level)));
      tr.appendChild(lv);
      tr.appendChild(el("td", "ann-status", t("annStatus_" + a.status)));
      tr.appendChild(el("td", "", fmt(a.sent_at || a.starts_at)));
      tr.appendChild(el("td", "num ann-delivered", String(a.delivered || 0)));
      tr.appendChild(el("td", "num ann-seen", String(a.seen || 0)));
      const acts = el("td");
      if (a.status === "active" || a.status === "scheduled") {
        const b = el("button", "ghost small", t("annWithdraw"));
        b.type = "button";
        b.dataset.withdraw = a.id;
        acts.appendChild(b);
      }
      tr.appendChild(acts);
      return tr;
    }));
    $("ann-empty").hidden = this.list.length > 0;
  }
}
