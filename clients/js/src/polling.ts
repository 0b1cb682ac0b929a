/**
 * The fallback transport: poll the REST API and turn what changed into the frames the socket
 * would have sent (`recent_notifications`, `notification`, `notifications_read`), so the rest of
 * the client and the application cannot tell the difference.
 *
 * REST has no "after" parameter: `GET /api/notifications/` lists newest id first. A poll reads
 * the first page(s) and reports notifications it has not delivered yet. Old, already-read
 * notifications it merely never saw are not news: a notification counts as new when its id is
 * above every id known when polling started, or when it is unread.
 */
import { Auth, CredentialRefusedError } from "./auth.js";
import { backoffDelay, type BackoffOptions } from "./backoff.js";
import type { Environment } from "./env.js";
import { ApiError, pageCursor, type RestApi } from "./rest.js";
import type { Notification, NotificationsServerFrame } from "./types.js";

export interface PollingOptions {
  /** Time between polls (ms). Default 30 s. */
  pollInterval: number;
  /** Notifications per page read (server maximum 100). Default 20. */
  pageSize: number;
  /** Pages read per poll at most, when a whole page is new. Default 5. */
  maxPages: number;
  /** Unread notifications in the first snapshot, like the socket's RECENT_LIMIT. Default 20. */
  snapshotSize: number;
}

export const DEFAULT_POLLING: PollingOptions = { pollInterval: 30_000, pageSize: 20, maxPages: 5, snapshotSize: 20 };

/** What the poller needs from its owner. */
export interface PollTarget {
  /** Deliver a frame through the stream's dedupe; `cursor` lets it set the stream's resume cursor. */
  deliver(frame: NotificationsServerFrame, options: { cursor: boolean }): boolean;
  hasSeen(id: number): boolean;
  hasCursor(): boolean;
  /** The highest notification id delivered so far, 0 when none. */
  highestId(): number;
  isUnread(id: number): boolean;
  setUnreadCount(count: number, unseen?: number): void;
  /** The REST API answered; called before this poll delivers anything, as a socket opens before its first frame. */
  reachable(): void;
  /** A poll succeeded (the owner flushes actions that failed over REST). */
  polled(): void;
  failed(error: unknown, attempt: number, delay: number): void;
  /** The server refused the token and no other one is available. */
  unauthorized(): void;
}

export class NotificationPoller {
  private readonly options: PollingOptions;
  private running = false;
  private generation = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private inflight = false;
  private errors = 0;
  private baselineDone = false;
  /** Ids at or below this were known when polling began; read ones among them are not news. */
  private horizon = 0;
  private envSubscriptions: Array<() => void> = [];

  constructor(
    private readonly api: RestApi,
    private readonly auth: Auth,
    private readonly target: PollTarget,
    private readonly environment: Environment,
    private readonly backoff: BackoffOptions,
    options: Partial<PollingOptions> = {},
    private readonly random: () => number = Math.random,
  ) {
    this.options = { ...DEFAULT_POLLING, ...options };
  }

  get isRunning(): boolean {
    return this.running;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.generation++;
    this.errors = 0;
    const env = this.environment;
    this.envSubscriptions.push(
      env.onNetworkChange((online) => online && this.pollNow()),
      env.onVisibilityChange((visible) => visible && this.pollNow()),
    );
    this.schedule(0);
  }

  stop(): void {
    this.running = false;
    this.generation++;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.inflight = false;
    for (const unsubscribe of this.envSubscriptions) unsubscribe();
    this.envSubscriptions = [];
  }

  /** Forget what the first poll established (another user, or a reset client). */
  reset(): void {
    this.baselineDone = false;
    this.horizon = 0;
  }

  /** Poll right away unless a poll is running (network back, tab visible again). */
  pollNow(): void {
    if (!this.running || this.inflight) return;
    this.schedule(0);
  }

  private schedule(delay: number): void {
    if (this.timer !== null) clearTimeout(this.timer);
    const generation = this.generation;
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.poll(generation);
    }, delay);
  }

  private async poll(generation: number): Promise<void> {
    if (generation !== this.generation) return;
    if (!this.environment.isOnline()) return; // the "online" event polls again
    this.inflight = true;
    try {
      await (this.baselineDone ? this.pollChanges(generation) : this.pollBaseline(generation));
      if (generation !== this.generation) return;
      this.errors = 0;
      this.target.polled();
      this.schedule(this.options.pollInterval);
    } catch (error) {
      if (generation !== this.generation) return;
      if ((error instanceof ApiError && error.status === 401) || error instanceof CredentialRefusedError) {
        await this.refused(generation, error.token);
        return;
      }
      this.errors++;
      // Back off on repeated failures, but never poll faster than the configured interval.
      const delay = Math.max(this.options.pollInterval, backoffDelay(this.errors, this.backoff, this.random));
      this.target.failed(error, this.errors, delay);
      this.schedule(delay);
    } finally {
      if (generation === this.generation) this.inflight = false;
    }
  }

  private async refused(generation: number, token: string | null): Promise<void> {
    let result: "renewed" | "unavailable";
    try {
      result = await this.auth.renew(token);
    } catch (error) {
      if (generation !== this.generation) return;
      this.errors++;
      const delay = Math.max(this.options.pollInterval, backoffDelay(this.errors, this.backoff, this.random));
      this.target.failed(error, this.errors, delay);
      this.schedule(delay);
      return;
    }
    if (generation !== this.generation) return;
    if (result === "renewed") this.schedule(0);
    else {
      this.stop();
      this.target.unauthorized();
    }
  }

  /** The first poll: a snapshot like the socket's first frame, unless a socket already delivered one. */
  private async pollBaseline(generation: number): Promise<void> {
    const fresh = this.target.highestId() === 0 && !this.target.hasCursor();
    if (!fresh) {
      // A socket delivered a snapshot already. Its snapshot holds unread notifications only, so
      // the ids it delivered say nothing about read history: the first REST page sets the horizon.
      await this.pollChanges(generation, true);
      this.baselineDone = true;
      return;
    }
    const [all, unread, counts] = await Promise.all([
      this.api.listNotifications({ pageSize: this.options.pageSize }),
      this.api.listNotifications({ unread: true, pageSize: this.options.snapshotSize }),
      this.api.counts(),
    ]);
    const count = counts.unread_count;
    const unseen = counts.unseen_count ?? count; // a server before issue 13 counts no unseen
    if (generation !== this.generation) return;
    this.target.reachable();
    this.horizon = Math.max(0, ...all.results.map((n) => n.id), ...unread.results.map((n) => n.id));
    this.target.deliver(
      {
        type: "recent_notifications",
        // The newest published notification's cursor, so that the socket can resume from here later.
        data: { notifications: unread.results, unread_count: count, unseen_count: unseen, cursor: newestCursor(all.results) ?? "" },
      },
      { cursor: !this.target.hasCursor() },
    );
    this.target.setUnreadCount(count, unseen);
    this.baselineDone = true;
  }

  /**
   * Report what changed since the last poll. With `establish`, the page read also sets the
   * horizon first, so that only unread notifications count as new on this first look.
   */
  private async pollChanges(generation: number, establish = false): Promise<void> {
    const [items, counts] = await Promise.all([this.readNewest(establish ? 1 : this.options.maxPages), this.api.counts()]);
    const count = counts.unread_count;
    const unseen = counts.unseen_count ?? count;
    if (generation !== this.generation) return;
    this.target.reachable();
    if (establish) for (const n of items) this.horizon = Math.max(this.horizon, n.id);
    const adoptCursor = !this.target.hasCursor();
    const fresh = items
      .filter((n) => !this.target.hasSeen(n.id) && (n.id > this.horizon || !n.is_read))
      .sort((a, b) => a.id - b.id); // oldest first, as a resume replays them
    for (const n of fresh) this.target.deliver({ type: "notification", data: n }, { cursor: adoptCursor });
    const nowRead = items.filter((n) => n.is_read && this.target.isUnread(n.id)).map((n) => n.id);
    if (nowRead.length > 0) {
      this.target.deliver({ type: "notifications_read", data: { ids: nowRead.sort((a, b) => a - b), unread_count: count, unseen_count: unseen } }, { cursor: false });
    }
    this.target.setUnreadCount(count, unseen);
    for (const n of items) this.horizon = Math.max(this.horizon, n.id);
  }

  /** The first page, and further pages while every notification on a page is new. */
  private async readNewest(maxPages: number): Promise<Notification[]> {
    const items: Notification[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < maxPages; page++) {
      const answer = await this.api.listNotifications({ pageSize: this.options.pageSize, cursor });
      items.push(...answer.results);
      const allNew = answer.results.every((n) => !this.target.hasSeen(n.id) && n.id > this.horizon);
      cursor = pageCursor(answer.next);
      if (!allNew || !cursor) break;
    }
    return items;
  }
}

function newestCursor(notifications: Notification[]): string | undefined {
  // Newest id first: the first one that is published (has a cursor).
  return notifications.find((n) => n.cursor)?.cursor ?? undefined;
}
