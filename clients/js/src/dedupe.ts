/**
 * A bounded set of recently seen keys: remembers the last `capacity` keys, forgets the oldest.
 *
 * Bounded because a page can stay open for days; the window only has to cover what a resume or
 * a switch between socket and polling can deliver twice (a resume replays at most
 * RESUME_LIMIT = 1000 notifications, so the default capacity is twice that).
 */
export class RecentKeys<K extends string | number = string | number> {
  private readonly keys = new Set<K>();

  constructor(readonly capacity: number) {
    if (!(capacity >= 1)) throw new RangeError("RecentKeys capacity must be at least 1");
  }

  has(key: K): boolean {
    return this.keys.has(key);
  }

  /** Remember `key`; returns false when it was already known (a duplicate). */
  add(key: K): boolean {
    if (this.keys.has(key)) return false;
    this.keys.add(key);
    if (this.keys.size > this.capacity) {
      // A Set iterates in insertion order, so the first key is the oldest.
      const oldest = this.keys.values().next().value as K;
      this.keys.delete(oldest);
    }
    return true;
  }

  /** Forget `key` (it is no longer true of that id). */
  delete(key: K): void {
    this.keys.delete(key);
  }

  get size(): number {
    return this.keys.size;
  }

  clear(): void {
    this.keys.clear();
  }
}
