"""RFC 9162 §2.1 Merkle hash trees: roots, inclusion and consistency proofs.

The tree is the one Certificate Transparency, Rekor and the Go checksum
database use: ``MTH({}) = SHA-256()``, a leaf is ``SHA-256(0x00 || input)``,
an inner node ``SHA-256(0x01 || left || right)``, and a tree of n > 1 leaves
splits at k, the largest power of two below n. In a session's tree leaf i is
the event with seq i+1 and its input is the 32 raw bytes of that event's
chain ``hash``.

`Frontier` keeps the tree incrementally (the roots of its perfect subtrees:
O(log n) hashes, amortised two hashes per appended leaf). Proofs are built
over any ``subtree(lo, hi)`` function (`Subtrees` serves them from stored
tiles plus leaves, so a proof in a large tree reads a few hundred hashes);
verification follows the RFC's algorithms (§2.1.3.2, §2.1.4.2) exactly and
needs nothing but the proof, the sizes and the roots.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence

_sha = hashlib.sha256
EMPTY_ROOT = _sha(b"").digest()
TILE_HEIGHT = 8  # a stored tile is a perfect subtree of 2**8 leaves (or 2**16, 2**24...)


def leaf_hash(data: bytes) -> bytes:
    return _sha(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return _sha(b"\x01" + left + right).digest()


def split_point(n: int) -> int:
    """k: the largest power of two smaller than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


class Frontier:
    """The compact state of a growing tree: one root per perfect subtree,
    largest (leftmost) first. ``append`` costs one leaf hash plus one node
    hash per subtree it completes; ``root`` folds the subtrees right to left.
    """

    __slots__ = ("size", "_nodes")

    def __init__(self, size: int = 0, nodes: Sequence[bytes] = ()) -> None:
        if len(nodes) != size.bit_count():
            raise ValueError(
                f"a tree of {size} leaves has {size.bit_count()} subtrees, not {len(nodes)}"
            )
        self.size = size
        self._nodes = list(nodes)

    def copy(self) -> Frontier:
        return Frontier(self.size, self._nodes)

    def append(self, leaf: bytes, on_node: Callable[[int, int, bytes], None] | None = None) -> None:
        """Add one leaf hash. ``on_node(height, index, hash)`` hears of every
        perfect subtree of height h >= 1 completed (index = first leaf >> h)."""
        nodes = self._nodes
        h = leaf
        n = self.size
        height = 0
        while n & 1:
            h = _sha(b"\x01" + nodes.pop() + h).digest()
            n >>= 1
            height += 1
            if on_node is not None:
                on_node(height, self.size >> height, h)
        nodes.append(h)
        self.size += 1

    def extend(self, leaves: Iterable[bytes]) -> None:
        for leaf in leaves:
            self.append(leaf)

    def root(self) -> bytes:
        nodes = self._nodes
        if not nodes:
            return EMPTY_ROOT
        r = nodes[-1]
        for h in reversed(nodes[:-1]):
            r = _sha(b"\x01" + h + r).digest()
        return r

    @property
    def nodes(self) -> tuple[bytes, ...]:
        return tuple(self._nodes)


def root_of(leaves: Iterable[bytes]) -> bytes:
    """MTH over leaf hashes."""
    f = Frontier()
    f.extend(leaves)
    return f.root()


Subtree = Callable[[int, int], bytes]  # (lo, hi) -> MTH of leaves lo..hi-1


def inclusion_path(index: int, size: int, subtree: Subtree) -> list[bytes]:
    """PATH(index, D[size]) of RFC 9162 §2.1.3.1, leaf-side first."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of {size}")
    path: list[bytes] = []
    lo, hi = 0, size
    while hi - lo > 1:
        k = split_point(hi - lo)
        if index < lo + k:
            path.append(subtree(lo + k, hi))
            hi = lo + k
        else:
            path.append(subtree(lo, lo + k))
            lo += k
    path.reverse()
    return path


def consistency_proof(old: int, new: int, subtree: Subtree) -> list[bytes]:
    """PROOF(old, D[new]) of RFC 9162 §2.1.4.1 (SUBPROOF with b = true)."""
    if not 0 < old <= new:
        raise ValueError(f"no consistency proof from size {old} to {new}")
    proof: list[bytes] = []
    lo, hi, m, complete = 0, new, old, True
    while m != hi - lo:
        k = split_point(hi - lo)
        if m <= k:
            proof.append(subtree(lo + k, hi))
            hi = lo + k
        else:
            proof.append(subtree(lo, lo + k))
            lo += k
            m -= k
            complete = False
    if not complete:
        proof.append(subtree(lo, hi))
    proof.reverse()
    return proof


def root_from_inclusion(index: int, size: int, leaf: bytes, path: Sequence[bytes]) -> bytes | None:
    """RFC 9162 §2.1.3.2: the root the path leads to, or None if it cannot be a path."""
    if not 0 <= index < size:
        return None
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return r if sn == 0 else None


def verify_inclusion(
    index: int, size: int, leaf: bytes, path: Sequence[bytes], root: bytes
) -> bool:
    return root_from_inclusion(index, size, leaf, path) == root


def verify_consistency(
    old: int, new: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """RFC 9162 §2.1.4.2. Equal sizes need an empty proof and equal roots."""
    if not 0 < old <= new:
        return False
    if old == new:
        return not proof and old_root == new_root
    if not proof:
        return False
    path = list(proof)
    if old & (old - 1) == 0:  # an exact power of two: the old root is a node of the new tree
        path.insert(0, old_root)
    fn, sn = old - 1, new - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == old_root and sr == new_root


class Subtrees:
    """MTH of any range, from stored tiles where they exist and leaves elsewhere.

    ``leaves(lo, hi)`` returns the leaf hashes of leaves lo..hi-1; ``tiles``
    maps (height, index) to the stored root of the perfect subtree of height
    h starting at leaf index << h. A tile is only a shortcut: a wrong one
    yields a proof that fails verification against the signed root (the
    prover checks its proof before handing it out), never a false pass.
    """

    def __init__(
        self,
        leaves: Callable[[int, int], list[bytes]],
        tiles: dict[tuple[int, int], bytes],
        size: int | None = None,
    ) -> None:
        self._leaves = leaves
        self._tiles = tiles
        self._memo: dict[tuple[int, int], bytes] = {}
        self._size = size  # known: leaves are read a whole tile at a time
        self._tile_leaves: dict[int, list[bytes]] = {}

    def leaves(self, lo: int, hi: int) -> list[bytes]:
        span = 1 << TILE_HEIGHT
        t = lo // span
        if self._size is None or hi > self._size or (hi - 1) // span != t:
            return self._leaves(lo, hi)
        cached = self._tile_leaves.get(t)
        if cached is None:
            cached = self._tile_leaves[t] = self._leaves(t * span, min(t * span + span, self._size))
        return cached[lo - t * span : hi - t * span]

    def __call__(self, lo: int, hi: int) -> bytes:
        n = hi - lo
        if n <= 0:
            return EMPTY_ROOT
        key = (lo, hi)
        memo = self._memo.get(key)
        if memo is not None:
            return memo
        if n & (n - 1) == 0 and lo % n == 0:
            height = n.bit_length() - 1
            tile = self._tiles.get((height, lo >> height))
            if tile is not None:
                return tile
        if n <= 1 << TILE_HEIGHT:
            r = root_of(self.leaves(lo, hi))
        else:
            k = split_point(n)
            r = node_hash(self(lo, lo + k), self(lo + k, hi))
        self._memo[key] = r
        return r

    def frontier(self, size: int) -> Frontier:
        """The incremental state of the first ``size`` leaves."""
        nodes, lo = [], 0
        for bit in reversed(range(size.bit_length())):
            if size >> bit & 1:
                nodes.append(self(lo, lo + (1 << bit)))
                lo += 1 << bit
        return Frontier(size, nodes)
