"""RFC 9162 Merkle trees: known answers computed here from the RFC's own
recursive definitions (MTH, PATH, SUBPROOF), checked against the published
RFC 6962/9162 test vectors, then the production code (incremental frontier,
iterative proofs over tiles, the RFC's verification algorithms) against
them for every small tree, plus bit flips and wrong sizes."""

from __future__ import annotations

import hashlib
import random

import pytest

from overseer.log import merkle

sha = hashlib.sha256


# -- the RFC's definitions, written out independently of overseer.log.merkle --


def k_of(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(d: list[bytes]) -> bytes:
    """RFC 9162 §2.1.1 over the leaf inputs d."""
    if not d:
        return sha(b"").digest()
    if len(d) == 1:
        return sha(b"\x00" + d[0]).digest()
    k = k_of(len(d))
    return sha(b"\x01" + mth(d[:k]) + mth(d[k:])).digest()


def path(m: int, d: list[bytes]) -> list[bytes]:
    """RFC 9162 §2.1.3.1 PATH(m, D[n])."""
    if len(d) == 1:
        return []
    k = k_of(len(d))
    if m < k:
        return path(m, d[:k]) + [mth(d[k:])]
    return path(m - k, d[k:]) + [mth(d[:k])]


def subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
    """RFC 9162 §2.1.4.1 SUBPROOF(m, D[n], b)."""
    if m == len(d):
        return [] if b else [mth(d)]
    k = k_of(len(d))
    if m <= k:
        return subproof(m, d[:k], b) + [mth(d[k:])]
    return subproof(m - k, d[k:], False) + [mth(d[:k])]


# The RFC 6962 test vectors (certificate-transparency's reference data).
LEAVES = [bytes.fromhex(x) for x in ("", "00", "10", "2021", "3031", "40414243",
                                      "5051525354555657", "606162636465666768696a6b6c6d6e6f")]  # fmt: skip
ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
INCLUSION_5_OF_8 = ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]  # fmt: skip
CONSISTENCY_6_TO_8 = ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                      "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]  # fmt: skip
CONSISTENCY_2_TO_5 = ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                      "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]  # fmt: skip


def h(xs: list[str]) -> list[bytes]:
    return [bytes.fromhex(x) for x in xs]


def test_the_reference_definitions_give_the_published_vectors():
    assert mth([]).hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert [mth(LEAVES[: i + 1]).hex() for i in range(8)] == ROOTS
    assert path(5, LEAVES) == h(INCLUSION_5_OF_8)
    assert subproof(6, LEAVES, True) == h(CONSISTENCY_6_TO_8)
    assert subproof(2, LEAVES[:5], True) == h(CONSISTENCY_2_TO_5)


def test_frontier_roots_match_the_definition_at_every_size():
    data = [sha(bytes([i % 256, i // 256])).digest() for i in range(300)]
    f = merkle.Frontier()
    assert f.root() == mth([])
    for n in range(1, len(data) + 1):
        f.append(merkle.leaf_hash(data[n - 1]))
        assert f.root() == mth(data[:n]), n
        assert len(f.nodes) == n.bit_count()


def test_frontier_reports_the_perfect_subtrees_it_completes():
    data = [bytes([i]) for i in range(20)]
    seen = {}
    f = merkle.Frontier()
    for x in data:
        f.append(merkle.leaf_hash(x), lambda ht, idx, node: seen.__setitem__((ht, idx), node))
    for (ht, idx), node in seen.items():
        lo = idx << ht
        assert node == mth(data[lo : lo + (1 << ht)])
    assert (4, 0) in seen and (2, 4) in seen and (4, 1) not in seen


def subtree_over(data: list[bytes], tiles: dict | None = None) -> merkle.Subtrees:
    leaves = [merkle.leaf_hash(x) for x in data]
    return merkle.Subtrees(lambda lo, hi: leaves[lo:hi], tiles or {})


def test_inclusion_paths_match_the_definition_and_verify():
    data = [bytes([i]) * 3 for i in range(40)]
    for n in range(1, len(data) + 1):
        st = subtree_over(data[:n])
        root = mth(data[:n])
        for m in range(n):
            p = merkle.inclusion_path(m, n, st)
            assert p == path(m, data[:n]), (m, n)
            assert merkle.verify_inclusion(m, n, merkle.leaf_hash(data[m]), p, root)


def test_consistency_proofs_match_the_definition_and_verify():
    data = [bytes([i]) * 2 for i in range(40)]
    for n in range(1, len(data) + 1):
        st = subtree_over(data[:n])
        for m in range(1, n + 1):
            p = merkle.consistency_proof(m, n, st)
            assert p == subproof(m, data[:n], True), (m, n)
            assert merkle.verify_consistency(m, n, mth(data[:m]), mth(data[:n]), p), (m, n)


def test_the_published_proofs_verify_with_the_rfc_algorithms():
    root8 = bytes.fromhex(ROOTS[7])
    leaf5 = merkle.leaf_hash(LEAVES[5])
    assert merkle.verify_inclusion(5, 8, leaf5, h(INCLUSION_5_OF_8), root8)
    assert not merkle.verify_inclusion(4, 8, leaf5, h(INCLUSION_5_OF_8), root8)
    assert merkle.verify_consistency(6, 8, bytes.fromhex(ROOTS[5]), root8, h(CONSISTENCY_6_TO_8))
    assert not merkle.verify_consistency(
        6, 8, bytes.fromhex(ROOTS[4]), root8, h(CONSISTENCY_6_TO_8)
    )
    assert merkle.verify_consistency(
        2, 5, bytes.fromhex(ROOTS[1]), bytes.fromhex(ROOTS[4]), h(CONSISTENCY_2_TO_5)
    )


def flips(proof: list[bytes]):
    for i in range(len(proof)):
        for bit in (0, 7, 255):
            bad = [bytearray(p) for p in proof]
            bad[i][bit // 8] ^= 1 << (bit % 8)
            yield [bytes(p) for p in bad]


def test_any_bit_flip_or_wrong_size_fails_verification():
    data = [bytes([i]) for i in range(23)]
    root = mth(data)
    st = subtree_over(data)
    for m in (0, 7, 16, 22):
        p = merkle.inclusion_path(m, 23, st)
        leaf = merkle.leaf_hash(data[m])
        for bad in flips(p):
            assert not merkle.verify_inclusion(m, 23, leaf, bad, root)
        assert not merkle.verify_inclusion(m, 33, leaf, p, root)  # (the size is signed too)
        assert not merkle.verify_inclusion(m, 23, leaf, p[:-1], root)
        assert not merkle.verify_inclusion(m, 23, leaf, [*p, p[0]], root)
        assert not merkle.verify_inclusion(m, 23, merkle.leaf_hash(b"x"), p, root)
    for m in (1, 4, 13):
        c = merkle.consistency_proof(m, 23, st)
        old = mth(data[:m])
        for bad in flips(c):
            assert not merkle.verify_consistency(m, 23, old, root, bad)
        assert not merkle.verify_consistency(m + 1, 23, old, root, c)
        assert not merkle.verify_consistency(m, 23, old, root, [])
    assert merkle.verify_consistency(23, 23, root, root, [])
    assert not merkle.verify_consistency(23, 23, root, root, [root])
    assert not merkle.verify_consistency(0, 23, merkle.EMPTY_ROOT, root, [])


def test_tiles_are_shortcuts_that_give_the_same_proofs():
    rng = random.Random(7)
    data = [rng.randbytes(32) for _ in range(1500)]
    leaves = [merkle.leaf_hash(x) for x in data]
    tiles: dict[tuple[int, int], bytes] = {}
    f = merkle.Frontier()
    for leaf in leaves:
        f.append(
            leaf, lambda ht, idx, node: tiles.__setitem__((ht, idx), node) if ht == 8 else None
        )
    assert set(tiles) == {(8, i) for i in range(5)}
    reads = []

    def counted(lo: int, hi: int) -> list[bytes]:
        reads.append(hi - lo)
        return leaves[lo:hi]

    st = merkle.Subtrees(counted, tiles)
    p = merkle.inclusion_path(300, 1500, st)
    assert p == merkle.inclusion_path(300, 1500, subtree_over(data))
    assert sum(reads) < 600  # the leaf's tile and the ragged tail, not all 1,500
    assert st.frontier(1500).root() == f.root() == root_from_list(leaves)


def root_from_list(leaves: list[bytes]) -> bytes:
    return merkle.root_of(leaves)


@pytest.mark.parametrize("bad", [(-1, 5), (5, 5), (0, 0)])
def test_impossible_proof_requests_are_refused(bad):
    with pytest.raises(ValueError):
        merkle.inclusion_path(bad[0], bad[1], subtree_over([b"a"] * 5))
