/**
 * Where resume cursors live: one per stream path, so that /ws/notifications/ and, later,
 * /ws/projects/7/ each resume from their own position. Cursors are opaque server strings:
 * stored and sent back, never parsed or compared.
 */
export interface CursorStore {
  get(path: string): string | undefined;
  set(path: string, cursor: string): void;
  delete(path: string): void;
  clear(): void;
}

/**
 * The default store: in memory, so cursors survive reconnects but not a page reload. That is
 * deliberate: a reloaded page has an empty list and needs the snapshot a cursor-less connect
 * sends, whereas a resumed connect sends only what was missed.
 */
export class MemoryCursorStore implements CursorStore {
  private readonly cursors = new Map<string, string>();

  get(path: string): string | undefined {
    return this.cursors.get(path);
  }
  set(path: string, cursor: string): void {
    this.cursors.set(path, cursor);
  }
  delete(path: string): void {
    this.cursors.delete(path);
  }
  clear(): void {
    this.cursors.clear();
  }
}
