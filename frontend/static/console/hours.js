// Admin page: business hours (docs/routing.md, "Nobody available"). One
// form edits the shop's weekly hours, or a department's override, chosen in
// the "Hours of" menu: a time zone, one line of spans per weekday
// ("09:00-12:00, 13:00-18:00"; empty is closed) and closed dates. Saving is
// PUT, removing DELETE (the shop is then always open; a department follows
// the shop's hours again). The server checks everything again and its
// refusal is shown as it words it.
import { t } from "./i18n.js";

const $ = (id) => document.getElementById(id);
const el = (tag, cls, text) => {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text != null) e.textContent = text;
  return e;
};

export const DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

const pad = (s) => (s.length === 1 ? "0" + s : s);

/** parseSpans reads "09:00-12:00, 13:00-18:00" into spans of day; it throws the part it cannot read. */
export function parseSpans(day, text) {
  const out = [];
  for (const part of text.split(/[,;，；]/)) {
    const p = part.trim();
    if (!p) continue;
    const m = /^(\d{1,2}):(\d{2})\s*[-–~至到]\s*(\d{1,2}):(\d{2})$/.exec(p);
    if (!m) throw p;
    out.push({ day, open: pad(m[1]) + ":" + m[2], close: pad(m[3]) + ":" + m[4] });
  }
  return out;
}

const fmt = (iso) => {
  const d = iso ? new Date(iso) : null;
  return d && !isNaN(d) ? d.toLocaleString(undefined, { weekday: "short", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" }) : "";
};

export class Hours {
  constructor(session) {
    this.session = session;
    this.shown = false;
    this.shop = null; // the shop's schedule, or null
    this.overrides = new Map(); // department id → schedule
    this.depts = [];
    this.scope = ""; // "" is the shop
    this._busy = false;
    if (document.readyState !== "loading") this._wire();
    else document.addEventListener("DOMContentLoaded", () => this._wire());
  }

  _wire() {
    if (this._wired || !$("hours-form")) return;
    this._wired = true;
    const days = $("hours-days");
    days.replaceChildren(...DAYS.map((d) => {
      const label = el("label", "hours-day");
      label.appendChild(el("span", "", t("day_" + d)));
      const input = el("input");
      input.id = "hours-" + d;
      input.placeholder = t("hoursSpanPlaceholder");
      input.autocomplete = "off";
      label.appendChild(input);
      return label;
    }));
    if (Intl.supportedValuesOf) {
      try {
        $("hours-zones").replaceChildren(...Intl.supportedValuesOf("timeZone").map((z) => { const o = el("option"); o.value = z; return o; }));
      } catch (e) { /* no list: the admin types the zone */ }
    }
    $("hours-scope").addEventListener("change", () => { this.scope = $("hours-scope").value; this._error(""); this.fill(); });
    $("hours-form").addEventListener("submit", (e) => { e.preventDefault(); this.save(); });
    $("hours-remove").addEventListener("click", () => this.remove());
  }

  _error(msg) {
    $("hours-error").textContent = msg || "";
    $("hours-error").hidden = !msg;
  }

  _path() {
    return this.scope ? "/api/departments/" + encodeURIComponent(this.scope) + "/hours" : "/api/business-hours";
  }

  show() { this.shown = true; this.load(); }
  hide() { this.shown = false; }

  async load() {
    if (!this.shown) return;
    try {
      const [h, d] = await Promise.all([
        this.session.request("GET", "/api/business-hours"),
        this.session.request("GET", "/api/departments"),
      ]);
      this.shop = h.shop || null;
      this.overrides = new Map((h.departments || []).map((x) => [x.department_id, x]));
      this.depts = d.departments || [];
      if (this.scope && !this.depts.some((x) => x.id === this.scope)) this.scope = "";
      this.renderScopes();
      this.fill();
    } catch (err) { this._error(err.message); }
  }

  renderScopes() {
    const sel = $("hours-scope");
    const shop = el("option", "", t("hoursShop"));
    shop.value = "";
    sel.replaceChildren(shop, ...this.depts.map((d) => {
      const o = el("option", "", t("hoursDept", d.name)); // a name an admin typed: text only
      o.value = d.id;
      return o;
    }));
    sel.value = this.scope;
  }

  /** fill puts the chosen scope's schedule in the form. */
  fill() {
    const h = this.scope ? this.overrides.get(this.scope) : this.shop;
    $("hours-zone").value = h ? h.time_zone : (Intl.DateTimeFormat().resolvedOptions().timeZone || "");
    for (const d of DAYS) {
      const spans = h ? (h.weekly || []).filter((s) => s.day === d) : [];
      $("hours-" + d).value = spans.map((s) => s.open + "-" + s.close).join(", ");
    }
    $("hours-closed").value = h ? (h.closed_dates || []).join("\n") : "";
    let state;
    if (!h) state = this.scope ? t("hoursFollowShop") : t("hoursNone");
    else if (h.open_now) state = t("hoursOpenNow");
    else state = h.opens_at ? t("hoursClosedUntil", fmt(h.opens_at)) : t("hoursClosedNow");
    $("hours-state").textContent = state;
    $("hours-remove").hidden = !h;
  }

  async save() {
    if (this._busy) return;
    const body = { time_zone: $("hours-zone").value.trim(), weekly: [], closed_dates: [] };
    for (const d of DAYS) {
      try {
        body.weekly.push(...parseSpans(d, $("hours-" + d).value));
      } catch (part) {
        this._error(t("hoursBadSpan", t("day_" + d), String(part)));
        return;
      }
    }
    body.closed_dates = $("hours-closed").value.split(/[\s,，]+/).filter(Boolean);
    this._busy = true;
    $("hours-save").disabled = true;
    try {
      this._error("");
      await this.session.request("PUT", this._path(), body);
      await this.load();
    } catch (err) {
      this._error(err.message);
    } finally {
      this._busy = false;
      $("hours-save").disabled = false;
    }
  }

  async remove() {
    if (!confirm(this.scope ? t("hoursConfirmRemoveDept") : t("hoursConfirmRemove"))) return;
    try {
      this._error("");
      await this.session.request("DELETE", this._path());
    } catch (err) {
      if (err.status !== 404) this._error(err.message); // 404: already gone; the reload shows it
    }
    await this.load();
  }
}
