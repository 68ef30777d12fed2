"""RFC 9162 / RFC 6962 Merkle proofs checked by independent code: hashlib only, no server code.

- verify_inclusion   — RFC 9162 §2.1.3.2, step by step.
- verify_consistency — RFC 9162 §2.1.4.2, step by step.
- mth                — RFC 6962 §2.1 Merkle Tree Hash, the plain recursive definition.
- Tree               — the same MTH over a fixed list of leaves, fast for any prefix or range
                       (aligned perfect subtrees are precomputed), plus the reference PATH
                       (RFC 6962 §2.1.1) and PROOF/SUBPROOF (§2.1.2) that build proofs.

Hashes may be given as lowercase hex strings or raw bytes; they are compared as raw bytes.
Leaves are leaf *hashes* (the 0x00 prefix already applied), as EventfulDB's event `hash` is.

self_test() checks the verifiers against the reference proof builders (they must accept every
correct proof and reject every tampered one), so the verifier is known to work before it is
used to judge the server.
"""
import hashlib
import random

EMPTY = hashlib.sha256(b"").digest()


def _raw(h):
    """A 32-byte hash from hex or bytes; anything else is None (never an exception)."""
    if isinstance(h, (bytes, bytearray)):
        return bytes(h) if len(h) == 32 else None
    if isinstance(h, str) and len(h) == 64:
        try:
            return bytes.fromhex(h)
        except ValueError:
            return None
    return None


def node(left, right):
    """Interior node: SHA-256(0x01 || left || right), raw bytes."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n):
    """The largest power of two smaller than n (n >= 2)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(leaves):
    """RFC 6962 §2.1 over leaf hashes (hex or bytes); returns raw bytes. Plain recursion."""
    leaves = [_raw(x) for x in leaves]
    assert all(x is not None for x in leaves)

    def rec(d):
        if len(d) == 1:
            return d[0]
        k = _split(len(d))
        return node(rec(d[:k]), rec(d[k:]))
    return rec(leaves) if leaves else EMPTY


# --- verification (RFC 9162) ---------------------------------------------------------------------


def verify_inclusion(leaf_index, tree_size, leaf_hash, path, root):
    """RFC 9162 §2.1.3.2. True iff `path` proves leaf `leaf_index` (0-based) with hash `leaf_hash`
    is in the tree of `tree_size` leaves whose root is `root`."""
    if not (isinstance(leaf_index, int) and isinstance(tree_size, int) and isinstance(path, list)):
        return False
    r, want = _raw(leaf_hash), _raw(root)
    steps = [_raw(p) for p in path]
    if r is None or want is None or any(p is None for p in steps):
        return False
    # 1. leaf_index must be < tree_size.
    if leaf_index < 0 or leaf_index >= tree_size:
        return False
    # 2. fn = leaf_index, sn = tree_size - 1.  3. r = hash.
    fn, sn = leaf_index, tree_size - 1
    # 4. For each p in the inclusion path:
    for p in steps:
        if sn == 0:                                   # a.
            return False
        if fn & 1 or fn == sn:                        # b.
            r = node(p, r)                            #   i.
            if not fn & 1:                            #   ii.
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node(r, p)                            #   otherwise i.
        fn >>= 1                                      # c.
        sn >>= 1
    # 5. sn must be 0 and r the root.
    return sn == 0 and r == want


def verify_consistency(first, second, first_root, second_root, path):
    """RFC 9162 §2.1.4.2. True iff `path` proves the tree of `first` leaves with root `first_root`
    is a prefix of the tree of `second` leaves with root `second_root`.

    Sizes equal: the proof is empty and the roots must be equal (RFC 9162 §2.1.4.1's SUBPROOF(n, D[n],
    true) is empty; §2.1.4.2 step 1 leaves this case to the caller). first = 0 is rejected: the
    EventfulDB contract needs 1 <= from <= to."""
    if not (isinstance(first, int) and isinstance(second, int) and isinstance(path, list)):
        return False
    fh, sh = _raw(first_root), _raw(second_root)
    proof = [_raw(p) for p in path]
    if fh is None or sh is None or any(p is None for p in proof):
        return False
    if first < 1 or second < first:
        return False
    if first == second:
        return proof == [] and fh == sh
    # 1. An empty path fails.
    if not proof:
        return False
    # 2. If first is an exact power of 2, prepend first_hash.
    if first & (first - 1) == 0:
        proof = [fh] + proof
    # 3. fn = first - 1, sn = second - 1.
    fn, sn = first - 1, second - 1
    # 4. If LSB(fn) is set, right-shift fn and sn until it is not.
    while fn & 1:
        fn >>= 1
        sn >>= 1
    # 5. fr = sr = the first value of the path.
    fr = sr = proof[0]
    # 6. For each subsequent value c:
    for c in proof[1:]:
        if sn == 0:                                   # a.
            return False
        if fn & 1 or fn == sn:                        # b.
            fr = node(c, fr)                          #   i.
            sr = node(c, sr)                          #   ii.
            if not fn & 1:                            #   iii.
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node(sr, c)                          #   otherwise i.
        fn >>= 1                                      # c.
        sn >>= 1
    # 7. fr == first_hash, sr == second_hash, sn == 0.
    return fr == fh and sr == sh and sn == 0


# --- reference trees and proof builders (RFC 6962) -------------------------------------------------


class Tree:
    """Leaf hashes (hex or bytes) with every aligned perfect subtree precomputed, so that the MTH
    of any prefix or range costs O(log^2 n) hashes. Ranges that are not aligned perfect subtrees
    are computed by the recursive definition of §2.1, so the result is MTH by construction."""

    def __init__(self, leaves):
        level = [_raw(x) for x in leaves]
        assert all(x is not None for x in level), "leaf hashes must be 32 bytes"
        self.levels = [level]  # levels[l][i] = MTH(D[i*2^l : (i+1)*2^l])
        while len(level) > 1:
            level = [node(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
            self.levels.append(level)

    def __len__(self):
        return len(self.levels[0])

    def range_root(self, a, b):
        """MTH(D[a:b]), raw bytes, 0 <= a < b <= len."""
        assert 0 <= a < b <= len(self)
        n = b - a
        if n & (n - 1) == 0 and a % n == 0:
            return self.levels[n.bit_length() - 1][a // n]
        k = _split(n)
        return node(self.range_root(a, a + k), self.range_root(a + k, b))

    def root(self, n=None):
        """MTH of the first n leaves (default: all), raw bytes."""
        n = len(self) if n is None else n
        return self.range_root(0, n) if n else EMPTY

    def inclusion_path(self, m, n=None):
        """RFC 6962 §2.1.1 PATH(m, D[0:n]), list of raw hashes, leaf-side first."""
        n = len(self) if n is None else n
        assert 0 <= m < n <= len(self)

        def path(m, a, b):
            if b - a == 1:
                return []
            k = _split(b - a)
            if m < k:
                return path(m, a, a + k) + [self.range_root(a + k, b)]
            return path(m - k, a + k, b) + [self.range_root(a, a + k)]
        return path(m, 0, n)

    def consistency_path(self, m, n=None):
        """RFC 6962 §2.1.2 PROOF(m, D[0:n]) = SUBPROOF(m, D[0:n], true), list of raw hashes."""
        n = len(self) if n is None else n
        assert 1 <= m <= n <= len(self)

        def subproof(m, a, b, whole):
            if m == b - a:
                return [] if whole else [self.range_root(a, b)]
            k = _split(b - a)
            if m <= k:
                return subproof(m, a, a + k, whole) + [self.range_root(a + k, b)]
            return subproof(m - k, a + k, b, False) + [self.range_root(a, a + k)]
        return subproof(m, 0, n, True)


# --- self-test ---------------------------------------------------------------------------------


def _flip(h):
    return bytes([h[0] ^ 1]) + h[1:]


def self_test(max_size=40, seed=9162):
    """The verifiers accept every reference proof and reject tampered ones; Tree agrees with mth."""
    rng = random.Random(seed)
    leaves = [hashlib.sha256(b"\x00" + i.to_bytes(4, "big")).digest() for i in range(max_size)]
    tree = Tree(leaves)
    other = hashlib.sha256(b"\x00other").digest()

    # RFC 6962 shapes, written out by hand: split at the largest power of two, no duplication.
    a, b, c, d, e = leaves[:5]
    assert mth([]) == EMPTY == tree.root(0)
    assert mth([a]) == a
    assert mth([a, b, c]) == node(node(a, b), c)
    assert mth([a, b, c, d, e]) == node(node(node(a, b), node(c, d)), e)
    assert mth([x.hex() for x in leaves[:7]]) == mth(leaves[:7])

    for n in range(1, max_size + 1):
        root = tree.root(n)
        assert root == mth(leaves[:n]), n
        for m in range(n):
            p = tree.inclusion_path(m, n)
            assert verify_inclusion(m, n, leaves[m], p, root), (m, n)
            assert verify_inclusion(m, n, leaves[m].hex(), [x.hex() for x in p], root.hex())
            assert not verify_inclusion(m, n, other, p, root)
            assert not verify_inclusion(m, n, leaves[m], p, _flip(root))
            assert not verify_inclusion(m, n, leaves[m], p + [other], root)
            assert not verify_inclusion(m, n, leaves[m], p + [leaves[0]], root)
            assert not verify_inclusion(n, n, leaves[m], p, root)
            assert not verify_inclusion(-1, n, leaves[m], p, root)
            for i in range(len(p)):
                assert not verify_inclusion(m, n, leaves[m], p[:i] + [_flip(p[i])] + p[i + 1:], root)
                assert not verify_inclusion(m, n, leaves[m], p[:i] + p[i + 1:], root)
            if len(p) >= 2:
                assert not verify_inclusion(m, n, leaves[m], p[::-1], root)
            for m2 in range(n):  # the path of one index does not prove another
                if m2 != m:
                    assert not verify_inclusion(m2, n, leaves[m], p, root)
            for n2 in (n - 1, n + 1):  # nor the leaf in a tree of another size
                if m < n2 <= max_size and tree.inclusion_path(m, n2) != p:
                    assert not verify_inclusion(m, n2, leaves[m], p, tree.root(n2))
        for m in range(1, n + 1):
            p = tree.consistency_path(m, n)
            fr = tree.root(m)
            assert verify_consistency(m, n, fr, root, p), (m, n)
            assert verify_consistency(m, n, fr.hex(), root.hex(), [x.hex() for x in p])
            assert not verify_consistency(m, n, _flip(fr), root, p), (m, n)
            assert not verify_consistency(m, n, fr, _flip(root), p)
            assert not verify_consistency(m, n, fr, root, p + [other])
            assert not verify_consistency(n, m, fr, root, p) or m == n
            assert not verify_consistency(0, n, fr, root, p)
            for i in range(len(p)):
                assert not verify_consistency(m, n, fr, root, p[:i] + [_flip(p[i])] + p[i + 1:])
                assert not verify_consistency(m, n, fr, root, p[:i] + p[i + 1:])
            if m < n:
                # the proof does not carry over to other sizes or to a rewritten history
                rewritten = Tree(leaves[:m - 1] + [other] + leaves[m:n])
                assert not verify_consistency(m, n, rewritten.root(m), root, p)
                assert not verify_consistency(m, n, fr, rewritten.root(n), p)
                for m2 in (m - 1, m + 1):
                    if 1 <= m2 < n:
                        assert not verify_consistency(m2, n, tree.root(m2), root, p) or \
                            tree.consistency_path(m2, n) == p
    # A proof that ends before the second tree's right edge is reached (sn != 0 after the last
    # step) is rejected even though fr and sr match: PROOF(3, D[4]) is no proof for size 5.
    assert not verify_consistency(3, 5, tree.root(3), tree.root(4), tree.consistency_path(3, 4))
    # malformed input is a rejection, not an exception
    root = tree.root(5)
    p = tree.inclusion_path(2, 5)
    assert not verify_inclusion(2, 5, leaves[2], [x.hex()[:-1] for x in p], root)
    assert not verify_inclusion(2, 5, leaves[2], [x.hex() + "00" for x in p], root)
    assert not verify_inclusion("2", 5, leaves[2], p, root)
    assert not verify_inclusion(2, 5, None, p, root)
    assert not verify_consistency(3, 5, tree.root(3), root, "not a list")
    # Tree on larger, random sizes agrees with the plain recursion.
    big = [hashlib.sha256(bytes([i % 256, i // 256])).digest() for i in range(1500)]
    big_tree = Tree(big)
    for _ in range(30):
        n = rng.randint(1, len(big))
        assert big_tree.root(n) == mth(big[:n])
        m = rng.randint(1, n)
        assert verify_consistency(m, n, big_tree.root(m), big_tree.root(n), big_tree.consistency_path(m, n))
        i = rng.randrange(n)
        assert verify_inclusion(i, n, big[i], big_tree.inclusion_path(i, n), big_tree.root(n))
    return True


def test_rfc9162_verifier_accepts_reference_proofs_and_rejects_tampered_ones():
    assert self_test()


if __name__ == "__main__":
    self_test()
    print("rfc9162 self-test ok")
