// A participant's desk: its loans and receipts; for a funder, the loans awaiting its approval
// (approve = co-sign, or reject with a reason) and its whitelist with history. The API key
// stays in this browser tab (sessionStorage).

import { $, SLOTS, api as call, day, el, keyForm, pct, yuan } from "./common.js";

const STATUS = {
  awaiting_funder: "awaiting the funder · 待资金方审批",
  awaiting_signatures: "awaiting signatures · 待其他方签署",
  queued: "queued · 待上链",
  anchored: "anchored · 已上链",
  rejected: "rejected · 已拒绝",
};
let key = "";
let me = null;
let names = {};
let cursor = null;
const api = (path, options) => call(path, key, options);
const who = (id) => (id === null || id === undefined ? "–" : `${names[id] ?? "?"} (#${id})`);

function download(name, text) {
  const link = el("a", { href: URL.createObjectURL(new Blob([text], { type: "application/json" })), download: name });
  document.body.append(link);
  link.click();
  link.remove();
}

async function receipt(recordId) {
  const body = await api(`/v1/loans/${recordId}/receipt`);
  download(`receipt-${recordId.slice(2, 14)}.json`, JSON.stringify(body, null, 2));
}

function loanRow(loan) {
  const actions = el("td", {});
  if (loan.status === "anchored") {
    const button = el("button", { type: "button", class: "small", "data-receipt": loan.record_id }, "Receipt · 回执");
    button.addEventListener("click", () => receipt(loan.record_id).catch(fail));
    actions.append(button);
  } else if (loan.rejection) {
    actions.append(el("span", { class: "hint" }, `${loan.rejection.code}: ${loan.rejection.reason ?? ""}`));
  }
  return el("tr", { "data-record": loan.record_id, "data-status": loan.status },
    el("td", {}, el("code", {}, loan.record_id.slice(0, 12) + "…")), el("td", {}, STATUS[loan.status] ?? loan.status),
    el("td", {}, who(loan.funder_id)), el("td", {}, who(loan.platform_id)), el("td", {}, yuan(loan.principal)),
    el("td", {}, pct(loan.apr_bps)), el("td", {}, day(loan.issued_at)), actions);
}

async function loadLoans(next = false) {
  const q = new URLSearchParams({ limit: "50" });
  if (next && cursor) q.set("cursor", cursor);
  const page = await api(`/v1/loans?${q}`);
  cursor = page.next_cursor;
  const body = $("loans").querySelector("tbody");
  const made = page.items.map(loanRow);
  if (next) body.append(...made); else body.replaceChildren(...made);
  $("more").hidden = !cursor;
}

function term(label, value) {
  return [el("dt", {}, label), el("dd", {}, value)];
}

function awaitingCard([loan, view]) {
  const card = el("article", { class: "card", "data-record": loan.record_id });
  const terms = el("dl", {},
    ...term("Record · 记录", loan.record_id),
    ...term("Platform · 平台", who(loan.platform_id)),
    ...term("Principal · 本金", `${yuan(loan.principal)} yuan · 元`),
    ...term("APR (comprehensive cost) · 综合融资成本", pct(loan.apr_bps)),
    ...term("Issued · 发放", day(loan.issued_at)),
    ...term("Guarantor · 增信方", who(loan.guarantor_id)),
    ...term("Co-funder · 联合出资方", who(loan.co_funder_id)),
    ...term("Legacy stock · 存量", loan.legacy ? "yes · 是" : "no · 否"),
  );
  const reason = el("input", { type: "text", class: "reason", placeholder: "reason for a rejection · 拒绝理由" });
  const approve = el("button", { type: "button", class: "approve" }, "Approve · 批准");
  const reject = el("button", { type: "button", class: "reject" }, "Reject · 拒绝");
  const outcome = el("p", { class: "outcome" });
  approve.addEventListener("click", async () => {
    try {
      const out = await api(`/v1/loans/${loan.record_id}/confirm`, { method: "POST" });
      outcome.textContent = `${STATUS[out.status] ?? out.status}`;
      card.dataset.outcome = out.status;
      await loadLoans();
    } catch (error) { outcome.textContent = error.message; card.dataset.outcome = "error"; }
  });
  reject.addEventListener("click", async () => {
    if (!reason.value.trim()) { outcome.textContent = "A rejection needs a reason · 拒绝须填写理由"; return; }
    try {
      const out = await api(`/v1/loans/${loan.record_id}/reject`, {
        method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ reason: reason.value.trim() }),
      });
      outcome.textContent = `${STATUS[out.status] ?? out.status}`;
      card.dataset.outcome = out.status;
      await loadLoans();
    } catch (error) { outcome.textContent = error.message; card.dataset.outcome = "error"; }
  });
  card.append(terms, disclosureTable(view.disclosure), el("div", { class: "row" }, approve, reason, reject), outcome);
  return card;
}

async function loadAwaiting() {
  const page = await api("/v1/loans?status=awaiting_funder&limit=50");
  const loans = page.items.filter((loan) => loan.funder_id === me.id);
  const mine = await Promise.all(loans.map(async (loan) => [loan, await api(`/v1/loans/${loan.record_id}/signing`)]));
  $("awaiting").replaceChildren(...(mine.length ? mine.map(awaitingCard) : [el("p", { class: "hint" }, "Nothing awaits you · 暂无待办")]));
}

// ethers is loaded only when a page signs with an own key (a 400 KB bundle, from this origin)
const ethers = () => import("/static/vendor/ethers.js");

function typedParts(typedData) {
  const { EIP712Domain, ...types } = typedData.types;  // ethers derives the domain type itself
  return [typedData.domain, types, typedData.message];
}

async function signWithKeystore(file, password, typedData) {
  const { Wallet } = await ethers();
  const wallet = await Wallet.fromEncryptedJson(await file.text(), password);
  return wallet.signTypedData(...typedParts(typedData));
}

async function signWithBrowserWallet(typedData) {
  const { BrowserProvider } = await ethers();
  const signer = await new BrowserProvider(window.ethereum).getSigner();
  return signer.signTypedData(...typedParts(typedData));
}

function disclosureTable(form) {
  if (!form) return el("p", { class: "hint" }, "no disclosure form · 无明示表");
  const rows = [];
  for (const [name, value] of Object.entries(form)) {
    if (Array.isArray(value)) {
      const items = value.map((item) => (typeof item === "object" ? Object.entries(item).map(([k, v]) => `${k}: ${v}`).join(", ") : String(item)));
      rows.push(el("tr", {}, el("th", {}, name), el("td", {}, el("ul", {}, ...items.map((t) => el("li", {}, t))))));
    } else if (value && typeof value === "object") {
      rows.push(el("tr", {}, el("th", {}, name), el("td", {}, JSON.stringify(value))));
    } else {
      rows.push(el("tr", {}, el("th", {}, name), el("td", {}, String(value))));
    }
  }
  return el("details", { class: "disclosure" }, el("summary", {}, "Fee disclosure form as the borrower saw it · 借款人确认的费用明示表"), el("table", {}, el("tbody", {}, ...rows)));
}

function recordTerms(record) {
  return el("dl", {}, ...Object.entries(record).flatMap(([name, value]) => [el("dt", {}, name), el("dd", {}, String(value))]));
}

function toSignCard(view) {
  const mine = view.missing.filter((slot) => view.your_slots.includes(slot.slot));
  const card = el("article", { class: "card", "data-record": view.record_id });
  const outcome = el("p", { class: "outcome" });
  const done = (out) => {
    outcome.textContent = `${STATUS[out.status] ?? out.status}`;
    card.dataset.outcome = out.status;
    return loadLoans();
  };
  const send = (signature) => api(`/v1/loans/${view.record_id}/sign`, {
    method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify(signature ? { signature } : {}),
  }).then(done);
  const report = (error) => { outcome.textContent = error.message; card.dataset.outcome = "error"; };
  card.append(
    el("p", {}, el("strong", {}, mine.map((s) => (SLOTS[s.slot] || [s.slot])[0] + " · " + (SLOTS[s.slot] || ["", s.slot])[1]).join(", ")),
      ` — waiting for · 尚缺: ${view.missing.map((s) => `${(SLOTS[s.slot] || [s.slot])[0]} #${s.participant_id}`).join(", ")}`),
    recordTerms(view.record), disclosureTable(view.disclosure),
  );
  const actions = el("div", { class: "row" });
  if (mine.some((slot) => slot.custodial)) {
    const button = el("button", { type: "button", class: "approve sign-custodial" }, "Sign (key held by the gateway) · 签署（网关托管密钥）");
    button.addEventListener("click", () => send(null).catch(report));
    actions.append(button);
  } else {
    if (window.ethereum) {
      const wallet = el("button", { type: "button", class: "sign-wallet" }, "Sign with my wallet · 用钱包签署");
      wallet.addEventListener("click", () => signWithBrowserWallet(view.typed_data).then(send).catch(report));
      actions.append(wallet);
    }
    const file = el("input", { type: "file", class: "keystore", accept: ".json,application/json", "aria-label": "keystore file" });
    const password = el("input", { type: "password", class: "password", placeholder: "keystore password · 密钥库密码", autocomplete: "off" });
    const button = el("button", { type: "button", class: "approve sign-keystore" }, "Sign with keystore · 用密钥库签署");
    button.addEventListener("click", () => {
      if (!file.files.length) { outcome.textContent = "Choose your keystore file · 请选择密钥库文件"; return; }
      outcome.textContent = "unlocking the keystore… · 正在解锁密钥库…";
      signWithKeystore(file.files[0], password.value, view.typed_data).then(send).catch(report);
    });
    actions.append(el("label", {}, "Keystore · 密钥库 ", file), password, button);
  }
  card.append(actions, outcome);
  return card;
}

async function loadToSign() {
  const views = [];
  for (const status of ["awaiting_funder", "awaiting_signatures"]) {
    const page = await api(`/v1/loans?status=${status}&limit=50`);
    for (const loan of page.items) views.push(await api(`/v1/loans/${loan.record_id}/signing`));
  }
  const mine = views.filter((v) => v.missing.some((slot) => v.your_slots.includes(slot.slot))
    && !(me.role === "funder" && v.record.funder_id === me.id && v.status === "awaiting_funder"));
  $("to-sign").replaceChildren(...(mine.length ? mine.map(toSignCard) : [el("p", { class: "hint" }, "Nothing awaits your signature · 暂无待签")]));
}

async function loadWhitelist() {
  const lists = (await api("/v1/whitelists")).filter((w) => w.funder_id === me.id);
  $("whitelist").querySelector("tbody").replaceChildren(...lists.map((w) => el("tr", {},
    el("td", {}, who(w.partner_id)), el("td", {}, w.partner_role),
    el("td", {}, w.periods.map((p) => `${day(p.valid_from)} → ${p.valid_until === null ? "now · 至今" : day(p.valid_until)}`).join("; ")))));
}

async function open(given) {
  key = given;
  me = await api("/v1/me");
  names = Object.fromEntries((await api("/v1/participants")).map((p) => [p.id, p.name]));
  $("who").textContent = `${me.name} (#${me.id}) · ${me.role}${me.custodial ? " · the gateway keeps your key · 网关托管密钥" : " · you keep your own key · 自持密钥"}`;
  const funder = me.role === "funder";
  $("awaiting-section").hidden = !funder;
  $("whitelist-section").hidden = !funder;
  await Promise.all([loadLoans(), loadToSign(), funder ? loadAwaiting() : null, funder ? loadWhitelist() : null]);
  $("desk").hidden = false;
}

const fail = keyForm("deskKey", open);
$("more").addEventListener("click", () => loadLoans(true).catch(fail));
