// "Did you mean ...?" for a mistyped name: the nearest candidate by edit
// distance, if one is near enough to be the name meant.

/** The candidate fewest edits away from `word`, when fewer than `within`; null otherwise. */
export function closest(word: string, candidates: Iterable<string>, within = 3): string | null {
  let best: string | null = null;
  let bestDistance = within;
  for (const candidate of candidates) {
    const d = editDistance(word, candidate);
    if (d < bestDistance) [best, bestDistance] = [candidate, d];
  }
  return best;
}

/** Levenshtein distance: insertions, deletions and substitutions, one row at a time. */
export function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return row[b.length];
}
