"""ledger.merkle is @openzeppelin/merkle-tree byte for byte; its proofs are MerkleProof.sol's."""

from __future__ import annotations

import copy
import hashlib
import json
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from eth_abi.abi import encode as eth_abi_encode
from eth_hash.backends import pycryptodome as eth_hash_pycryptodome
from hypothesis import given, settings
from hypothesis import strategies as st

import ledger.merkle as merkle
import ledger.merkle.keccak as merkle_keccak
from ledger.errors import MerkleError
from ledger.merkle import (
    MultiProof,
    SimpleMerkleTree,
    StandardMerkleTree,
    abi_encode,
    get_multiproof,
    get_proof,
    hash_pair,
    is_valid_merkle_tree,
    keccak256,
    leaf_hash,
    make_merkle_tree,
    process_multiproof,
    process_proof,
    require_multiproof,
    require_proof,
    to_hex,
    verify_multiproof,
    verify_proof,
    verify_value,
    verify_values_multiproof,
)

ROOT = Path(__file__).resolve().parents[2]
OZ_SCRIPT = ROOT / "scripts" / "oz_merkle.mjs"
NODE = shutil.which("node")
OZ_PACKAGE = ROOT / "node_modules" / "@openzeppelin" / "merkle-tree" / "package.json"

# ---------------------------------------------------------------------------------------------
# reference data
# ---------------------------------------------------------------------------------------------


def _h(*parts: object) -> str:
    return hashlib.sha256(repr(parts).encode()).hexdigest()


def _value(types: tuple[str, ...], i: int) -> list[Any]:
    """A deterministic, JSON-safe value of the given types, in the forms both libraries take."""
    out: list[Any] = []
    for k, t in enumerate(types):
        seed = _h(t, i, k)
        if t == "bytes32":
            out.append("0x" + seed)
        elif t == "address":
            out.append("0x" + seed[:40])
        elif t == "uint256":
            # numbers, decimal strings above 2**53, and a hex string
            out.append([i * 7, str(10**18 * (i + 1) + 12345), "0x" + seed[:12]][i % 3])
        elif t == "int256":
            out.append(str(-(10**30) + i) if i % 2 else -i)
        elif t == "bool":
            out.append(i % 2 == 0)
        elif t == "string":
            out.append(["", f"借款合同-{i}-助贷 ✓", "x" * (i % 70)][i % 3])
        elif t == "bytes":
            out.append("0x" + seed[: 2 * (i % 40)])
        elif t == "(address,uint256)":
            out.append(["0x" + seed[:40], str(i)])
        elif t == "uint8[2]":
            out.append([i % 256, (3 * i) % 256])
        elif t == "string[]":
            out.append([f"s{j}" for j in range(i % 4)])
        else:  # pragma: no cover
            raise AssertionError(t)
    return out


TYPE_SETS: list[tuple[str, ...]] = [
    ("bytes32", "bytes32"),
    ("address", "uint256"),
    ("string", "uint256"),
    ("bool", "int256", "bytes"),
    ("(address,uint256)", "uint8[2]", "string[]"),  # the eth_abi fallback
]
SIZES = [1, 2, 3, 7, 100]


def _index_sets(n: int) -> list[list[int]]:
    sets = [[], [0], [n - 1], list(range(n)), list(range(0, n, 2))]
    if n > 3:
        sets += [[n - 1, 1, n // 2], [3, 1, 2]]
    return sets


def _case(types: tuple[str, ...], n: int, sort_leaves: bool = True) -> dict[str, Any]:
    return {
        "types": list(types),
        "values": [_value(types, i) for i in range(n)],
        "sortLeaves": sort_leaves,
        "indices": _index_sets(n),
    }


def _duplicates_case() -> dict[str, Any]:
    types = ("address", "uint256")
    vals = [_value(types, i) for i in range(4)]
    return {
        "types": list(types),
        "values": [vals[0], vals[1], vals[0], vals[2], vals[1], vals[3], vals[0]],
        "indices": [[0, 2], [2, 4, 6], [5]],
    }


CASES: dict[str, dict[str, Any]] = {}
for _types in TYPE_SETS:
    for _n in SIZES:
        CASES[f"{','.join(_types)}-n{_n}"] = _case(_types, _n)
for _n in (3, 7, 100):
    CASES[f"address,uint256-n{_n}-unsorted"] = _case(("address", "uint256"), _n, False)
CASES["duplicates"] = _duplicates_case()


def _simple_case(n: int, sort_leaves: bool) -> dict[str, Any]:
    return {
        "kind": "simple",
        "values": ["0x" + _h("simple", i) for i in range(n)],
        "sortLeaves": sort_leaves,
        "indices": _index_sets(n),
    }


SIMPLE_CASES = {
    f"simple-n{n}-{s}": _simple_case(n, s) for n in (1, 2, 7, 100) for s in (True, False)
}

# ---------------------------------------------------------------------------------------------
# the JS reference (scripts/oz_merkle.mjs)
# ---------------------------------------------------------------------------------------------


def _node_missing() -> str | None:
    if NODE is None:
        return "`node` is not on PATH"
    if not OZ_PACKAGE.exists():
        return "node_modules/@openzeppelin/merkle-tree is missing (run `npm install`)"
    return None


def run_oz(cases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    reason = _node_missing()
    if reason:
        pytest.skip(f"cross-check against @openzeppelin/merkle-tree skipped: {reason}")
    assert NODE is not None
    proc = subprocess.run(
        [NODE, str(OZ_SCRIPT)],
        input=json.dumps(cases),
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    results: list[dict[str, Any]] = json.loads(proc.stdout)
    return results


@cache
def _oz_results() -> dict[str, dict[str, Any]]:
    names = [*CASES, *SIMPLE_CASES]
    out = run_oz([{**CASES, **SIMPLE_CASES}[n] for n in names])
    return dict(zip(names, out, strict=True))


def _py_tree(case: dict[str, Any]) -> StandardMerkleTree | SimpleMerkleTree:
    if case.get("kind") == "simple":
        return SimpleMerkleTree.of(case["values"], sort_leaves=case["sortLeaves"])
    return StandardMerkleTree.of(
        case["values"], case["types"], sort_leaves=case.get("sortLeaves", True)
    )


def _py_output(tree: StandardMerkleTree | SimpleMerkleTree, case: dict[str, Any]) -> dict[str, Any]:
    values = [v for _, v in tree.entries()]
    return {
        "root": tree.root_hex,
        "leafHashes": [to_hex(tree.leaf_hash(v)) for v in values],  # type: ignore[arg-type]
        "proofs": [[to_hex(p) for p in tree.get_proof(i)] for i in range(len(tree))],
        "multiproofs": [tree.get_multiproof(ix).to_json() for ix in case.get("indices", [])],
        "dump": tree.dump(),
        "render": tree.render(),
    }


# ---------------------------------------------------------------------------------------------
# cross-checks with the JS library
# ---------------------------------------------------------------------------------------------


@pytest.mark.node
@pytest.mark.parametrize("name", [*CASES, *SIMPLE_CASES])
def test_identical_to_openzeppelin_merkle_tree(name: str) -> None:
    case = {**CASES, **SIMPLE_CASES}[name]
    js = _oz_results()[name]
    assert "error" not in js, js
    assert js["verified"] is True
    py = _py_output(_py_tree(case), case)
    for key in ("root", "leafHashes", "proofs", "multiproofs", "dump", "render"):
        assert py[key] == js[key], key
    # the dumps are the same JSON text, not merely equal objects
    assert json.dumps(py["dump"]) == json.dumps(js["dump"])


@pytest.mark.node
def test_loading_each_others_dumps() -> None:
    names = ["address,uint256-n7", "string,uint256-n100", "address,uint256-n7-unsorted"]
    names += ["(address,uint256),uint8[2],string[]-n7", "duplicates"]
    # Python loads JS dumps ...
    for name in names:
        js = _oz_results()[name]
        loaded = StandardMerkleTree.load(js["dump"])
        assert loaded.root_hex == js["root"]
        proofs = [[to_hex(p) for p in loaded.get_proof(i)] for i in range(len(loaded))]
        assert proofs == js["proofs"]
        assert loaded.dump() == js["dump"]
    for name in ("simple-n7-True", "simple-n100-False"):
        js = _oz_results()[name]
        assert SimpleMerkleTree.load(js["dump"]).dump() == js["dump"]

    # ... and JS loads (and validates) Python dumps, including bytes / int / tuple values.
    raw_values: list[Any] = [
        (bytes.fromhex(_h("a", i)[:40]), i * 10**17) for i in range(9)
    ]  # tuples of (bytes, int)
    extra = StandardMerkleTree.of(raw_values, ["address", "uint256"], sort_leaves=False)
    big = StandardMerkleTree.of([[str(i), 2**200 + i] for i in range(5)], ["string", "uint256"])
    py_trees: list[StandardMerkleTree | SimpleMerkleTree] = [_py_tree(CASES[n]) for n in names]
    dumps = [t.dump() for t in py_trees]
    dumps += [extra.dump(), big.dump(ints_as_strings=True)]
    simple = SimpleMerkleTree.of([keccak256(bytes([i])) for i in range(5)])
    cases: list[dict[str, Any]] = [{"dump": d} for d in dumps]
    cases.append({"kind": "simple", "dump": simple.dump()})
    results = run_oz(cases)
    for tree, res in zip([*py_trees, extra, big, simple], results, strict=True):
        assert "error" not in res, res
        assert res["verified"] is True
        assert res["root"] == tree.root_hex
        assert res["proofs"] == [[to_hex(p) for p in tree.get_proof(i)] for i in range(len(tree))]

    # A tampered Python dump is refused by JS, as by Python.
    bad = extra.dump()
    bad["values"][0]["value"][1] = "1"
    (res,) = run_oz([{"dump": bad}])
    assert "error" in res
    with pytest.raises(MerkleError):
        StandardMerkleTree.load(bad)


# ---------------------------------------------------------------------------------------------
# hashing and encoding
# ---------------------------------------------------------------------------------------------


def test_keccak_backends_agree() -> None:
    backends = merkle_keccak._available_backends()
    assert backends, "no keccak backend"
    assert backends[0].name == merkle.KECCAK_BACKEND
    samples = [b"", b"abc", bytes(64), bytes(range(200)), b"\xff" * 136, b"\x01" * 137]
    for backend in backends:
        h = backend.new_hasher()
        for data in samples:
            assert h(data) == eth_hash_pycryptodome.keccak256(data), backend.name


@pytest.mark.parametrize("backend", merkle_keccak._available_backends(), ids=lambda b: b.name)
def test_every_backend_builds_the_same_tree(
    backend: merkle_keccak._Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    case = CASES["address,uint256-n100"]
    expected = _py_tree(case).dump()
    monkeypatch.setattr(merkle_keccak, "_BACKEND", backend)
    tree = _py_tree(case)
    assert tree.dump() == expected
    assert verify_proof(tree.root, tree.leaf_hash(case["values"][5]), tree.get_proof(5))


def test_leaf_and_pair_hash_definitions() -> None:
    types, value = ["address", "uint256"], ["0x" + "ab" * 20, 5]
    inner = keccak256(eth_abi_encode(types, [bytes.fromhex("ab" * 20), 5]))
    assert leaf_hash(types, value) == keccak256(inner)
    a, b = keccak256(b"a"), keccak256(b"b")
    assert hash_pair(a, b) == hash_pair(b, a) == keccak256(min(a, b) + max(a, b))
    assert hash_pair(to_hex(a), b) == hash_pair(a, b)


ELEMENTARY = st.sampled_from(
    [
        *("uint8", "uint64", "uint256", "uint", "int8", "int128", "int256", "int", "address"),
        *("bool", "bytes1", "bytes4", "bytes20", "bytes31", "bytes32", "bytes", "string"),
    ]
)


@st.composite
def typed_values(draw: st.DrawFn) -> tuple[list[str], list[Any], list[Any]]:
    """(types, JS-style values, the same values as eth_abi wants them)."""
    types = draw(st.lists(ELEMENTARY, min_size=1, max_size=5))
    js: list[Any] = []
    py: list[Any] = []
    for t in types:
        if t.startswith(("uint", "int")):
            bits = int(t.lstrip("uint") or 256)
            signed = t.startswith("int")
            lo, hi = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
            x = draw(st.integers(lo, hi))
            form = draw(st.sampled_from(["int", "dec", "hex"] if x >= 0 else ["int", "dec"]))
            js.append(x if form == "int" else str(x) if form == "dec" else hex(x))
            py.append(x)
        elif t == "address":
            raw = draw(st.binary(min_size=20, max_size=20))
            js.append(draw(st.sampled_from([raw, "0x" + raw.hex(), "0x" + raw.hex().upper()])))
            py.append(raw)
        elif t == "bool":
            x = draw(st.booleans())
            js.append(draw(st.sampled_from([x, "true" if x else "false"])))
            py.append(x)
        elif t == "string":
            s = draw(st.text(max_size=40))
            js.append(s)
            py.append(s)
        else:
            n = int(t[5:]) if t != "bytes" else None
            raw = draw(st.binary(min_size=n or 0, max_size=n or 80))
            js.append(draw(st.sampled_from([raw, "0x" + raw.hex()])))
            py.append(raw)
    return types, js, py


@settings(max_examples=200, deadline=None)
@given(typed_values())
def test_fast_abi_encoder_equals_eth_abi(tv: tuple[list[str], list[Any], list[Any]]) -> None:
    types, js_values, py_values = tv
    expected = eth_abi_encode(types, py_values)
    assert abi_encode(types, js_values) == expected
    assert leaf_hash(types, js_values) == keccak256(keccak256(expected))


def test_array_and_tuple_types_go_through_eth_abi() -> None:
    types = ["(address,uint256)", "uint8[2]", "string[]", "bytes32[]"]
    value = [["0x" + "11" * 20, "7"], [1, "2"], ["a", "b"], ["0x" + "22" * 32]]
    expected = eth_abi_encode(
        ["(address,uint256)", "uint8[2]", "string[]", "bytes32[]"],
        [(b"\x11" * 20, 7), [1, 2], ["a", "b"], [b"\x22" * 32]],
    )
    assert abi_encode(types, value) == expected


@pytest.mark.parametrize(
    ("types", "value"),
    [
        (["uint8"], [256]),
        (["uint256"], [-1]),
        (["uint256"], [2**256]),
        (["int8"], [128]),
        (["uint256"], ["12abc"]),
        (["uint256"], [1.5]),
        (["uint256"], [True]),
        (["address"], ["0x1234"]),
        (["address"], ["0x" + "zz" * 20]),
        (["address"], ["11" * 20 + "00"]),
        (["bytes32"], ["0x" + "11" * 31]),
        (["bytes32"], [b"\x00" * 33]),
        (["bytes32"], ["0x" + "1" * 63 + " "]),
        (["bytes"], ["0x123"]),
        (["bool"], [1]),
        (["string"], [b"bytes"]),
        (["string"], ["\ud800"]),
        (["uint256", "uint256"], [1]),
        (["uint256"], 5),
        (["uint7"], [1]),
        (["bytes33"], ["0x00"]),
        (["fixed128x18"], [1]),
        (["uint8[2]"], [[1, 2, 3]]),
        (["(uint8,bool)"], [[1]]),
        ("uint256", [1]),
    ],
)
def test_bad_values_and_types_raise_merkle_error(types: Any, value: Any) -> None:
    with pytest.raises(MerkleError):
        leaf_hash(types, value)


# ---------------------------------------------------------------------------------------------
# edge cases
# ---------------------------------------------------------------------------------------------


def test_empty_tree_raises() -> None:
    with pytest.raises(MerkleError):
        StandardMerkleTree.of([], ["uint256"])
    with pytest.raises(MerkleError):
        SimpleMerkleTree.of([])
    with pytest.raises(MerkleError):
        make_merkle_tree([])
    assert not is_valid_merkle_tree([])


def test_single_leaf() -> None:
    tree = StandardMerkleTree.of([["0x" + "11" * 20, 1]], ["address", "uint256"])
    leaf = leaf_hash(["address", "uint256"], ["0x" + "11" * 20, 1])
    assert tree.root == leaf
    assert tree.get_proof(0) == []
    assert verify_proof(tree.root, leaf, [])
    mp = tree.get_multiproof([0])
    assert (mp.leaves, mp.proof, mp.proof_flags) == ([["0x" + "11" * 20, 1]], [], [])
    assert tree.verify_multiproof(mp)
    assert verify_multiproof(tree.root, [leaf], [], [])
    assert verify_multiproof(tree.root, [], [tree.root], [])
    assert StandardMerkleTree.load(tree.dump()).root == leaf


def test_duplicates_follow_the_js_rules() -> None:
    a, b = ["0x" + "11" * 20, 1], ["0x" + "22" * 20, 2]
    tree = StandardMerkleTree.of([a, b, a], ["address", "uint256"])
    assert len(tree) == 3 and len(tree.tree) == 5
    assert tree.leaf_lookup(a) == 2  # the last occurrence, like the JS hash lookup
    assert tree.get_proof(a) == tree.get_proof(2)
    assert tree.get_proof(0) != tree.get_proof(2)  # two distinct leaves with the same hash
    assert tree.verify(0, tree.get_proof(0)) and tree.verify(2, tree.get_proof(2))
    mp = tree.get_multiproof([0, 2, 1])
    assert tree.verify_multiproof(mp)
    with pytest.raises(MerkleError, match="duplicated"):
        tree.get_multiproof([1, 1])


def test_lookups_and_errors() -> None:
    types = ["address", "uint256"]
    values = [["0x" + f"{i:040x}", i] for i in range(10)]
    tree = StandardMerkleTree.of(values, types)
    assert tree.at(3) == values[3] and tree.at(10) is None
    assert tree.leaf_lookup(values[4]) == 4
    assert tree.get_proof(values[4]) == tree.get_proof(4)
    assert tree.leaf_encoding == types
    with pytest.raises(MerkleError, match="not in tree"):
        tree.get_proof(["0x" + "ff" * 20, 1])
    for bad in (10, -1):
        with pytest.raises(MerkleError, match="out of bounds"):
            tree.get_proof(bad)
    with pytest.raises(MerkleError):
        StandardMerkleTree.of([5], types)  # type: ignore[list-item]  # "Leaf values cannot be numbers"
    with pytest.raises(MerkleError):
        StandardMerkleTree.of([["0x" + "11" * 20]], types)
    with pytest.raises(TypeError):
        StandardMerkleTree()
    assert not tree.verify(11, [])
    # static verification, as StandardMerkleTree.verify / verifyMultiProof
    assert verify_value(tree.root_hex, types, values[7], tree.get_proof(7))
    assert not verify_value(tree.root, types, values[6], tree.get_proof(7))
    mp = tree.get_multiproof([1, 2, 9])
    assert verify_values_multiproof(tree.root, types, mp)
    assert verify_values_multiproof(tree.root, types, MultiProof.from_json(mp.to_json()))
    assert not verify_values_multiproof(tree.root, types, MultiProof([values[0]], mp.proof, []))
    # core functions work on tree indices
    with pytest.raises(MerkleError, match="not a leaf"):
        get_proof(tree.tree, 0)
    with pytest.raises(MerkleError, match="not a leaf"):
        get_multiproof(tree.tree, [len(tree.tree)])


def test_load_rejects_tampering() -> None:
    tree = StandardMerkleTree.of([[f"v{i}", i] for i in range(6)], ["string", "uint256"])
    good = tree.dump()
    assert StandardMerkleTree.load(good).dump() == good

    def tampered(edit: Any) -> dict[str, Any]:
        d = copy.deepcopy(good)
        edit(d)
        return d

    bad_dumps = [
        tampered(lambda d: d.update(format="simple-v1")),
        tampered(lambda d: d.pop("leafEncoding")),
        tampered(lambda d: d["values"][0].update(value=["v0", 1])),
        tampered(lambda d: d["values"][0].update(treeIndex=0)),
        tampered(lambda d: d["values"][0].update(treeIndex=99)),
        tampered(lambda d: d["values"][0].pop("treeIndex")),
        tampered(lambda d: d["tree"].__setitem__(0, "0x" + "00" * 32)),
        tampered(lambda d: d["tree"].__setitem__(1, "0x" + "00" * 31)),
        tampered(lambda d: d["tree"].__setitem__(2, "0x" + "zz" * 32)),
        tampered(lambda d: d["tree"].append("0x" + "00" * 32)),
        tampered(lambda d: d.update(leafEncoding=["string", "int8", "bool"])),
        tampered(lambda d: d.update(leafEncoding=["string", "bytes32"])),
        tampered(lambda d: d.update(tree="nope")),
    ]
    for bad in bad_dumps:
        with pytest.raises(MerkleError):
            StandardMerkleTree.load(bad)
    with pytest.raises(MerkleError):
        SimpleMerkleTree.load({**SimpleMerkleTree.of([bytes(32)]).dump(), "hash": "custom"})


def test_malformed_multiproofs_raise_like_the_contract() -> None:
    leaves = [keccak256(bytes([i])) for i in range(8)]
    tree = make_merkle_tree(leaves)
    mp = get_multiproof(tree, [8, 10, 14])
    root = tree[0]
    require_multiproof(root, mp.leaves, mp.proof, mp.proof_flags)
    broken: list[tuple[list[bytes], list[bytes], Any]] = [
        (mp.leaves, [*mp.proof, mp.proof[0]], mp.proof_flags),  # count mismatch
        (mp.leaves, mp.proof[:-1], [*mp.proof_flags[:-1]]),  # proof not fully consumed
        (mp.leaves[:1], [*mp.proof, mp.proof[0], mp.proof[0]], mp.proof_flags),
        ([], [root, root], [True]),
        (mp.leaves, mp.proof, [not f for f in mp.proof_flags]),
        (mp.leaves, mp.proof, [1] * len(mp.proof_flags)),
        ([], [], []),
    ]
    for lv, pf, fl in broken:
        assert not verify_multiproof(root, lv, pf, fl)
        with pytest.raises(MerkleError):
            require_multiproof(root, lv, pf, fl)
    with pytest.raises(MerkleError):
        process_proof(root, [b"\x00" * 31])
    with pytest.raises(MerkleError):
        require_proof(root, leaves[0], [])


def test_render_and_repr() -> None:
    tree = SimpleMerkleTree.of([bytes([i]) * 32 for i in range(3)])
    lines = tree.render().splitlines()
    assert lines[0] == f"0) {tree.root_hex}"
    assert [line.split(")")[0].lstrip("│├└─ ") for line in lines] == ["0", "1", "3", "4", "2"]
    assert tree.root_hex in repr(tree)


# ---------------------------------------------------------------------------------------------
# properties
# ---------------------------------------------------------------------------------------------

nodes32 = st.binary(min_size=32, max_size=32)


def _flip(data: bytes, bit: int) -> bytes:
    bit %= 256
    out = bytearray(data)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


@settings(max_examples=60, deadline=None)
@given(st.lists(nodes32, min_size=1, max_size=40), st.booleans(), st.data())
def test_every_proof_verifies_and_every_bit_flip_breaks_it(
    leaves: list[bytes], sort_leaves: bool, data: st.DataObject
) -> None:
    tree = SimpleMerkleTree.of(leaves, sort_leaves=sort_leaves)
    root = tree.root
    assert is_valid_merkle_tree(tree.tree)
    for i, leaf in enumerate(leaves):
        proof = tree.get_proof(i)
        assert verify_proof(root, leaf, proof)
        require_proof(to_hex(root), to_hex(leaf), [to_hex(p) for p in proof])
        assert tree.verify(i, proof)

    i = data.draw(st.integers(0, len(leaves) - 1), label="leaf")
    leaf, proof = leaves[i], tree.get_proof(i)
    bit = data.draw(st.integers(0, 255), label="bit")
    assert not verify_proof(root, _flip(leaf, bit), proof)
    assert not verify_proof(_flip(root, bit), leaf, proof)
    with pytest.raises(MerkleError):
        require_proof(_flip(root, bit), leaf, proof)
    if proof:
        j = data.draw(st.integers(0, len(proof) - 1), label="proof element")
        tampered = [*proof[:j], _flip(proof[j], bit), *proof[j + 1 :]]
        assert not verify_proof(root, leaf, tampered)
        assert not tree.verify(i, tampered)


@settings(max_examples=60, deadline=None)
@given(st.lists(nodes32, min_size=1, max_size=40, unique=True), st.booleans(), st.data())
def test_multiproofs_for_random_subsets_verify(
    leaves: list[bytes], sort_leaves: bool, data: st.DataObject
) -> None:
    tree = SimpleMerkleTree.of(leaves, sort_leaves=sort_leaves)
    subset = data.draw(
        st.lists(st.integers(0, len(leaves) - 1), unique=True, max_size=len(leaves)),
        label="subset",
    )
    mp = tree.get_multiproof(subset)
    assert sorted(mp.leaves) == sorted(leaves[i] for i in subset)
    assert tree.verify_multiproof(mp)
    assert verify_multiproof(tree.root, mp.leaves, mp.proof, mp.proof_flags)
    assert process_multiproof(mp.leaves, mp.proof, mp.proof_flags) == tree.root
    # the same multiproof from the core function, on tree indices
    core = get_multiproof(tree.tree, [tree.tree_index(i) for i in subset])
    assert (core.leaves, core.proof, core.proof_flags) == (mp.leaves, mp.proof, mp.proof_flags)

    bit = data.draw(st.integers(0, 255), label="bit")
    assert not verify_multiproof(_flip(tree.root, bit), mp.leaves, mp.proof, mp.proof_flags)
    if mp.leaves:
        k = data.draw(st.integers(0, len(mp.leaves) - 1), label="leaf")
        bad = [*mp.leaves[:k], _flip(mp.leaves[k], bit), *mp.leaves[k + 1 :]]
        assert not verify_multiproof(tree.root, bad, mp.proof, mp.proof_flags)
    if mp.proof:
        k = data.draw(st.integers(0, len(mp.proof) - 1), label="proof element")
        bad = [*mp.proof[:k], _flip(mp.proof[k], bit), *mp.proof[k + 1 :]]
        assert not verify_multiproof(tree.root, mp.leaves, bad, mp.proof_flags)
        assert not tree.verify_multiproof(MultiProof(mp.leaves, bad, mp.proof_flags))


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.binary(min_size=20, max_size=20), st.integers(0, 2**256 - 1)),
        min_size=1,
        max_size=25,
    ),
    st.booleans(),
)
def test_standard_tree_equals_simple_tree_over_its_leaf_hashes(
    values: list[tuple[bytes, int]], sort_leaves: bool
) -> None:
    types = ["address", "uint256"]
    std = StandardMerkleTree.of(values, types, sort_leaves=sort_leaves)
    simple = SimpleMerkleTree.of([leaf_hash(types, v) for v in values], sort_leaves=sort_leaves)
    assert std.tree == simple.tree
    assert std.get_proof(len(values) - 1) == simple.get_proof(len(values) - 1)
    loaded = StandardMerkleTree.load(json.loads(json.dumps(std.dump())))
    assert loaded.root == std.root
    assert loaded.verify(values[0], std.get_proof(0))
