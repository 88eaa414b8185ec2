"""RFC 9162 proofs: generated over pymerkle's tree, checked by the offline verifier."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pymerkle import InmemoryTree

from ledger.errors import ProofInvalid
from ledger.log import LogTree, SubrootCache, leaf_hash
from ledger.proofs import verify_consistency, verify_inclusion


class MemoryLog(LogTree):
    """The ledger's tree with its storage hooks over a list instead of a table."""

    def __init__(self, entries: list[bytes]) -> None:
        self.entries = entries
        cache = SubrootCache()
        cache.settle(len(entries))
        super().__init__(connection=None, cache=cache)

    def _get_leaf(self, index):
        return leaf_hash(self.entries[index - 1])

    def _get_leaves(self, offset, width):
        return [leaf_hash(e) for e in self.entries[offset:offset + width]]

    def _get_size(self):
        return len(self.entries)


def entries(n: int) -> list[bytes]:
    return [hashlib.sha256(str(i).encode()).digest() for i in range(n)]


@pytest.mark.parametrize("size", [1, 2, 3, 7, 8, 9, 130, 257])
def test_roots_and_audit_paths_agree_with_pymerkle(size):
    data = entries(size)
    ours = MemoryLog(data)
    reference = InmemoryTree()
    for entry in data:
        reference.append_entry(entry)
    assert ours.get_root() == reference.get_root()
    for index in range(0, size, max(1, size // 9)):
        expected = reference.prove_inclusion(index + 1, size).path[1:]
        assert ours.inclusion_path(index, size) == expected


@settings(max_examples=150, deadline=None)
@given(st.integers(1, 300), st.data())
def test_every_inclusion_proof_verifies(size, data):
    tree = MemoryLog(entries(size))
    index = data.draw(st.integers(0, size - 1))
    path = tree.inclusion_path(index, size)
    verify_inclusion(leaf_hash(tree.entries[index]), index, size, path, tree.get_root(size))


@settings(max_examples=150, deadline=None)
@given(st.integers(1, 300), st.data())
def test_consistency_holds_between_every_pair_of_sizes(size, data):
    tree = MemoryLog(entries(size))
    old = data.draw(st.integers(1, size))
    path = tree.consistency_path(old, size)
    verify_consistency(old, size, tree.get_root(old), tree.get_root(size), path)


@settings(max_examples=100, deadline=None)
@given(st.integers(2, 200), st.data())
def test_a_tampered_inclusion_proof_fails(size, data):
    tree = MemoryLog(entries(size))
    index = data.draw(st.integers(0, size - 1))
    path = tree.inclusion_path(index, size)
    root = tree.get_root(size)
    which = data.draw(st.integers(0, len(path) - 1))
    bad = list(path)
    bad[which] = bytes([bad[which][0] ^ 1]) + bad[which][1:]
    with pytest.raises(ProofInvalid):
        verify_inclusion(leaf_hash(tree.entries[index]), index, size, bad, root)
    other = (index + 1) % size
    with pytest.raises(ProofInvalid):
        verify_inclusion(leaf_hash(tree.entries[other]), index, size, path, root)
    with pytest.raises(ProofInvalid):
        verify_inclusion(leaf_hash(tree.entries[index]), index, size, path[:-1], root)


@settings(max_examples=100, deadline=None)
@given(st.integers(3, 200), st.data())
def test_a_forked_history_is_not_consistent(size, data):
    honest = entries(size)
    old = data.draw(st.integers(1, size - 1))
    forked = list(honest)
    forked[data.draw(st.integers(0, old - 1))] = b"\x00" * 32
    old_tree, new_tree = MemoryLog(forked), MemoryLog(honest)
    path = new_tree.consistency_path(old, size)
    with pytest.raises(ProofInvalid):
        verify_consistency(old, size, old_tree.get_root(old), new_tree.get_root(size), path)


def test_large_subtrees_are_split_so_memory_stays_bounded():
    tree = MemoryLog(entries(40_000))
    reference = InmemoryTree()
    for entry in tree.entries:
        reference.append_entry(entry)
    assert tree.get_root() == reference.get_root()
