// Reductions over data-sized arrays. Math.max(...xs) passes every element as an argument and
// overflows the stack past ~120k elements ("Maximum call stack size exceeded" on 130k lines).

/** The largest value (or `init` when there is none: -Infinity by default). */
export function maxOf(xs: ArrayLike<number>, init = -Infinity): number {
  let m = init;
  for (let i = 0; i < xs.length; i++) if (xs[i]! > m) m = xs[i]!;
  return m;
}

/** The smallest value (or `init` when there is none: Infinity by default). */
export function minOf(xs: ArrayLike<number>, init = Infinity): number {
  let m = init;
  for (let i = 0; i < xs.length; i++) if (xs[i]! < m) m = xs[i]!;
  return m;
}
