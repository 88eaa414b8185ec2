"""RFC 9162 Merkle trees and proofs against vectors published with other implementations.

The vectors are in golden/rfc9162.json, taken from transparency-dev/merkle (its "about"
names the commit and paths): the hasher vectors of rfc6962/rfc6962_test.go, the eight-leaf
test tree of testonly/constants.go with its roots, and every inclusion and consistency probe
of testdata/, each naming its own file. A probe says whether a verifier must accept it.
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest

from ledger.errors import ProofInvalid
from ledger.proofs import leaf_hash, node_hash, verify_consistency, verify_inclusion
from tests.unit.test_proofs import MemoryLog

VECTORS = json.loads((Path(__file__).parent / "golden" / "rfc9162.json").read_text(encoding="utf-8"))
LEAVES = [bytes.fromhex(entry) for entry in VECTORS["leaf_inputs_hex"]]
ROOTS = [bytes.fromhex(root) for root in VECTORS["roots_hex"]]


def b64(value: str | None) -> bytes:
    return base64.b64decode(value or "")


def test_the_hashes_are_rfc6962_hashes():
    hasher = {name: bytes.fromhex(value) for name, value in VECTORS["hasher"].items()}
    assert hashlib.sha256(b"").digest() == hasher["empty_root"]
    assert leaf_hash(b"") == hasher["empty_leaf"]
    assert leaf_hash(b"L123456") == hasher["leaf_L123456"]
    assert node_hash(b"N123", b"N456") == hasher["node_N123_N456"]


@pytest.mark.parametrize("size", range(1, len(LEAVES) + 1))
def test_the_log_tree_has_the_reference_roots(size):
    assert MemoryLog(LEAVES[:size]).get_root(size) == ROOTS[size]


def _id(vector: dict) -> str:
    return vector["source"].removeprefix("testdata/")


@pytest.mark.parametrize("vector", VECTORS["inclusion"], ids=_id)
def test_inclusion_probes_are_judged_as_the_reference_judges_them(vector):
    def check():
        verify_inclusion(b64(vector["leafHash"]), vector["leafIdx"], vector["treeSize"],
                         [b64(node) for node in vector["proof"] or []], b64(vector["root"]))

    if vector["wantErr"]:
        with pytest.raises(ProofInvalid):
            check()
    else:
        check()


# Where we refuse what the reference accepts, and why.
STRICTER = {
    "testdata/consistency/additional/sizes-are-equal-one-and-proof-is-empty.json":
        "its equal roots are 12-byte placeholders; every root here is a 32-byte SHA-256",
}


@pytest.mark.parametrize("vector", VECTORS["consistency"], ids=_id)
def test_consistency_probes_are_judged_as_the_reference_judges_them(vector):
    def check():
        verify_consistency(vector["size1"], vector["size2"], b64(vector["root1"]), b64(vector["root2"]),
                           [b64(node) for node in vector["proof"] or []])

    if vector["source"] in STRICTER:
        with pytest.raises(ProofInvalid, match="not 32 bytes"):
            check()
        verify_consistency(vector["size1"], vector["size2"], ROOTS[1], ROOTS[1], [])
    elif vector["wantErr"]:
        with pytest.raises(ProofInvalid):
            check()
    else:
        check()


HAPPY_INCLUSION = [v for v in VECTORS["inclusion"] if not v["wantErr"] and v["treeSize"] <= len(LEAVES)
                   and b64(v["root"]) == ROOTS[v["treeSize"]]]
HAPPY_CONSISTENCY = [v for v in VECTORS["consistency"] if not v["wantErr"] and 0 < v["size1"] < v["size2"] <= len(LEAVES)]


@pytest.mark.parametrize("vector", HAPPY_INCLUSION, ids=_id)
def test_our_inclusion_paths_are_the_reference_paths(vector):
    tree = MemoryLog(LEAVES)
    path = tree.inclusion_path(vector["leafIdx"], vector["treeSize"])
    assert path == [b64(node) for node in vector["proof"] or []]
    assert leaf_hash(LEAVES[vector["leafIdx"]]) == b64(vector["leafHash"])


@pytest.mark.parametrize("vector", HAPPY_CONSISTENCY, ids=_id)
def test_our_consistency_paths_are_the_reference_paths(vector):
    tree = MemoryLog(LEAVES)
    assert tree.consistency_path(vector["size1"], vector["size2"]) == [b64(node) for node in vector["proof"]]


def test_an_empty_root_and_leaf_are_not_a_proof():
    # testdata/inclusion/single-entry/empty-root-and-leaf.json: b"" == b"" must not pass for a root.
    with pytest.raises(ProofInvalid, match="not 32 bytes"):
        verify_inclusion(b"", 0, 1, [], b"")
    with pytest.raises(ProofInvalid, match="not 32 bytes"):
        verify_consistency(1, 1, b"", b"", [])
