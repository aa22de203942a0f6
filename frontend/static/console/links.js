// Fresh links to files. A file's link is signed and works only until its
// exp (KEFU_ATTACHMENT_LINK_TTL, 15 minutes by default, docs/api.md), but a
// console stays open for hours: an image first shown after its link expired
// would not load, and a download clicked late would fail. FileLinks keeps
// the freshest link of each attachment and asks the server for a new one
// (GET /files/{id}/link) when an image fails to load or an expired download
// is clicked.
//
// It never loops: a link is refreshed at most once because it failed, and
// a link the server just gave that fails before its own expiry is a real
// failure (the file is gone, the server is down), shown as a broken image,
// not retried. The widget has the same logic inline (widget.js).

/** linkExpiry returns when a signed link expires (ms since the epoch), or 0. */
export function linkExpiry(url) {
  try {
    const e = Number(new URL(url, location.href).searchParams.get("exp"));
    return e > 0 ? e * 1000 : 0;
  } catch (e) {
    return 0;
  }
}

const norm = (url) => {
  try { return new URL(url, location.href).href; } catch (e) { return ""; }
};

export class FileLinks {
  /**
   * fetchLink(id) resolves to {url, expires_at} from GET /files/{id}/link;
   * onChange is called when a fresh link arrived, to render again.
   */
  constructor(fetchLink, onChange) {
    this.fetchLink = fetchLink;
    this.onChange = onChange;
    this.fresh = new Map(); // attachment id → the newest link the server gave
    this.given = new Set(); // links that came from fetchLink
    this.tried = new Set(); // links already refreshed because they failed
    this.busy = new Map(); // attachment id → the request in flight
  }

  /** url is the link to use for attachment a: the later-expiring of its own and a fetched one. */
  url(a) {
    const f = this.fresh.get(a.id);
    return f && linkExpiry(f) > linkExpiry(a.url) ? f : norm(a.url);
  }

  /** expired reports whether a link's exp has passed by this page's clock. */
  expired(url) {
    const e = linkExpiry(url);
    return e > 0 && e <= Date.now();
  }

  /**
   * refresh asks for a new link for attachment a because failed did not
   * work (or is expired). It resolves to the new link, or "" when no new
   * one is asked for or the server refused.
   */
  refresh(a, failed) {
    failed = norm(failed);
    if (this.busy.has(a.id)) return this.busy.get(a.id);
    if (this.tried.has(failed) || (this.given.has(failed) && !this.expired(failed))) return Promise.resolve("");
    this.tried.add(failed);
    const p = Promise.resolve()
      .then(() => this.fetchLink(a.id))
      .then((r) => {
        const u = r && typeof r.url === "string" ? norm(r.url) : "";
        if (!u) return "";
        this.given.add(u);
        this.fresh.set(a.id, u);
        this.onChange();
        return u;
      })
      .catch(() => "")
      .finally(() => this.busy.delete(a.id));
    this.busy.set(a.id, p);
    return p;
  }

  /**
   * attach wires a rendered attachment: img (or null) refreshes its link on
   * a load error; link opens a fresh link when clicked after expiry.
   */
  attach(a, link, img) {
    if (img) img.addEventListener("error", () => { this.refresh(a, img.src); });
    link.addEventListener("click", (e) => {
      const u = this.url(a);
      if (!this.expired(u)) return;
      e.preventDefault();
      // Still within the click's user activation: the new tab may open.
      this.refresh(a, u).then((fresh) => { if (fresh) window.open(fresh, "_blank", "noopener,noreferrer"); });
    });
  }
}
