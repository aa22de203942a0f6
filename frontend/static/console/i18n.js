// Console strings: one file per language under i18n/, chosen by ?lang= or
// the browser's language. Elements with data-i18n get their text from here.
import en from "./i18n/en.js";
import zh from "./i18n/zh-CN.js";

const wanted = new URLSearchParams(location.search).get("lang") || navigator.language || "en";
export const lang = /^zh/i.test(wanted) ? "zh-CN" : "en";
const strings = lang === "zh-CN" ? zh : en;

/** t returns the string for key; functions get args (counts, names). */
export function t(key, ...args) {
  const s = strings[key] ?? en[key] ?? key;
  return typeof s === "function" ? s(...args) : s;
}

/** applyI18n fills every [data-i18n] element under root. */
export function applyI18n(root = document) {
  document.documentElement.lang = lang;
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
}
