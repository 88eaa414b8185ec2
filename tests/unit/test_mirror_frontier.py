"""The mirror's compact range gives the RFC 9162 root of every size, however the leaves arrive."""

from __future__ import annotations

import hashlib

from ledger.proofs import leaf_hash, node_hash
from ledger.service.mirror import Frontier


def rfc9162_root(leaves: list[bytes]) -> bytes:
    """MTH of RFC 9162 §2.1.1, written as the RFC states it."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return node_hash(rfc9162_root(leaves[:k]), rfc9162_root(leaves[k:]))


def test_every_size_up_to_70_and_a_copy_grows_on_its_own():
    leaves = [leaf_hash(bytes([n]) * 32) for n in range(70)]
    frontier = Frontier()
    assert frontier.root() == rfc9162_root([])
    for size, leaf in enumerate(leaves, 1):
        frontier.push(leaf)
        assert frontier.size == size and frontier.root() == rfc9162_root(leaves[:size])
    kept = frontier.copy()
    frontier.push(leaves[0])
    assert kept.root() == rfc9162_root(leaves) and frontier.root() == rfc9162_root(leaves + leaves[:1])
