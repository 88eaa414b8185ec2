"""Offline checks of RFC 9162 Merkle proofs, needing nothing but hashes.

``verify_inclusion`` follows RFC 9162 §2.1.3.2 and ``verify_consistency``
§2.1.4.2 step by step; both raise ``ProofInvalid`` and never return False.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

from .errors import ProofInvalid

__all__ = ["leaf_hash", "node_hash", "verify_inclusion", "verify_consistency"]

_SIZE = hashlib.sha256().digest_size


def leaf_hash(entry: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _sha256_sized(*hashes: bytes) -> None:
    # An empty or short "hash" must not match another one: compare only real digests.
    if any(len(value) != _SIZE for value in hashes):
        raise ProofInvalid("a hash in the proof is not 32 bytes")


def verify_inclusion(leaf: bytes, index: int, size: int, path: Sequence[bytes], root: bytes) -> None:
    """Check that ``leaf`` (a leaf hash) sits at ``index`` in the tree of ``size`` with ``root``."""
    _sha256_sized(leaf, root, *path)
    if not 0 <= index < size:
        raise ProofInvalid(f"leaf index {index} is outside a tree of size {size}")
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            raise ProofInvalid("the inclusion proof is longer than the tree is deep")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn & 1 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofInvalid("the inclusion proof is shorter than the tree is deep")
    if not hmac.compare_digest(r, root):
        raise ProofInvalid(f"the inclusion proof of leaf {index} does not lead to the checkpoint's root")


def verify_consistency(old_size: int, new_size: int, old_root: bytes, new_root: bytes, path: Sequence[bytes]) -> None:
    """Check that the tree of ``new_size`` with ``new_root`` extends the one of ``old_size`` with ``old_root``."""
    _sha256_sized(old_root, new_root, *path)
    if not 0 < old_size <= new_size:
        raise ProofInvalid(f"no consistency between sizes {old_size} and {new_size}")
    if old_size == new_size:
        if path or not hmac.compare_digest(old_root, new_root):
            raise ProofInvalid("equal tree sizes must have equal roots and an empty proof")
        return
    if not path:
        raise ProofInvalid("the consistency proof is empty")
    proof = list(path)
    if old_size & (old_size - 1) == 0:  # a power of two: the old root is the first node
        proof.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = proof[0]
    for c in proof[1:]:
        if sn == 0:
            raise ProofInvalid("the consistency proof is too long")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn & 1 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofInvalid("the consistency proof is too short")
    if not hmac.compare_digest(fr, old_root):
        raise ProofInvalid(f"the consistency proof does not reproduce the root at size {old_size}")
    if not hmac.compare_digest(sr, new_root):
        raise ProofInvalid(f"the consistency proof does not reproduce the root at size {new_size}")
