/**
 * The notification list and unread count a UI shows, kept from the frames of one stream
 * (socket or polling alike), following the client rules of docs/protocol.md.
 */
import { RecentKeys } from "./dedupe.js";
import type { Notification, NotificationsReadData, RecentNotificationsData } from "./types.js";

export interface NotificationsView {
  /** Newest first, at most `limit`. Replaced (never mutated) on every change. */
  readonly notifications: readonly Notification[];
  readonly unreadCount: number;
}

export class NotificationStore {
  private list: Notification[] = [];
  private unread = 0;
  private highest = 0;
  /**
   * Ids a `notifications_read` named before their `notification` frame arrived (the protocol
   * allows that: a row marked read before it was published). Their later push says
   * `is_read: false`, which would be wrong to show.
   */
  private readAhead = new RecentKeys<number>(1000);

  constructor(readonly limit = 200) {}

  get notifications(): readonly Notification[] {
    return this.list;
  }

  get unreadCount(): number {
    return this.unread;
  }

  /** The highest notification id ever applied (0 when none). */
  get highestId(): number {
    return this.highest;
  }

  /** Whether `id` is in the list and unread. */
  isUnread(id: number): boolean {
    return this.list.some((n) => n.id === id && !n.is_read);
  }

  /** Returns whether anything visible changed. */
  applySnapshot(data: RecentNotificationsData): boolean {
    const before = this.unread;
    this.unread = data.unread_count;
    // A resumed connect sends `notifications: []` and the missed ones after it: keep our list.
    if (data.resumed) return before !== this.unread;
    // A fresh snapshot (first connect, invalid or expired cursor) replaces the list, as the protocol says.
    this.list = data.notifications.slice(0, this.limit).map((n) => this.withReadAhead(n));
    for (const n of data.notifications) this.highest = Math.max(this.highest, n.id);
    return true;
  }

  applyNotification(notification: Notification): boolean {
    const n = this.withReadAhead(notification);
    this.highest = Math.max(this.highest, n.id);
    // Dedupe happens upstream; this guards a list rebuilt from a snapshot that already has it.
    if (this.list.some((existing) => existing.id === n.id)) return false;
    this.list = [n, ...this.list].slice(0, this.limit);
    if (!n.is_read) this.unread++;
    return true;
  }

  applyRead(data: NotificationsReadData): boolean {
    const ids = new Set(data.ids);
    let changed = data.unread_count !== this.unread;
    this.unread = data.unread_count;
    const present = new Set<number>();
    const next = this.list.map((n) => {
      if (data.all || ids.has(n.id)) present.add(n.id);
      if (n.is_read || !(data.all || ids.has(n.id))) return n;
      changed = true;
      return { ...n, is_read: true };
    });
    if (changed) this.list = next;
    for (const id of ids) if (!present.has(id)) this.readAhead.add(id);
    return changed;
  }

  /** An authoritative count (from `GET /api/notifications/unread-count/`). */
  setUnreadCount(count: number): boolean {
    if (count === this.unread) return false;
    this.unread = count;
    return true;
  }

  reset(): void {
    this.list = [];
    this.unread = 0;
    this.highest = 0;
    this.readAhead.clear();
  }

  private withReadAhead(n: Notification): Notification {
    return !n.is_read && this.readAhead.has(n.id) ? { ...n, is_read: true } : n;
  }
}
