"""The certificate: what the package proves, in plain Chinese and English, as one HTML page
(and the PDF made from it, `ledger.evidence.pdf`).

Each verification check is shown with its explanation from `ledger.verify.explanations` (the
same words as the verify page) and its result at export time; then the record's facts, then the
points of 人民法院在线诉讼规则 Arts. 16-18 answered one by one, then how to re-verify with open
tools. Everything shown comes from the receipt, the report and the gathered facts: nothing is
typed in by hand.
"""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape
from typing import Any

from ledger.evidence.model import DocumentEntry, EvidenceFacts, Manifest, VaultSection
from ledger.receipts import AnyReceipt
from ledger.verify.explanations import CHECK_EXPLANATIONS
from ledger.verify.report import VerificationReport

__all__ = ["TITLE_EN", "TITLE_ZH", "how_to_verify_text", "render_html"]

TITLE_ZH = "区块链存证核验证书"
TITLE_EN = "Blockchain Evidence Verification Certificate"

_STATUS = {
    "pass": ("通过", "passed"),
    "fail": ("未通过", "FAILED"),
    "skip": ("未执行", "not run"),
}

_CSS = """
@page { size: A4; margin: 16mm 14mm; }
body { font-family: "Noto Sans CJK SC", "Noto Sans", sans-serif; font-size: 9.5pt;
       color: #111; line-height: 1.45; }
h1 { font-size: 17pt; margin: 0 0 2pt 0; }
h1 .en { display: block; font-size: 12pt; font-weight: normal; color: #333; }
h2 { font-size: 12pt; border-bottom: 1.5pt solid #1f3a5f; padding-bottom: 2pt;
     margin-top: 14pt; color: #1f3a5f; }
table { border-collapse: collapse; width: 100%; margin: 4pt 0; }
tr { break-inside: avoid; }
th, td { border: 0.5pt solid #999; padding: 3pt 4pt; vertical-align: top; text-align: left;
         overflow-wrap: anywhere; }
th { background: #e8edf3; }
table.kv th { width: 24%; }
table.checks { table-layout: fixed; }
td.mono, span.mono { font-family: "DejaVu Sans Mono", monospace; font-size: 7.5pt;
                     word-break: break-all; }
.pass { color: #0a6b2a; font-weight: bold; }
.fail { color: #b00020; font-weight: bold; }
.skip { color: #666; }
.verdict { font-size: 12pt; padding: 6pt; border: 1.5pt solid #0a6b2a; margin: 8pt 0; }
.verdict.bad { border-color: #b00020; }
.en { color: #333; }
p.note { font-size: 8.5pt; color: #444; }
"""


def _utc(seconds: int | None) -> str:
    if seconds is None:
        return "—"
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _e(value: Any) -> str:
    return "—" if value is None or value == "" else escape(str(value))


def _row(zh: str, en: str, value: Any, mono: bool = False) -> str:
    cls = ' class="mono"' if mono else ""
    return f"<tr><th>{zh}<br><span class='en'>{en}</span></th><td{cls}>{_e(value)}</td></tr>"


def _checks(report: VerificationReport) -> str:
    rows = []
    for c in report.checks:
        words = CHECK_EXPLANATIONS[c.name]
        zh, en = _STATUS[c.status]
        rows.append(
            f"<tr><td class='mono'>{escape(c.name)}</td>"
            f"<td>{escape(words.zh)}<br><span class='en'>{escape(words.en)}</span></td>"
            f"<td class='{c.status}'>{zh}<br>{en}</td>"
            f"<td>{escape(c.detail)}{' (' + escape(c.code) + ')' if c.code else ''}</td></tr>"
        )
    head = (
        "<colgroup><col style='width:13%'><col style='width:50%'><col style='width:9%'>"
        "<col style='width:28%'></colgroup>"
        "<tr><th>检查<br>check</th><th>含义<br>meaning</th>"
        "<th>结果<br>result</th><th>说明<br>detail</th></tr>"
    )
    return f"<table class='checks'>{head}{''.join(rows)}</table>"


def _document_line(doc: DocumentEntry) -> tuple[str, str]:
    if doc.status == "included":
        return (
            f"原始文件已附于本证据包（{_e(doc.member)}，{_e(doc.size)} 字节）。",
            f"The original file is in this package ({_e(doc.member)}, {_e(doc.size)} bytes).",
        )
    if doc.status == "erased":
        return (
            "原始文件已依法删除（加密销毁），链上仅留存其 SHA-256 指纹。" + _e(doc.note),
            "The original file was erased (crypto-shredded); only its SHA-256 fingerprint"
            " remains on chain. " + _e(doc.note),
        )
    return (
        "导出网关未保存原始文件；请将您持有的文件与下方指纹比对。",
        "The exporting gateway does not hold the original file; compare the file you hold"
        " with the fingerprint below.",
    )


def _record(receipt: AnyReceipt, facts: EvidenceFacts, manifest: Manifest) -> str:
    r, a = receipt.record, receipt.anchor
    rows = [
        _row("记录标识", "record id", receipt.record_id, True),
        _row("借款本金（分）", "principal (fen)", f"{r.principal:,}"),
        _row("综合年化成本", "annualized cost (APR)", f"{r.apr_bps / 100:.2f}%"),
        _row("期限（天）", "term (days)", r.term_days),
        _row("发放时间", "issued at", _utc(r.issued_at)),
        _row("协议文件 SHA-256", "agreement SHA-256", r.agreement_digest, True),
        _row("费用明示表摘要", "fee disclosure digest", r.disclosure_digest, True),
        _row("链 ID", "chain id", a.chain_id),
        _row("登记合约", "registry contract", a.registry, True),
        _row("账本合约", "ledger contract", a.ledger, True),
        _row("锚定方式", "anchoring", a.mode),
        _row("交易哈希", "transaction hash", a.transaction_hash, True),
        _row("区块高度", "block number", a.block_number),
        _row("区块时间", "block time", _utc(a.block_time)),
    ]
    if a.root is not None:
        rows.append(_row("批次默克尔根", "batch Merkle root", a.root, True))
        rows.append(_row("批次大小", "batch size", a.batch_size))
    rows.append(_row("导出时间", "exported at", _utc(manifest.exported_at)))
    return f"<table class='kv'>{''.join(rows)}</table>"


def _signers(facts: EvidenceFacts) -> str:
    head = (
        "<tr><th>签署位置<br>slot</th><th>参与方<br>participant</th><th>角色<br>role</th>"
        "<th>签名地址（当时登记）<br>signer (registered then)</th><th>密钥登记起始<br>key since</th>"
        "<th>状态<br>status</th></tr>"
    )
    rows = [
        f"<tr><td>{_e(s.slot)}</td><td>#{s.participant_id} {_e(s.name)}</td>"
        f"<td>{_e(s.role)} {'' if s.institution_type in (None, 'none') else _e(s.institution_type)}</td>"
        f"<td class='mono'>{_e(s.signer)}"
        f"{'' if s.registered_signer == s.signer else '<br>registry: ' + _e(s.registered_signer)}</td>"
        f"<td>{_utc(s.epoch_valid_from)}</td><td>{_e(s.status_at_signing)}</td></tr>"
        for s in facts.signers
    ]
    return f"<table>{head}{''.join(rows)}</table>"


def _history(facts: EvidenceFacts) -> str:
    if not facts.history:
        return (
            f"<p>截至区块 {facts.head_block}，链上没有针对本记录的撤销或更正事件。<br>"
            f"<span class='en'>As of block {facts.head_block}, no revocation or amendment of"
            " this record is on chain.</span></p>"
        )
    words = {
        "revoked": ("已撤销", "revoked"),
        "amended": ("已被更正（取代）", "amended (superseded)"),
        "amends": ("本记录更正了另一记录", "this record amends another"),
    }
    rows = [
        f"<tr><td>{words[h.event][0]}<br>{words[h.event][1]}</td>"
        f"<td class='mono'>{_e(h.record_id)}{'<br>→ ' + _e(h.superseded_by) if h.superseded_by else ''}</td>"
        f"<td>{h.reason_code}</td><td>{_utc(h.retired_at)}</td>"
        f"<td class='mono'>{_e(h.transaction_hash)} (#{h.block_number})</td></tr>"
        for h in facts.history
    ]
    head = (
        "<tr><th>事件<br>event</th><th>记录<br>record</th><th>原因码<br>reason</th>"
        "<th>时间<br>at</th><th>交易<br>transaction</th></tr>"
    )
    return f"<table>{head}{''.join(rows)}</table>"


def _passed(report: VerificationReport, *names: str) -> str:
    got = {c.name: c.status for c in report.checks}
    return "、".join(f"{n}（{_STATUS[got.get(n, 'skip')][0]}）" for n in names)


def _passed_en(report: VerificationReport, *names: str) -> str:
    got = {c.name: c.status for c in report.checks}
    return ", ".join(f"{n} ({_STATUS[got.get(n, 'skip')][1]})" for n in names)


def _articles(report: VerificationReport, facts: EvidenceFacts, doc: DocumentEntry) -> str:
    p, t = facts.provenance, facts.trust_root
    on_chain = ("record_id", "signatures", "leaf", "proof", "anchor", "status")
    tech = ("format", "deployment", "record_id", "typed_data", "signatures", "leaf", "proof")
    before = ("provenance", "entry_timestamp", "signatures", "disclosure", "document")
    signer_zh = "；".join(
        f"{_e(s.slot)} #{s.participant_id} {_e(s.name)}（{_e(s.registered_signer)}，自"
        f" {_utc(s.epoch_valid_from)} 起登记）"
        for s in facts.signers
    )
    signer_en = "; ".join(
        f"{_e(s.slot)} #{s.participant_id} {_e(s.name)} ({_e(s.registered_signer)},"
        f" registered since {_utc(s.epoch_valid_from)})"
        for s in facts.signers
    )
    return f"""
<h3>第十六条 · Article 16</h3>
<p>经技术核验，本记录自上链以来未被篡改：{_passed(report, *on_chain)}。核验所依据的链为链 ID
{t.chain_id}，账本合约 <span class="mono">{_e(t.ledger)}</span>。<br>
<span class="en">Technical verification shows the data unaltered since it went on chain:
{_passed_en(report, *on_chain)}, on chain {t.chain_id}, ledger contract
<span class="mono">{_e(t.ledger)}</span>.</span></p>
<h3>第十七条 · Article 17</h3>
<p><b>平台资质与合规</b>：存证平台由监管方部署并管理参与方登记（登记合约
<span class="mono">{_e(t.registry)}</span>，监管方地址 <span class="mono">{_e(t.regulator)}</span>）；
受理网关为 #{_e(p.gateway_id)} {_e(p.gateway_name)}，其身份登记在链上。<br>
<span class="en"><b>Platform and compliance</b>: the ledger is deployed and its participants
registered by the regulator (registry <span class="mono">{_e(t.registry)}</span>, regulator
<span class="mono">{_e(t.regulator)}</span>); the accepting gateway is #{_e(p.gateway_id)}
{_e(p.gateway_name)}, registered on chain.</span></p>
<p><b>当事人与平台的关联</b>：各签署方均为登记合约中的参与方（见上文签署方表），提交方为
#{_e(p.submitted_by)} {_e(p.submitted_by_name)}。<br>
<span class="en"><b>The parties' connection to the platform</b>: every signer is a participant of
the registry (see the signers' table); the submitter is #{_e(p.submitted_by)}
{_e(p.submitted_by_name)}.</span></p>
<p><b>存证技术</b>：文件 SHA-256 指纹；EIP-712 结构化签名（secp256k1）；OpenZeppelin 默克尔证明
（keccak-256）；以太坊兼容区块链。核验结果：{_passed(report, *tech)}。<br>
<span class="en"><b>Technology</b>: SHA-256 file fingerprint; EIP-712 typed-data signatures
(secp256k1); OpenZeppelin Merkle proof (keccak-256); an Ethereum-compatible chain. Results:
{_passed_en(report, *tech)}.</span></p>
<p><b>存证过程</b>：网关于 {_utc(p.entry_accepted_at)} 受理并签发入账时间戳，承诺于
{_utc(p.anchor_deadline)} 前上链；实际于 {_utc(facts.chain.block_time)} 在区块
{facts.chain.block_number} 锚定（{_e(facts.chain.mode)}）。<br>
<span class="en"><b>Process of storing</b>: the gateway accepted the record and signed its entry
timestamp at {_utc(p.entry_accepted_at)}, promising to anchor it by {_utc(p.anchor_deadline)};
it was anchored at {_utc(facts.chain.block_time)} in block {facts.chain.block_number}
({_e(facts.chain.mode)}).</span></p>
<h3>第十八条 · Article 18</h3>
<p><b>上链前数据的真实性</b>：来源系统 {_e(p.source_system)}；提交方 #{_e(p.submitted_by)}
{_e(p.submitted_by_name)}；签署时各方及其当时登记的密钥：{signer_zh}。借款人以
{_e(p.borrower_confirmation_method)} 方式于 {_e(p.borrower_confirmed_at)} 确认费用明示表，阅读时长
{_e(p.borrower_reading_seconds)} 秒；入账时间 {_utc(p.entry_accepted_at)}。{_document_line(doc)[0]}
核验结果：{_passed(report, *before)}。<br>
<span class="en"><b>Genuineness before it went on chain</b>: source system
{_e(p.source_system)}; submitter #{_e(p.submitted_by)} {_e(p.submitted_by_name)}; every party
at signing time with the key registered for it then: {signer_en}. The borrower confirmed the fee
disclosure form by {_e(p.borrower_confirmation_method)} at {_e(p.borrower_confirmed_at)} after
{_e(p.borrower_reading_seconds)} s of reading; entry timestamp {_utc(p.entry_accepted_at)}.
{_document_line(doc)[1]} Results: {_passed_en(report, *before)}.</span></p>
"""


def _reverify(receipt: AnyReceipt) -> str:
    a = receipt.anchor
    if a.mode == "batch" and a.leaf is not None:
        proof = ", ".join(a.proof) or "(empty: the batch has one record)"
        chain_call = (
            "<p>或使用任意以太坊库与 OpenZeppelin MerkleProof：叶子 = keccak256(keccak256(abi.encode("
            "bytes32 recordId, bytes32 signaturesHash)))。<br><span class='en'>Or with any"
            " Ethereum library and OpenZeppelin's MerkleProof: leaf ="
            " keccak256(keccak256(abi.encode(bytes32 recordId, bytes32 signaturesHash))).</span></p>"
            "<table class='kv'>"
            + _row("叶子取值", "leaf values", ", ".join(a.leaf.values), True)
            + _row("叶子哈希", "leaf hash", a.leaf.hash, True)
            + _row("证明", "proof", proof, True)
            + _row("根", "root", a.root, True)
            + _row(
                "调用的合约视图",
                "contract view to call",
                f"EvidenceLedger({a.ledger}).verifyInclusion(root, recordId, signaturesHash,"
                " proof) → true",
                True,
            )
            + "</table>"
        )
    else:
        chain_call = (
            "<p>或使用任意以太坊库调用：<br><span class='en'>Or call with any Ethereum"
            " library:</span></p><table class='kv'>"
            + _row(
                "调用的合约视图",
                "contract view to call",
                f"EvidenceLedger({a.ledger}).recordState({receipt.record_id}) → status 1"
                " (anchored), anchoredAt = the block time",
                True,
            )
            + "</table>"
        )
    return (
        "<p>使用本项目的命令行工具（开源）：<br><span class='en'>With our open-source command line"
        " tool:</span></p><table class='kv'>"
        + _row(
            "命令",
            "command",
            "ledger verify evidence-package.zip --chain http://NODE:8545 --trust trust-root.json",
            True,
        )
        + "</table>"
        + chain_call
    )


_KINDS = {
    "document_read": ("读取原件", "document read"),
    "disclosure_read": ("选择性披露费用字段", "fee fields disclosed"),
    "commitment_opening": ("取用借款人承诺的密钥与盐", "commitment key and salt fetched"),
    "evidence_export": ("导出证据包", "evidence package exported"),
    "grant_created": ("授予审计访问", "auditor access granted"),
    "grant_revoked": ("撤回审计访问", "auditor access revoked"),
    "erasure_requested": ("申请删除（个人信息）", "erasure requested (PIPL)"),
    "erasure_ordered": ("监管责令删除", "erasure ordered by the regulator"),
    "erasure_executed": ("已删除（销毁密钥）", "erased (keys destroyed)"),
}


def _vault(vault: VaultSection | None) -> str:
    if vault is None:
        return ""
    rows = []
    for entry in vault.evidence_log:
        zh, en = _KINDS.get(entry["kind"], (entry["kind"], entry["kind"]))
        anchor = entry.get("anchor")
        where = (
            f"区块 / block #{anchor['block_number']}<br>root {_e(anchor['root'])}"
            if anchor
            else "尚未上链 / not yet anchored"
        )
        rows.append(
            f"<tr><td>{zh}<br><span class='en'>{en}</span></td>"
            f"<td>{_e(entry['actor_role'])} #{entry['actor_id']}</td><td>{_utc(entry['at'])}</td>"
            f"<td class='mono'>{where}</td></tr>"
        )
    head = (
        "<tr><th>事项<br>what</th><th>由谁<br>who</th><th>时间<br>when</th>"
        "<th>链上锚定<br>anchored</th></tr>"
    )
    table = (
        f"<table>{head}{''.join(rows)}</table>"
        if rows
        else "<p>无访问记录。<span class='en'>No access recorded.</span></p>"
    )
    erasure = vault.erasure
    erased = ""
    if erasure is not None:
        by = (
            f"监管机构 #{erasure['ordered_by']} 责令 / ordered by the regulator #{erasure['ordered_by']}"
            if erasure.get("ordered_by")
            else f"资金方 #{erasure['approved_by']} 批准 / approved by the funder #{erasure['approved_by']}"
        )
        erased = (
            f"<p>删除申请：平台 #{erasure['requested_by']} 于 {_utc(erasure['requested_at'])}"
            f" 提出（编号 {_e(erasure['reference'])}）；{by}；执行于"
            f" {_utc(erasure['executed_at'])}。<br><span class='en'>Erasure requested by platform"
            f" #{erasure['requested_by']} at {_utc(erasure['requested_at'])} (reference"
            f" {_e(erasure['reference'])}); executed at {_utc(erasure['executed_at'])}. The"
            " document's keys were destroyed; its digest stays anchored and still verifies."
            "</span></p>"
        )
    note = (
        "<p class='note'>每一项均记入证据日志并以默克尔批次锚定在链上（anchorEvidenceLog），"
        "vault.json 给出每项的证明。<br><span class='en'>Every entry is in the evidence log,"
        " anchored on chain in Merkle batches (anchorEvidenceLog); vault.json gives each"
        " entry's proof.</span></p>"
    )
    return (
        f"<h2>七、访问、授权与删除 · Vault accesses, grants and erasure</h2>{table}{erased}{note}"
    )


def render_html(
    receipt: AnyReceipt,
    report: VerificationReport,
    facts: EvidenceFacts,
    manifest: Manifest,
    vault: VaultSection | None = None,
) -> str:
    """The bilingual certificate of one package, as a self-contained HTML page (no external
    fonts, scripts or images)."""
    ok = report.ok
    verdict = (
        "全部核验项目通过。<br><span class='en'>Every verification check passed.</span>"
        if ok
        else "有核验项目未通过："
        + escape(", ".join(report.failed))
        + "<br><span class='en'>Checks failed: "
        + escape(", ".join(report.failed))
        + "</span>"
    )
    doc_zh, doc_en = _document_line(manifest.document)
    sections_missing = "".join(
        f"<li>{escape(k)}: {escape(v)}</li>" for k, v in manifest.sections_not_included.items()
    )
    missing = (
        f"<h2>未包含的部分 · Sections not included</h2><ul>{sections_missing}</ul>"
        if sections_missing
        else ""
    )
    return f"""<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8">
<title>{TITLE_ZH} · {TITLE_EN}</title><style>{_CSS}</style></head>
<body>
<h1>{TITLE_ZH}<span class="en">{TITLE_EN}</span></h1>
<p class="note">记录 / record <span class="mono">{escape(receipt.record_id)}</span> ·
证据包格式 / package format {escape(manifest.format)} · 核验于 / verified at
{_utc(manifest.exported_at)}（{escape(report.deployment.as_of if report.deployment else "")}）</p>
<div class="verdict{"" if ok else " bad"}">{verdict}</div>

<h2>一、已证明的内容 · What was proven</h2>
{_checks(report)}

<h2>二、记录事实 · The record's facts</h2>
{_record(receipt, facts, manifest)}
<p>{doc_zh}<br><span class="en">{doc_en}</span></p>

<h2>三、签署方（签署时的登记） · Signers as registered at signing time</h2>
{_signers(facts)}

<h2>四、撤销与更正 · Revocations and amendments</h2>
{_history(facts)}

<h2>五、《人民法院在线诉讼规则》第十六至十八条 · Online Litigation Rules of the People's Courts, Arts. 16–18</h2>
{_articles(report, facts, manifest.document)}

<h2>六、如何重新核验 · How to re-verify</h2>
{_reverify(receipt)}
<p class="note">核验应以您自行持有的信任根（链 ID 与合约地址）为准，请与本证书所列地址比对。<br>
<span class="en">Verify against the trust root you hold yourself (chain id and contract
addresses): compare them with the addresses this certificate lists.</span></p>
{_vault(vault)}
{missing}
</body></html>
"""


def how_to_verify_text(receipt: AnyReceipt, manifest: Manifest) -> str:
    """HOW-TO-VERIFY.txt: the same steps in plain text."""
    a = receipt.anchor
    lines = [
        f"{TITLE_EN} / {TITLE_ZH}",
        f"record {receipt.record_id}, package format {manifest.format}",
        "",
        "1. With our command line tool (open source, Python):",
        "     ledger verify THIS-PACKAGE.zip --chain http://NODE:8545 [--trust trust-root.json]",
        "   It checks every member's SHA-256 against package.json, the gateway's signature over",
        "   package.json, the document against the record, the trust root against the node,",
        "   and re-runs every receipt check. Exit 0: verified; 1: a check failed (named).",
        "   Pin the contracts with --trust FILE (a trust root you got from the operator);",
        "   without it, compare these with addresses you hold:",
        f"     chain id {a.chain_id}, registry {a.registry}, ledger {a.ledger}",
        "",
        "2. With open tools only:",
        f"   sha256sum of the document must equal {receipt.record.agreement_digest[2:]}",
        "   the record id is the EIP-712 hash of receipt.json's typed_data (any wallet library);",
        "   each signature recovers (ecrecover) to the signer registered on chain at issued_at:",
        f"     ParticipantRegistry({a.registry}).epochAt(participantId, {receipt.record.issued_at})",
    ]
    if a.mode == "batch" and a.leaf is not None:
        lines += [
            "   the Merkle proof (OpenZeppelin StandardMerkleTree, leaf types bytes32,bytes32):",
            f"     leaf values {a.leaf.values[0]} {a.leaf.values[1]}",
            f"     leaf hash   {a.leaf.hash}",
            f"     proof       {' '.join(a.proof) or '(empty)'}",
            f"     root        {a.root}",
            f"   call EvidenceLedger({a.ledger}).verifyInclusion(root, leaf values..., proof)",
            "   on chain "
            f"{a.chain_id}: it returns true; OpenZeppelin MerkleProof.verify(proof, root, leaf)"
            " gives the same.",
        ]
    else:
        lines += [
            f"   call EvidenceLedger({a.ledger}).recordState({receipt.record_id}):",
            "   status 1 (anchored) and anchoredAt the block time.",
        ]
    lines += [
        f"   the anchoring transaction {a.transaction_hash} is in block {a.block_number}.",
        "",
    ]
    return "\n".join(lines)
