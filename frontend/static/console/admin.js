// Admin page: agents (list, add with a one-time password, disable/enable,
// reset password, max chats) and a live view of the queue and each agent's
// load. The agent list refreshes when queue or conversation frames arrive
// (poke) and every 5 s while the page is shown. The other admin screens
// (departments, business hours, announcements) are modules of their own,
// each with its <section class="panel">.
import { t } from "./i18n.js";
import { Announcements } from "./announcements.js";
import { Hours } from "./hours.js";
import { Departments } from "./departments.js";

const $ = (id) => document.getElementById(id);
const el = (tag, cls, text) => {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text != null) e.textContent = text;
  return e;
};

export class Admin {
  constructor(session) {
    this.session = session;
    this.agents = [];
    this.shown = false;
    this._timer = 0;
    this._poked = 0;
    this.announcements = new Announcements(session);
    this.hours = new Hours(session);
    this.departments = new Departments(session, () => this.hours.load()); // the hours' menu names departments
    document.addEventListener("DOMContentLoaded", () => this._wire());
    if (document.readyState !== "loading") this._wire();
  }

  _wire() {
    if (this._wired) return;
    this._wired = true;
    $("add-agent").addEventListener("submit", async (e) => {
      e.preventDefault();
      const name = $("add-name").value.trim();
      try {
        const r = await this.session.request("POST", "/api/agents", {
          email: $("add-email").value.trim(), name, role: $("add-role").value, max_chats: Number($("add-max").value) || 0,
        });
        $("add-agent").reset();
        this._oneTime(r.agent.name + " <" + r.agent.email + ">", r.password);
        await this.load();
      } catch (err) { this._error(err); }
    });
    $("one-time-done").addEventListener("click", () => {
      $("one-time").hidden = true;
      $("one-time-password").textContent = "";
    });
    $("agents").addEventListener("click", (e) => this._action(e));
  }

  _oneTime(who, password) {
    $("one-time-who").textContent = who;
    $("one-time-password").textContent = password;
    $("one-time").hidden = false;
  }

  _error(err) {
    $("admin-error").textContent = err ? err.message : "";
    $("admin-error").hidden = !err;
  }

  async _action(e) {
    const b = e.target.closest("button[data-act]");
    if (!b) return;
    const a = this.agents.find((x) => x.id === b.dataset.id);
    if (!a) return;
    const path = "/api/agents/" + encodeURIComponent(a.id);
    try {
      this._error(null);
      if (b.dataset.act === "toggle") {
        if (!a.disabled && !confirm(t("confirmDisable", a.name))) return;
        await this.session.request("PATCH", path, { disabled: !a.disabled });
      } else if (b.dataset.act === "reset") {
        if (!confirm(t("confirmReset", a.name))) return;
        const r = await this.session.request("POST", path + "/reset-password");
        this._oneTime(a.name + " <" + a.email + ">", r.password);
      } else if (b.dataset.act === "max") {
        const input = b.parentElement.querySelector("input");
        await this.session.request("PATCH", path, { max_chats: Number(input.value) || 0 });
      }
      await this.load();
    } catch (err) { this._error(err); }
  }

  show() {
    this.shown = true;
    this.announcements.show();
    this.hours.show();
    this.departments.show();
    this.load();
    clearInterval(this._timer);
    this._timer = setInterval(() => this.load(), 5000);
  }

  hide() {
    this.shown = false;
    this.announcements.hide();
    this.hours.hide();
    this.departments.hide();
    clearInterval(this._timer);
  }

  /** poke reloads the agents soon: a queue or conversation frame changed someone's load. */
  poke() {
    if (!this.shown || this._poked) return;
    this._poked = setTimeout(() => { this._poked = 0; this.load(); }, 300);
  }

  async load() {
    if (!this.shown) return;
    this.announcements.load(); // delivered/seen counts move while the page is shown
    try {
      const r = await this.session.request("GET", "/api/agents");
      this.agents = r.agents || [];
      this.departments.setAgents(this.agents);
      this.render();
    } catch (err) { this._error(err); }
  }

  render() {
    const me = this.session.agent || {};
    const rows = this.agents.map((a) => {
      const tr = el("tr", a.disabled ? "off" : "");
      tr.dataset.id = a.id;
      const name = el("td");
      name.appendChild(el("span", "", a.name));
      if (a.disabled) name.appendChild(el("span", "tag", t("disabled")));
      tr.appendChild(name);
      tr.appendChild(el("td", "muted", a.email));
      tr.appendChild(el("td", "", a.role === "admin" ? t("roleAdmin") : t("roleAgent")));
      tr.appendChild(el("td", "", a.open_chats + " / " + (a.max_chats || t("defaultCap"))));
      const max = el("td", "max");
      const input = el("input");
      input.type = "number";
      input.min = "0";
      input.max = "100";
      input.value = String(a.max_chats || 0);
      input.setAttribute("aria-label", t("maxChats") + " — " + a.name);
      const set = el("button", "ghost small", t("setMax"));
      set.type = "button";
      set.dataset.act = "max";
      set.dataset.id = a.id;
      max.append(input, set);
      tr.appendChild(max);
      const acts = el("td", "acts");
      if (a.id !== me.id) {
        const tog = el("button", "ghost small", a.disabled ? t("enable") : t("disable"));
        tog.type = "button";
        tog.dataset.act = "toggle";
        tog.dataset.id = a.id;
        const reset = el("button", "ghost small", t("resetPassword"));
        reset.type = "button";
        reset.dataset.act = "reset";
        reset.dataset.id = a.id;
        acts.append(tog, reset);
      }
      tr.appendChild(acts);
      return tr;
    });
    // Keep a number the admin is typing: only replace rows whose input is not focused.
    const f = document.activeElement;
    const typing = f && f.tagName === "INPUT" && f.closest("#agents");
    if (!typing) $("agents").replaceChildren(...rows);

    $("load").replaceChildren(...this.agents.filter((a) => !a.disabled).map((a) => {
      const li = el("li");
      const cap = a.max_chats || 5;
      li.appendChild(el("span", "who", a.name));
      const bar = el("span", "bar");
      const fill = el("span", "fill");
      fill.style.width = Math.min(100, Math.round((a.open_chats / cap) * 100)) + "%"; // CSSOM, allowed by CSP
      bar.appendChild(fill);
      li.appendChild(bar);
      li.appendChild(el("span", "num", a.open_chats + " / " + (a.max_chats || t("defaultCap"))));
      return li;
    }));
  }

  renderQueue(queue) {
    const ul = $("admin-queue");
    if (!ul) return;
    ul.replaceChildren(...queue.map((v) => {
      const li = el("li", "queue-item");
      const vis = v.visitor || {};
      li.appendChild(el("span", "ci-name", vis.name || (t("anonymous") + " · " + String(vis.id || v.id).slice(0, 6))));
      li.appendChild(el("span", "ci-last", vis.page_title || vis.page_url || ""));
      return li;
    }));
    $("admin-queue-empty").hidden = queue.length > 0;
    $("admin-queue-count").textContent = queue.length ? String(queue.length) : "";
  }
}
