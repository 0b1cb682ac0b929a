/**
 * The notification list and unread count a UI shows, kept from the frames of one stream
 * (socket or polling alike), following the client rules of docs/protocol.md.
 */
import { RecentKeys } from "./dedupe.js";
import type {
  Notification,
  NotificationsReadData,
  NotificationsStateData,
  PreferencesChangedData,
  RecentNotificationsData,
} from "./types.js";

export interface NotificationsView {
  /** Newest first, at most `limit`. Replaced (never mutated) on every change. */
  readonly notifications: readonly Notification[];
  readonly unreadCount: number;
  /** Unread and not yet seen: what a badge shows. */
  readonly unseenCount: number;
}

export class NotificationStore {
  private list: Notification[] = [];
  private unread = 0;
  private unseen = 0;
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

  get unseenCount(): number {
    return this.unseen;
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
    const before = [this.unread, this.unseen];
    this.unread = data.unread_count;
    this.unseen = data.unseen_count ?? data.unread_count;
    // A resumed connect sends `notifications: []` and the missed ones after it: keep our list.
    if (data.resumed) return before[0] !== this.unread || before[1] !== this.unseen;
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
    if (!n.is_read && !n.is_seen) this.unseen++;
    return true;
  }

  applyRead(data: NotificationsReadData): boolean {
    const ids = new Set(data.ids);
    let changed = data.unread_count !== this.unread || (data.unseen_count ?? this.unseen) !== this.unseen;
    this.unread = data.unread_count;
    if (data.unseen_count !== undefined) this.unseen = data.unseen_count;
    const present = new Set<number>();
    const next = this.list.map((n) => {
      if (data.all || ids.has(n.id)) present.add(n.id);
      if (n.is_read || !(data.all || ids.has(n.id))) return n;
      changed = true;
      return { ...n, is_read: true, is_seen: true };
    });
    if (changed) this.list = next;
    for (const id of ids) if (!present.has(id)) this.readAhead.add(id);
    return changed;
  }

  /**
   * An inbox change of this reader (any tab), a snoozed item back, or items expired: archived,
   * snoozed and expired ones leave the list, returned ones come back as new. An `expired` frame
   * has no counts (it goes to a whole audience): the counts lose what left unread here.
   */
  applyState(data: NotificationsStateData): boolean {
    const ids = new Set(data.ids);
    const before = { list: this.list, unread: this.unread, unseen: this.unseen };
    switch (data.state) {
      case "archived":
      case "snoozed":
      case "expired": {
        const leaving = this.list.filter((n) => ids.has(n.id));
        this.list = this.list.filter((n) => !ids.has(n.id));
        if (data.state === "expired") {
          this.unread = Math.max(0, this.unread - leaving.filter((n) => !n.is_read).length);
          this.unseen = Math.max(0, this.unseen - leaving.filter((n) => !n.is_read && !n.is_seen).length);
        }
        break;
      }
      case "seen":
      case "all_seen":
        this.list = this.list.map((n) => (!n.is_seen && (data.state === "all_seen" || ids.has(n.id)) ? { ...n, is_seen: true } : n));
        break;
      case "unread":
        this.list = this.list.map((n) => (ids.has(n.id) ? { ...n, is_read: false, is_seen: true } : n));
        for (const id of ids) this.readAhead.delete(id);
        break;
      case "returned": {
        const back = (data.notifications ?? []).filter((n) => !this.list.some((existing) => existing.id === n.id));
        this.list = [...back, ...this.list].sort((a, b) => b.id - a.id).slice(0, this.limit);
        for (const n of back) this.highest = Math.max(this.highest, n.id);
        break;
      }
      default:
        break; // "unarchived": the item is not here; it is in the next snapshot or list page
    }
    if (data.unread_count !== undefined) this.unread = data.unread_count;
    if (data.unseen_count !== undefined) this.unseen = data.unseen_count;
    return before.list !== this.list || before.unread !== this.unread || before.unseen !== this.unseen;
  }

  /** New preferences or mutes change what counts; the list refreshes at the next snapshot. */
  applyPreferences(data: PreferencesChangedData): boolean {
    const changed = data.unread_count !== this.unread || data.unseen_count !== this.unseen;
    this.unread = data.unread_count;
    this.unseen = data.unseen_count;
    return changed;
  }

  /** An authoritative count (from `GET /api/notifications/unread-count/`). */
  setUnreadCount(count: number, unseen?: number): boolean {
    const changed = count !== this.unread || (unseen !== undefined && unseen !== this.unseen);
    this.unread = count;
    if (unseen !== undefined) this.unseen = unseen;
    return changed;
  }

  reset(): void {
    this.list = [];
    this.unread = 0;
    this.unseen = 0;
    this.highest = 0;
    this.readAhead.clear();
  }

  private withReadAhead(n: Notification): Notification {
    return !n.is_read && this.readAhead.has(n.id) ? { ...n, is_read: true } : n;
  }
}
