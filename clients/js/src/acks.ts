/**
 * Delivery receipts: the `ack` frame tells the server "I have received everything up to this
 * cursor" (docs/protocol.md, issue 14), so a sender can tell delivered from merely published and
 * email is not sent for what a reader already has on screen.
 *
 * Cursors are opaque and never compared here. "Further" comes from the stream's order: live
 * `notification` frames arrive in the log's order (replays are dropped by dedupe before they get
 * here), so the latest one is the furthest. A snapshot lists unread items newest first by id, and
 * may hold nothing newer than what was already acknowledged (a fresh snapshot after an expired
 * cursor), so its newest item counts only when its id is above every id noted so far.
 */
import type { Notification } from "./types.js";

/** At most one `ack` per socket per this many ms (the server writes receipts once a second anyway). */
export const ACK_INTERVAL = 1000;

export interface AckTransport {
  /** Send an `ack` on the current socket; false when there is no open socket (then nothing is sent). */
  send(cursor: string): boolean;
}

export class Acknowledger {
  /** The cursor of the furthest notification received. */
  private latest: string | null = null;
  private latestId = 0;
  /** The last cursor the server was sent. */
  private acked: string | null = null;
  /** Runs while the current socket's one-second window is open; its end sends what came meanwhile. */
  private window: ReturnType<typeof setTimeout> | null = null;
  private enabled: boolean;

  constructor(
    private readonly transport: AckTransport,
    enabled = true,
    private readonly interval = ACK_INTERVAL,
  ) {
    this.enabled = enabled;
  }

  /** A live `notification` frame (after dedupe). */
  notification(item: Notification): void {
    if (!item.cursor) return; // a REST answer for a notification not yet published: no position
    this.latest = item.cursor;
    this.latestId = Math.max(this.latestId, item.id);
    this.flush();
  }

  /** The items of a `recent_notifications` frame (empty on a resume). */
  snapshot(items: readonly Notification[]): void {
    let newest: Notification | undefined;
    for (const item of items) if (item.cursor && (!newest || item.id > newest.id)) newest = item;
    if (!newest || newest.id <= this.latestId) return;
    this.latest = newest.cursor;
    this.latestId = newest.id;
    this.flush();
  }

  /** A new socket opened: a new window, and whatever the last socket could not send goes now. */
  opened(): void {
    this.clearWindow();
    this.flush();
  }

  /** The socket is gone; its window goes with it (the next socket sends on open). */
  closed(): void {
    this.clearWindow();
  }

  /** Another user, or a fresh start: nothing received so far counts. */
  reset(): void {
    this.clearWindow();
    this.latest = null;
    this.latestId = 0;
    this.acked = null;
  }

  /** For good, e.g. a server that does not know the frame. */
  disable(): void {
    this.enabled = false;
    this.clearWindow();
  }

  get pending(): string | null {
    return this.latest !== null && this.latest !== this.acked ? this.latest : null;
  }

  private flush(): void {
    const cursor = this.pending;
    if (!this.enabled || cursor === null || this.window !== null) return;
    // Not connected: kept, and sent by opened() on the next socket.
    if (!this.transport.send(cursor)) return;
    this.acked = cursor;
    this.window = setTimeout(() => {
      this.window = null;
      this.flush();
    }, this.interval);
  }

  private clearWindow(): void {
    if (this.window !== null) clearTimeout(this.window);
    this.window = null;
  }
}
