"""INTEGRITY.md computed independently of the server: hashlib and json only.

The tests check the server's hashes and roots against this model, never against the server's own
code.
"""
import hashlib
import json

EMPTY_ROOT = hashlib.sha256(b"").hexdigest()


def canonical(event):
    """JCS of the event without position and hash, as UTF-8 bytes."""
    body = {k: v for k, v in event.items() if k not in ("position", "hash")}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def leaf_hash(event):
    """SHA-256(0x00 || canonical), lowercase hex."""
    return hashlib.sha256(b"\x00" + canonical(event)).hexdigest()


def merkle_root(leaf_hexes):
    """RFC 6962 §2.1 Merkle Tree Hash over already-hashed leaves (hex in, hex out)."""
    def mth(leaves):
        if len(leaves) == 1:
            return leaves[0]
        k = 1
        while k * 2 < len(leaves):
            k *= 2
        return hashlib.sha256(b"\x01" + mth(leaves[:k]) + mth(leaves[k:])).digest()
    if not leaf_hexes:
        return EMPTY_ROOT
    return mth([bytes.fromhex(h) for h in leaf_hexes]).hex()
