"""The toolkit's seeded random numbers (src/util/rng.ts), bit for bit: sfc32 and the counter hash.
The data order of an epoch is a Fisher-Yates shuffle driven by Rng(hash32(seed, epoch))."""

M32 = 0xFFFFFFFF


def hash32(seed, index):
    h = ((index & M32) * 0x9E3779B9 + (seed & M32)) & M32
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & M32
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & M32
    h ^= h >> 16
    return h


class Rng:
    def __init__(self, seed=0, state=None):
        if state is not None:
            self.s = [x & M32 for x in state]
        else:
            self.s = [0x9E3779B9, 0x243F6A88, 0xB7E15162, seed & M32]
            for _ in range(12):
                self.next_uint32()

    def next_uint32(self):
        s = self.s
        t = (((s[0] + s[1]) & M32) + s[3]) & M32
        s[3] = (s[3] + 1) & M32
        s[0] = s[1] ^ (s[1] >> 9)
        s[1] = (s[2] + (s[2] << 3)) & M32
        s[2] = ((s[2] << 21) | (s[2] >> 11)) & M32
        s[2] = (s[2] + t) & M32
        return t

    def int(self, n):
        """Integer in [0, n): floor(u32 / 2^32 * n), exact for n < 2^21 as in the TypeScript."""
        return (self.next_uint32() * n) >> 32


def permutation(n, seed, epoch):
    """The loader's sample order of an epoch (src/data/loader.ts order())."""
    o = list(range(n))
    rng = Rng(hash32(seed, epoch))
    for i in range(n - 1, 0, -1):
        j = rng.int(i + 1)
        o[i], o[j] = o[j], o[i]
    return o
