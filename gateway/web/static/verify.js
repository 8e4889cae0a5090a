// The verify page: the agreement is hashed here (WebCrypto SHA-256) and never sent; the receipt
// and the digest go to POST /v1/verify, which checks them against this gateway's deployment.

import { $, SLOTS, bilingual, el } from "./common.js";

let explanations = {};
let chosen = { document: null, receipt: null };

function definitions(target, rows) {
  target.replaceChildren();
  for (const [term, value, cls] of rows) {
    target.append(el("dt", {}, term), el("dd", cls ? { class: cls } : {}, value));
  }
}

function timeText(seconds) {
  const at = new Date(seconds * 1000);
  const beijing = new Date(at.getTime() + 8 * 3600 * 1000).toISOString().replace("T", " ").slice(0, 19);
  return `${at.toISOString().replace(".000", "")} · 北京时间 ${beijing}`;
}

async function sha256Hex(file) {
  if (!globalThis.crypto || !crypto.subtle) {
    throw new Error("This browser cannot hash files here (WebCrypto needs https or localhost). 此页面需通过 https 或本机地址打开才能计算指纹。");
  }
  const digest = await crypto.subtle.digest("SHA-256", await file.arrayBuffer());
  return "0x" + Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

async function loadReceipt() {
  if (chosen.receipt) {
    const text = await chosen.receipt.text();
    try {
      return JSON.parse(text);
    } catch {
      throw new Error("The receipt file is not JSON. 回执文件不是 JSON。");
    }
  }
  const recordId = $("record-id").value.trim();
  if (!recordId) throw new Error("Choose a receipt file or give a record id. 请选择回执文件或填写记录标识。");
  const key = $("api-key").value.trim();
  const response = await fetch(`/v1/loans/${encodeURIComponent(recordId)}/receipt`, {
    headers: key ? { Authorization: `Bearer ${key}` } : {},
  });
  const body = await response.json();
  if (!response.ok) throw new Error(`${body.error.code}: ${body.error.message}`);
  return body;
}

function showError(message) {
  $("result").hidden = false;
  const verdict = $("verdict");
  verdict.className = "verdict bad";
  verdict.replaceChildren(el("strong", {}, "Cannot verify · 无法核验"), el("p", {}, message));
  for (const id of ["checks", "signers"]) $(id).querySelector("tbody").replaceChildren();
  $("anchoring").replaceChildren();
  $("fingerprints").replaceChildren();
}

function render(report, receipt, fileDigest) {
  $("result").hidden = false;
  const verdict = $("verdict");
  const failed = report.checks.filter((c) => c.status === "fail");
  if (report.ok) {
    verdict.className = "verdict good";
    verdict.replaceChildren(
      el("strong", {}, "Verified · 核验通过"),
      el("p", {}, fileDigest
        ? "The file and its receipt match what was signed and anchored on chain. 文件及回执与已签署并上链的内容一致。"
        : "The receipt matches what was signed and anchored on chain (no file was given). 回执与已签署并上链的内容一致（未提供文件）。"),
    );
  } else {
    verdict.className = "verdict bad";
    const names = failed.map((c) => c.name).join(", ");
    verdict.replaceChildren(
      el("strong", {}, "Does not verify · 核验未通过"),
      el("p", {}, `Failed: ${names}. 未通过：${names}。`),
    );
  }
  const rows = report.checks.map((check) => {
    const words = explanations[check.name] || { en: "", zh: "" };
    const mark = { pass: "✓", fail: "✗", skip: "–" }[check.status];
    return el("tr", { class: check.status, "data-check": check.name },
      el("td", { class: "mark" }, mark),
      el("td", {}, el("code", {}, check.name)),
      el("td", {}, words.en, el("br"), el("span", { class: "zh" }, words.zh)),
      el("td", {}, check.detail, check.code ? el("div", { class: "code" }, check.code) : ""),
    );
  });
  $("checks").querySelector("tbody").replaceChildren(...rows);
  const signers = (report.signers || []).map((s) => {
    const [en, zh] = SLOTS[s.slot] || [s.slot, s.slot];
    return el("tr", {}, el("td", {}, bilingual(en, zh)), el("td", {}, s.name ?? "(unknown · 未知)"),
      el("td", {}, s.participant_id), el("td", {}, el("code", {}, s.signer)));
  });
  $("signers").querySelector("tbody").replaceChildren(...signers);
  const anchor = receipt.anchor || {};
  const anchorCheck = report.checks.find((c) => c.name === "anchor");
  const statusCheck = report.checks.find((c) => c.name === "status");
  const rowsAnchor = [
    [bilingual("Mode", "方式"), anchor.mode === "batch" ? "batch (Merkle root) · 批量（默克尔根）" : "by itself · 单笔"],
    [bilingual("Chain id", "链 ID"), anchor.chain_id],
    [bilingual("Block", "区块"), anchor.block_number],
    [bilingual("Time", "时间"), anchor.block_time !== undefined ? timeText(anchor.block_time) : ""],
    [bilingual("Transaction", "交易"), anchor.transaction_hash],
  ];
  if (anchor.root) rowsAnchor.push([bilingual("Batch root", "批次根"), `${anchor.root} (${anchor.batch_size} records · 笔)`]);
  rowsAnchor.push([bilingual("On chain", "链上核对"), anchorCheck ? `${anchorCheck.status}: ${anchorCheck.detail}` : "", anchorCheck?.status]);
  rowsAnchor.push([bilingual("Revoked or amended", "撤销或更正"), statusCheck ? `${statusCheck.status}: ${statusCheck.detail}` : "", statusCheck?.status]);
  definitions($("anchoring"), rowsAnchor);
  const inReceipt = receipt.document?.sha256 || "";
  const prints = [[bilingual("In the receipt", "回执记载"), inReceipt]];
  if (fileDigest) {
    const same = fileDigest.toLowerCase() === inReceipt.toLowerCase();
    prints.push([bilingual("Of your file (computed here)", "您的文件（本地计算）"), fileDigest, same ? "pass" : "fail"]);
    prints.push([bilingual("Match", "是否一致"), same ? "yes · 一致" : "NO: the file is not the signed agreement · 不一致：该文件不是已签署的协议", same ? "pass" : "fail"]);
  }
  definitions($("fingerprints"), prints);
}

async function verify() {
  const button = $("verify");
  button.disabled = true;
  try {
    const receipt = await loadReceipt();
    const fileDigest = chosen.document ? await sha256Hex(chosen.document) : null;
    const body = { receipt };
    if (fileDigest) body.document_sha256 = fileDigest;
    const response = await fetch("/v1/verify", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    const out = await response.json();
    if (!response.ok) throw new Error(`${out.error.code}: ${out.error.message}`);
    render(out, receipt, fileDigest);
  } catch (error) {
    showError(error.message);
  } finally {
    button.disabled = false;
  }
}

function choose(kind, file) {
  chosen[kind] = file;
  $(`${kind}-name`).textContent = file ? `${file.name} · ${file.size.toLocaleString()} bytes` : "";
}

function dropZone(zoneId, inputId, kind) {
  const zone = $(zoneId);
  $(inputId).addEventListener("change", (event) => choose(kind, event.target.files[0] || null));
  zone.addEventListener("dragover", (event) => { event.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("over");
    if (event.dataTransfer.files.length) choose(kind, event.dataTransfer.files[0]);
  });
}

async function start() {
  dropZone("drop-document", "document-file", "document");
  dropZone("drop-receipt", "receipt-file", "receipt");
  $("verify").addEventListener("click", verify);
  const [deployment, checks] = await Promise.all([
    fetch("/v1/deployment").then((r) => r.json()),
    fetch("/v1/verify/checks").then((r) => r.json()),
  ]);
  explanations = Object.fromEntries(checks.map((c) => [c.name, c]));
  const t = deployment.trust_root;
  definitions($("trust-root"), [
    [bilingual("Chain id", "链 ID"), t.chain_id],
    [bilingual("Genesis block hash", "创世区块哈希"), t.genesis_hash],
    [bilingual("Registry contract", "登记合约"), t.registry],
    [bilingual("Ledger contract", "账本合约"), t.ledger],
    [bilingual("Deployed in block", "部署区块"), t.deployment_block ?? t.block_number ?? ""],
    [bilingual("Regulator", "监管方"), t.regulator ?? ""],
  ]);
  document.body.dataset.ready = "true";
}

start().catch((error) => showError(error.message));
