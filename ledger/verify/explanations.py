"""What each verification check means, in plain language, in English and Chinese: one table for
every place a person reads a report (the verify page, `ledger verify`, evidence certificates).

A test keeps the table and `CHECK_NAMES` (with `disclosure_fields`, the check a field disclosure
adds) equal, so a new check cannot ship without its words.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CHECK_EXPLANATIONS", "Explanation"]


@dataclass(frozen=True, slots=True)
class Explanation:
    """What a check establishes when it passes, in each language."""

    en: str
    zh: str


CHECK_EXPLANATIONS: dict[str, Explanation] = {
    "format": Explanation(
        "The receipt is a loan evidence receipt of a known version, built with the expected hash"
        " algorithms.",
        "回执是已知版本的借贷存证回执，使用约定的哈希算法生成。",
    ),
    "deployment": Explanation(
        "The receipt belongs to the ledger you trust: the same chain (id and first block) and the"
        " same registry and ledger contracts as the trust root.",
        "回执属于您信任的账本：链（链 ID 与创世区块）、登记合约和账本合约均与信任根一致。",
    ),
    "document": Explanation(
        "The file you gave has exactly the SHA-256 fingerprint the record carries: not one byte"
        " differs from the agreement that was signed.",
        "您提供的文件与记录中的 SHA-256 指纹完全一致：与签署时的协议相比没有任何字节改动。",
    ),
    "disclosure": Explanation(
        "The fee disclosure form in the receipt is the one whose digest was signed, and its"
        " figures are consistent with the loan's terms.",
        "回执中的费用明示表正是被签署摘要所对应的那一份，其数字与借款条件一致。",
    ),
    "disclosure_fields": Explanation(
        "The fee disclosure fields you were shown are exactly those the signed digest commits"
        " to, each with its own proof; the fields not shown stay hidden and are not vouched for.",
        "向您展示的费用明示表字段正是被签署摘要所承诺的字段，每个字段均有证明；未展示的字段保持"
        "隐藏，不在本次核验范围内。",
    ),
    "record_id": Explanation(
        "The record's identifier is computed from its own terms: no term was changed after it"
        " was made.",
        "记录标识由记录本身的条款计算得出：生成后没有任何条款被改动。",
    ),
    "typed_data": Explanation(
        "What the signers' wallets showed them (EIP-712 typed data) is this record, term for term.",
        "签署方钱包中展示的内容（EIP-712 结构化数据）与本记录逐项一致。",
    ),
    "signatures": Explanation(
        "Every party required for this loan signed it, each with the key registered for it on"
        " chain at the time.",
        "本笔借款所需的每一方均已签署，且各自使用当时在链上登记的密钥。",
    ),
    "leaf": Explanation(
        "The record and its signatures are what the batch's Merkle leaf commits to.",
        "记录及其签名正是批次默克尔树叶子所承诺的内容。",
    ),
    "proof": Explanation(
        "The Merkle proof leads from the record to the batch root anchored on chain.",
        "默克尔证明可以从本记录推导到链上锚定的批次根。",
    ),
    "anchor": Explanation(
        "The anchoring transaction is on the chain, in the block and at the time the receipt"
        " gives, and it anchored this record (or its batch).",
        "锚定交易确实在链上，位于回执所述的区块和时间，并且锚定的正是本记录（或其所在批次）。",
    ),
    "entry_timestamp": Explanation(
        "The gateway's signed promise to anchor the record was kept, before its deadline.",
        "网关签发的锚定承诺（入账时间戳）已在期限内兑现。",
    ),
    "provenance": Explanation(
        "Who submitted the record and which gateway accepted it are signed by that gateway.",
        "记录的提交方及受理网关均有该网关的签名背书。",
    ),
    "rate_cap": Explanation(
        "The loan's annualized comprehensive cost was within the cap for the funder's type of"
        " institution on its issue date (or it is legacy stock flagged as such).",
        "借款的综合融资成本（年化）在发放日未超过资金方所属机构类型的上限（或已标记为存量资产）。",
    ),
    "violation": Explanation(
        "No broken rule has been proven against this record on chain.",
        "链上没有针对本记录的已证实违规。",
    ),
    "status": Explanation(
        "The record has been neither revoked nor amended (superseded by a correction).",
        "本记录既未被撤销，也未被更正（被新记录取代）。",
    ),
}
