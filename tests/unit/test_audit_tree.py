"""The audit's Merkle roots, from chunk roots and a partial tail, equal RFC 9162's as pymerkle computes them."""

from __future__ import annotations

import hashlib

import pytest
from pymerkle import InmemoryTree

from ledger.audit import CHUNK, _root_at, merkle_root


def leaf(n: int) -> bytes:
    return hashlib.sha256(b"\x00" + n.to_bytes(4, "big")).digest()


@pytest.fixture(scope="module")
def reference():
    tree = InmemoryTree(algorithm="sha256")
    for n in range(3 * CHUNK + 300):
        tree.append_entry(n.to_bytes(4, "big"))
    return tree


@pytest.mark.parametrize("size", [1, 2, 3, 7, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK, 2 * CHUNK + 5, 3 * CHUNK + 300])
def test_the_root_at_any_size_is_rebuilt_from_the_chunk_roots_and_the_tail(reference, size):
    leaves = [leaf(n) for n in range(size)]
    base = size - size % CHUNK
    chunks = {start: merkle_root(leaves, start, start + CHUNK) for start in range(0, base, CHUNK)}
    expected = reference.get_root(size)
    assert merkle_root(leaves) == expected
    assert _root_at(size, chunks, leaves[base:], {}) == expected


def test_a_changed_chunk_root_changes_the_root(reference):
    size = 2 * CHUNK + 5
    leaves = [leaf(n) for n in range(size)]
    chunks = {0: merkle_root(leaves, 0, CHUNK), CHUNK: hashlib.sha256(b"edited").digest()}
    assert _root_at(size, chunks, leaves[2 * CHUNK:], {}) != reference.get_root(size)
