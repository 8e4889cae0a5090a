// Shared by the pages: DOM helpers and the formats every page shows figures in.

export const $ = (id) => document.getElementById(id);

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  for (const child of children) {
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export const bilingual = (en, zh) => el("span", {}, en, " ", el("span", { class: "zh" }, zh));
export const pct = (bps) => (bps === null || bps === undefined ? "–" : `${(bps / 100).toFixed(2)}%`);
export const yuan = (fen) => (fen / 100).toLocaleString("zh-CN", { minimumFractionDigits: 2 });
export const day = (seconds) => new Date((seconds + 8 * 3600) * 1000).toISOString().slice(0, 10);

export const SLOTS = {
  platform: ["Platform", "助贷平台"],
  funder: ["Funder", "资金方"],
  guarantor: ["Guarantor", "增信方"],
  co_funder: ["Co-funder", "联合出资方"],
};

// A call to the gateway's API with a bearer key; a refusal becomes an Error "CODE: message".
export async function api(path, key, options = {}) {
  const headers = { ...(options.headers || {}) };
  if (key) headers.Authorization = `Bearer ${key}`;
  const response = await fetch(path, { ...options, headers });
  const body = await response.json();
  if (!response.ok) throw new Error(`${body.error.code}: ${body.error.message}`);
  return body;
}

// The key form every private page starts with: the key is kept for this browser tab only
// (sessionStorage under `storageKey`); `open(key)` loads the page; a refusal shows in
// #login-error. Returns `fail`, for the page's other actions.
export function keyForm(storageKey, open) {
  const fail = (error) => {
    $("login-error").hidden = false;
    $("login-error").textContent = error.message;
    document.body.dataset.ready = "error";
  };
  const start = (key) => open(key).then(() => {
    $("login-error").hidden = true;
    document.body.dataset.ready = "true";
  }).catch(fail);
  $("login").addEventListener("submit", (event) => {
    event.preventDefault();
    const key = $("key").value.trim();
    sessionStorage.setItem(storageKey, key);
    start(key);
  });
  const saved = sessionStorage.getItem(storageKey);
  if (saved) start(saved);
  return fail;
}
