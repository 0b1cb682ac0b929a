/** A FIFO with a capacity: pushing onto a full queue evicts and returns the oldest item. */
export class BoundedQueue<T> {
  private items: T[] = [];

  constructor(readonly capacity: number) {
    if (!(capacity >= 0)) throw new RangeError("BoundedQueue capacity must be >= 0");
  }

  /** Append `item`; returns the item that had to be dropped to make room, if any. */
  push(item: T): { dropped?: T } {
    if (this.capacity === 0) return { dropped: item };
    this.items.push(item);
    if (this.items.length > this.capacity) return { dropped: this.items.shift() as T };
    return {};
  }

  /** Remove and return every item, oldest first. */
  drain(): T[] {
    const items = this.items;
    this.items = [];
    return items;
  }

  get size(): number {
    return this.items.length;
  }

  clear(): void {
    this.items = [];
  }
}
