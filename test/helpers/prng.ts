/** A deterministic PRNG (xorshift32), so a campaign or a randomised test can be replayed with its seed. */
export function prng (seed: number): () => number {
  let x = seed >>> 0 || 1
  return () => {
    x ^= x << 13; x >>>= 0
    x ^= x >>> 17
    x ^= x << 5; x >>>= 0
    return x / 0x100000000
  }
}
