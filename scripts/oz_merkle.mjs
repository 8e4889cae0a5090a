#!/usr/bin/env node
// Reference output of @openzeppelin/merkle-tree, used by tests/unit/test_merkle.py to cross-check
// ledger/merkle.py byte for byte.
//
// stdin: one JSON case or a JSON array of cases; stdout: one result or an array of results.
//
// case:   {"kind"?: "standard" | "simple",          (default "standard")
//          "types"?: [...], "values"?: [...],        (build with .of(values, types, {sortLeaves}))
//          "sortLeaves"?: bool,                      (default true)
//          "dump"?: {...},                           (instead: .load(dump), which validates it)
//          "indices"?: [[valueIndex, ...], ...]}     (multiproofs to produce)
// result: {"root", "leafHashes", "proofs" (per value index), "multiproofs", "dump", "render",
//          "verified": every proof and multiproof checks with the static verify functions}
// A case that throws yields {"error": "<message>"}.
//
// The package is CommonJS; its default export carries the named classes.
import merkle from '@openzeppelin/merkle-tree';

const { StandardMerkleTree, SimpleMerkleTree } = merkle;

function runCase(c) {
  const kind = c.kind ?? 'standard';
  const Tree = kind === 'simple' ? SimpleMerkleTree : StandardMerkleTree;
  let tree;
  if (c.dump !== undefined) {
    tree = Tree.load(c.dump);
  } else if (kind === 'simple') {
    tree = SimpleMerkleTree.of(c.values, { sortLeaves: c.sortLeaves ?? true });
  } else {
    tree = StandardMerkleTree.of(c.values, c.types, { sortLeaves: c.sortLeaves ?? true });
  }
  const dump = tree.dump();
  const values = dump.values.map(v => v.value);
  const proofs = values.map((_, i) => tree.getProof(i));
  const multiproofs = (c.indices ?? []).map(ix => tree.getMultiProof(ix));

  let verified = true;
  for (const [i, value] of values.entries()) {
    const ok =
      kind === 'simple'
        ? SimpleMerkleTree.verify(tree.root, value, proofs[i])
        : StandardMerkleTree.verify(tree.root, dump.leafEncoding, value, proofs[i]);
    verified &&= ok && tree.verify(i, proofs[i]);
  }
  for (const mp of multiproofs) {
    const ok =
      kind === 'simple'
        ? SimpleMerkleTree.verifyMultiProof(tree.root, mp)
        : StandardMerkleTree.verifyMultiProof(tree.root, dump.leafEncoding, mp);
    verified &&= ok && tree.verifyMultiProof(mp);
  }

  return {
    root: tree.root,
    leafHashes: values.map(v => tree.leafHash(v)),
    proofs,
    multiproofs,
    dump,
    render: tree.render(),
    verified,
  };
}

function safeRun(c) {
  try {
    return runCase(c);
  } catch (e) {
    return { error: String(e?.message ?? e) };
  }
}

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const input = JSON.parse(Buffer.concat(chunks).toString('utf8'));
const output = Array.isArray(input) ? input.map(safeRun) : safeRun(input);
process.stdout.write(JSON.stringify(output));
