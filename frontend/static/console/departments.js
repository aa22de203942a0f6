// Admin page: departments (docs/routing.md, "Departments and strategies").
// A list with each department's strategy, members and fallback, and one
// form that creates a department or, after "Edit", changes one (name,
// strategy, fallback, members ticked from the agents); "Delete" asks first.
// Names are typed by admins: every one goes in with textContent.
import { t } from "./i18n.js";

const $ = (id) => document.getElementById(id);
const el = (tag, cls, text) => {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text != null) e.textContent = text;
  return e;
};

export const STRATEGIES = ["least-busy", "round-robin", "manual"];

export class Departments {
  /** onChange is called after a department is created, changed or deleted. */
  constructor(session, onChange) {
    this.session = session;
    this.onChange = onChange || (() => {});
    this.list = [];
    this.agents = []; // from the admin's agent list: {id, name, disabled}
    this.editing = ""; // the id of the department in the form; "" creates
    this.shown = false;
    this._busy = false;
    this._agentsKey = "";
    if (document.readyState !== "loading") this._wire();
    else document.addEventListener("DOMContentLoaded", () => this._wire());
  }

  _wire() {
    if (this._wired || !$("dept-form")) return;
    this._wired = true;
    $("dept-strategy").replaceChildren(...STRATEGIES.map((s) => {
      const o = el("option", "", t("strategy_" + s));
      o.value = s;
      return o;
    }));
    $("dept-form").addEventListener("submit", (e) => { e.preventDefault(); this.save(); });
    $("dept-cancel").addEventListener("click", () => this.edit(""));
    $("depts").addEventListener("click", (e) => {
      const b = e.target.closest("button[data-act]");
      if (!b) return;
      if (b.dataset.act === "edit") this.edit(b.dataset.id);
      else if (b.dataset.act === "delete") this.remove(b.dataset.id);
    });
    this.edit("");
  }

  _error(msg) {
    $("dept-error").textContent = msg || "";
    $("dept-error").hidden = !msg;
  }

  show() { this.shown = true; this.load(); }
  hide() { this.shown = false; }

  /** setAgents gives the agents members are picked from; the form's ticks survive a refresh. */
  setAgents(agents) {
    this.agents = agents.filter((a) => !a.disabled || this._members().includes(a.id));
    const key = this.agents.map((a) => a.id + ":" + a.name).join(",");
    if (key !== this._agentsKey) {
      this._agentsKey = key;
      this._renderMembers(this._members());
    }
    this.render();
  }

  async load() {
    if (!this.shown) return;
    try {
      const r = await this.session.request("GET", "/api/departments");
      this.list = r.departments || [];
      if (this.editing && !this.list.some((d) => d.id === this.editing)) this.edit("");
      this.render();
    } catch (err) { this._error(err.message); }
  }

  _members() {
    return [...document.querySelectorAll("#dept-members input:checked")].map((i) => i.value);
  }

  _renderMembers(checked) {
    const box = $("dept-members");
    const legend = el("legend", "", t("members"));
    const items = this.agents.map((a) => {
      const label = el("label", "dept-member");
      const box = el("input");
      box.type = "checkbox";
      box.value = a.id;
      box.checked = checked.includes(a.id);
      label.append(box, el("span", "", a.name));
      return label;
    });
    box.replaceChildren(legend, ...items);
    if (!items.length) box.appendChild(el("p", "empty", t("deptNoAgents")));
  }

  /** edit puts the department with id in the form, or empties it to create one. */
  edit(id) {
    const d = this.list.find((x) => x.id === id);
    this.editing = d ? d.id : "";
    $("dept-name").value = d ? d.name : "";
    $("dept-strategy").value = d ? d.strategy : "least-busy";
    $("dept-fallback").value = String(d ? d.fallback_seconds : 0);
    this._renderMembers(d ? d.members : []);
    $("dept-form-title").textContent = d ? t("deptEdit", d.name) : t("deptAdd");
    $("dept-save").textContent = d ? t("save") : t("deptCreate");
    $("dept-cancel").hidden = !d;
    this._error("");
    if (d) $("dept-name").focus();
  }

  async save() {
    if (this._busy) return;
    const fallback = Number($("dept-fallback").value);
    if (!Number.isInteger(fallback) || fallback < 0) { this._error(t("deptBadFallback")); return; }
    const body = { name: $("dept-name").value.trim(), strategy: $("dept-strategy").value, fallback_seconds: fallback, members: this._members() };
    if (!body.name) { this._error(t("deptNeedName")); return; }
    this._busy = true;
    $("dept-save").disabled = true;
    try {
      this._error("");
      if (this.editing) await this.session.request("PATCH", "/api/departments/" + encodeURIComponent(this.editing), body);
      else await this.session.request("POST", "/api/departments", body);
      this.edit("");
      await this.load();
      this.onChange();
    } catch (err) {
      this._error(err.message);
    } finally {
      this._busy = false;
      $("dept-save").disabled = false;
    }
  }

  async remove(id) {
    const d = this.list.find((x) => x.id === id);
    if (!d || !confirm(t("deptConfirmDelete", d.name))) return;
    try {
      this._error("");
      await this.session.request("DELETE", "/api/departments/" + encodeURIComponent(id));
    } catch (err) {
      if (err.status !== 404) this._error(err.message); // 404: already gone; the reload shows it
    }
    if (this.editing === id) this.edit("");
    await this.load();
    this.onChange();
  }

  _fallback(secs) {
    if (!secs) return t("deptNever");
    return secs % 60 === 0 ? t("deptAfterMinutes", secs / 60) : t("deptAfterSeconds", secs);
  }

  render() {
    const names = new Map(this.agents.map((a) => [a.id, a.name]));
    $("depts").replaceChildren(...this.list.map((d) => {
      const tr = el("tr");
      tr.dataset.id = d.id;
      tr.appendChild(el("td", "dept-name", d.name));
      tr.appendChild(el("td", "", t("strategy_" + d.strategy)));
      const members = (d.members || []).map((id) => names.get(id) || t("anotherAgent"));
      tr.appendChild(el("td", "dept-members-list", members.length ? members.join(", ") : t("deptNoMembers")));
      tr.appendChild(el("td", "", this._fallback(d.fallback_seconds)));
      const acts = el("td", "acts");
      for (const [act, label] of [["edit", t("deptEditButton")], ["delete", t("deptDelete")]]) {
        const b = el("button", "ghost small", label);
        b.type = "button";
        b.dataset.act = act;
        b.dataset.id = d.id;
        acts.appendChild(b);
      }
      tr.appendChild(acts);
      return tr;
    }));
    $("depts-empty").hidden = this.list.length > 0;
  }
}
