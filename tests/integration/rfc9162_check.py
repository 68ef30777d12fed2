"""RFC 9162 §2.1.3.2 / §2.1.4.2 proof verification, written from the RFC with hashlib only.

Used by test_tamper.py to check PROOF and CONSISTENCY replies against tree heads that a client
remembered before the store was tampered with. Deliberately independent of the server's code and
of the other test helpers. Hashes are lowercase hex strings in, booleans out.
"""
import hashlib


def _node(left, right):
    return hashlib.sha256(b"\x01" + left + right).digest()


def _decode(hexes):
    try:
        return [bytes.fromhex(h) for h in hexes]
    except (TypeError, ValueError):
        return None


def verify_inclusion(leaf_index, tree_size, leaf_hash, path, root):
    """§2.1.3.2: does `path` prove that `leaf_hash` is leaf `leaf_index` of the tree `root` of
    `tree_size` leaves?"""
    decoded = _decode([leaf_hash, root, *path])
    if decoded is None or leaf_index >= tree_size:
        return False
    r, expected_root, proof = decoded[0], decoded[1], decoded[2:]
    fn, sn = leaf_index, tree_size - 1
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = _node(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = _node(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == expected_root


def verify_consistency(first, second, first_root, second_root, path):
    """§2.1.4.2: does `path` prove that the tree `second_root` of `second` leaves extends the tree
    `first_root` of `first` leaves? (first == second: the empty proof and equal roots.)"""
    decoded = _decode([first_root, second_root, *path])
    if decoded is None or first < 1 or first > second:
        return False
    first_hash, second_hash, proof = decoded[0], decoded[1], decoded[2:]
    if first == second:
        return not proof and first_hash == second_hash
    if not proof:
        return False
    if first & (first - 1) == 0:  # an exact power of two
        proof = [first_hash] + proof
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = proof[0]
    for c in proof[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = _node(c, fr)
            sr = _node(c, sr)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = _node(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == first_hash and sr == second_hash and sn == 0
