/**
 * The polling transport of the notifications stream: the socket's resume, over HTTP. A
 * connection asks `GET /api/notifications/?after=<cursor>` every `pollInterval` and hands the
 * stream the frames the socket would have sent, so that the stream, the store and the
 * application cannot tell the difference (docs/protocol.md, "Polling resume"):
 *
 * - a connection with a cursor opens with `recent_notifications` `{resumed: true}`, then a
 *   `notification` for each one published after it, oldest first; without a cursor it opens with
 *   the snapshot of `GET /api/notifications/snapshot/`;
 * - later polls hand over what followed, each item once: the server pages by cursor, so nothing
 *   created (and even read) elsewhere meanwhile is missed, and the cursor it ends on is where a
 *   socket resumes;
 * - `cursor_expired` and a cursor the server refuses (400 on `after`) become the socket's `error`
 *   frame and a fresh snapshot;
 * - counts and reads made elsewhere: when the server's counts differ from the client's after a
 *   poll, the newest page of the list says which items were read, as a `notifications_read`;
 * - client frames become the REST actions, and their answers the frames the socket pushes.
 *
 * A poll that fails ends the connection with the close code a socket would have had (401: 4401,
 * a network error: 1006, 429 or 5xx: 1013); the stream decides what follows (`reconnect.ts`).
 */
import { ApiError, type ActionTargets, type RestApi, type RestInboxAction } from "./rest.js";
import type { Environment } from "./env.js";
import type { ConnectRequest, Transport, TransportConnection, TransportHandlers } from "./transport.js";
import {
  CloseCode,
  type Frame,
  type Notification,
  type NotificationsClientFrame,
  type NotificationsResume,
  type NotificationsServerFrame,
  type StateResult,
} from "./types.js";

export interface PollingOptions {
  /** Time between polls (ms). Default 30 s. */
  pollInterval: number;
  /** Notifications per request (`limit`, server maximum 500). Default 100. */
  pageSize: number;
  /** Requests per poll at most while the server says more follow. Default 5. */
  maxPages: number;
}

export const DEFAULT_POLLING: PollingOptions = { pollInterval: 30_000, pageSize: 100, maxPages: 5 };

/** What the transport needs to know of the client's state. */
export interface PollingHost {
  /** The counts the client shows now. */
  counts(): { unread: number; unseen: number };
  /** Whether the client shows `id` as unread (to tell which items were read elsewhere). */
  isUnread(id: number): boolean;
}

/** The REST path of each socket inbox action. */
const REST_ACTIONS: Record<string, RestInboxAction> = {
  mark_seen: "seen",
  archive: "archive",
  unarchive: "unarchive",
  mark_unread: "unread",
  snooze: "snooze",
};

/** What reads of the list look at to find reads made elsewhere: the newest page. */
const READ_SYNC_PAGE = 100;

export class NotificationsPolling implements Transport {
  readonly name = "polling";
  readonly options: PollingOptions;
  /** Client frames accepted but not carried yet (their request failed): sent after the next poll. */
  private pending: Frame[] = [];

  constructor(
    private readonly api: RestApi,
    private readonly token: () => Promise<string | null>,
    private readonly host: PollingHost,
    private readonly environment: Environment,
    options: Partial<PollingOptions> = {},
  ) {
    this.options = { ...DEFAULT_POLLING, ...options };
  }

  get minRetryDelay(): number {
    return this.options.pollInterval;
  }

  async connect(request: ConnectRequest, handlers: TransportHandlers): Promise<TransportConnection | null> {
    const token = await this.token();
    if (!token) return null;
    return new PollingConnection(this, request.cursor, token, handlers);
  }

  /** @internal */
  takePending(): Frame[] {
    const frames = this.pending;
    this.pending = [];
    return frames;
  }

  /** @internal */
  keep(frame: Frame): void {
    this.pending.push(frame);
  }

  /** @internal */
  get rest(): RestApi {
    return this.api;
  }

  /** @internal */
  get client(): PollingHost {
    return this.host;
  }

  /** @internal */
  get env(): Environment {
    return this.environment;
  }
}

class PollingConnection implements TransportConnection {
  private closed = false;
  private opened = false;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private inflight: Promise<void> | null = null;
  private pongDue = false;
  /** The server's counts at the end of the last poll; null after a snapshot (which sets them). */
  private counts: { unread: number; unseen: number } | null = null;

  constructor(
    private readonly transport: NotificationsPolling,
    private cursor: string | undefined,
    private _token: string | null,
    private readonly handlers: TransportHandlers,
  ) {
    this.schedule(0);
  }

  get token(): string | null {
    return this._token;
  }

  send(frame: Frame): boolean {
    if (this.closed) return false;
    switch (frame.type) {
      case "ack": // receipts are the socket's: a REST read makes its own
        return false;
      case "ping": // a poll now proves the server reachable, as a pong would
        this.pongDue = true;
        if (!this.inflight) this.schedule(0);
        return true;
      default:
        void this.carry(frame as NotificationsClientFrame);
        return true;
    }
  }

  close(): Frame[] {
    this.stop();
    return this.transport.takePending();
  }

  // -- polls ------------------------------------------------------------------------------------

  private schedule(delay: number): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.inflight = this.poll().finally(() => {
        this.inflight = null;
      });
    }, delay);
  }

  private async poll(): Promise<void> {
    if (this.closed) return;
    if (!this.transport.env.isOnline()) {
      // Offline polls can only fail; the stream's "online" check polls again at once.
      this.schedule(this.transport.options.pollInterval);
      return;
    }
    let frames: NotificationsServerFrame[];
    try {
      frames = await this.read();
    } catch (error) {
      this.fail(error);
      return;
    }
    if (this.closed) return;
    if (!this.opened) {
      this.opened = true;
      this.handlers.opened();
    }
    for (const frame of frames) {
      if (this.closed) return;
      this.handlers.frame(frame);
    }
    try {
      await this.syncReads();
    } catch (error) {
      this.fail(error);
      return;
    }
    if (this.closed) return;
    if (this.pongDue) {
      this.pongDue = false;
      this.handlers.frame({ type: "pong" });
    }
    for (const frame of this.transport.takePending()) void this.carry(frame as NotificationsClientFrame);
    this.schedule(this.transport.options.pollInterval);
  }

  /** This poll's frames: what a socket connect (first poll) or its live frames (later) would be. */
  private async read(): Promise<NotificationsServerFrame[]> {
    const api = this.transport.rest;
    if (this.cursor === undefined) return [this.fresh(await api.notificationsSnapshot())];
    const first = !this.opened;
    const start = this.cursor;
    const items: Notification[] = [];
    let last: NotificationsResume | undefined;
    let cursor = start;
    for (let page = 0; page < this.transport.options.maxPages; page++) {
      let answer: NotificationsResume;
      try {
        answer = await api.notificationsAfter(cursor, this.transport.options.pageSize);
      } catch (error) {
        if (error instanceof ApiError && error.status === 400) {
          // A cursor this server did not issue: what a socket says, then a fresh snapshot.
          const snapshot = await api.notificationsSnapshot();
          return [errorFrame("invalid_cursor", `cursor is not one the server issued (${describeBody(error.body)}); sending a fresh snapshot instead`), this.fresh(snapshot)];
        }
        throw error;
      }
      if (answer.cursor_expired && answer.snapshot) {
        return [
          errorFrame("cursor_expired", `the cursor cannot be resumed (${answer.cursor_expired}); sending a fresh snapshot`),
          this.fresh(answer.snapshot),
        ];
      }
      items.push(...answer.results);
      last = answer;
      cursor = answer.cursor;
      if (!answer.has_more) break;
    }
    this.cursor = cursor;
    const frames: NotificationsServerFrame[] = [];
    if (first && last) {
      // Counted up to the cursor, as a resumed socket's snapshot is: the items that follow add themselves.
      const unread = items.filter((n) => !n.is_read).length;
      const unseen = items.filter((n) => !n.is_read && !n.is_seen).length;
      frames.push({
        type: "recent_notifications",
        data: {
          notifications: [],
          unread_count: last.unread_count - unread,
          unseen_count: last.unseen_count - unseen,
          cursor: items.length > 0 ? start : cursor,
          resumed: true,
        },
      });
    }
    for (const n of items) frames.push({ type: "notification", data: n });
    this.counts = last ? { unread: last.unread_count, unseen: last.unseen_count } : null;
    return frames;
  }

  private fresh(snapshot: NotificationsResume["snapshot"] & object): NotificationsServerFrame {
    this.cursor = snapshot.cursor;
    this.counts = null; // a snapshot's counts are the server's own
    return { type: "recent_notifications", data: snapshot };
  }

  /**
   * When the server counts differently from the client after this poll's frames, something
   * changed elsewhere (a read in another tab): the newest page of the list says which items are
   * read now, handed over as the `notifications_read` a socket would have had.
   */
  private async syncReads(): Promise<void> {
    const server = this.counts;
    if (server === null || this.closed) return;
    const local = this.transport.client.counts();
    if (local.unread === server.unread && local.unseen === server.unseen) return;
    let ids: number[] = [];
    if (local.unread !== server.unread) {
      const page = await this.transport.rest.listNotifications({ pageSize: READ_SYNC_PAGE });
      ids = page.results.filter((n) => n.is_read && this.transport.client.isUnread(n.id)).map((n) => n.id).sort((a, b) => a - b);
    }
    if (this.closed) return;
    this.handlers.frame({ type: "notifications_read", data: { ids, unread_count: server.unread, unseen_count: server.unseen } });
  }

  private fail(error: unknown): void {
    if (this.closed) return;
    if (error instanceof ApiError && error.token) this._token = error.token;
    const [code, reason] = closeFor(error);
    this.stop();
    this.handlers.closed(code, reason);
  }

  private stop(): void {
    this.closed = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  // -- client frames over REST --------------------------------------------------------------------

  /** One action over REST; its answer is handed over as the frame the socket would have pushed. */
  private async carry(frame: NotificationsClientFrame): Promise<void> {
    const api = this.transport.rest;
    const state = (data: Omit<StateResult, "not_found">): NotificationsServerFrame => ({ type: "notifications_state", data });
    switch (frame.type) {
      case "ping":
      case "ack":
        return;
      case "mark_all_as_read":
        return this.answer(frame, () => api.markAllAsRead(), (data) => ({ type: "notifications_read", data: { ...data, all: true } }));
      case "mark_all_seen":
        return this.answer(frame, () => api.markAllSeen(), state);
      case "mark_as_read": {
        // Ids go one request each, which every server version answers; a group needs issue 13's `/read/`.
        if (!("group_key" in frame.data)) return this.markEach(frame.data.ids);
        const groupKey = frame.data.group_key;
        return this.answer(frame, () => api.markRead({ groupKey }), (data) => ({ type: "notifications_read", data }));
      }
      default: {
        const action = REST_ACTIONS[frame.type] as RestInboxAction;
        const targets: ActionTargets = "group_key" in frame.data ? { groupKey: frame.data.group_key } : frame.data.ids;
        const until = frame.type === "snooze" ? frame.data.until : undefined;
        return this.answer(frame, () => api.changeState(action, targets, until), state);
      }
    }
  }

  /** A request for a whole frame: a 404 means none of its ids was the caller's, `not_found` some of them. */
  private async answer<T extends { not_found?: number[] }>(
    frame: Frame,
    request: () => Promise<T>,
    toFrame: (answer: Omit<T, "not_found">) => NotificationsServerFrame,
  ): Promise<void> {
    try {
      const { not_found: notFound, ...answer } = await request();
      this.handlers.frame(toFrame(answer));
      if (notFound?.length) this.notFound(`no notifications with ids [${notFound.join(", ")}] for this user`);
    } catch (error) {
      if (error instanceof ApiError && error.status === 404) this.notFound("no such notifications for this user");
      else this.transport.keep(frame); // sent after the next successful poll, or by the next socket
    }
  }

  private async markEach(ids: readonly number[]): Promise<void> {
    const left = [...ids];
    while (left.length > 0) {
      const id = left[0] as number;
      try {
        const result = await this.transport.rest.markAsRead(id);
        this.handlers.frame({ type: "notifications_read", data: result });
      } catch (error) {
        if (error instanceof ApiError && error.status === 404) {
          this.notFound(`no notifications with ids [${id}] for this user`);
        } else {
          this.transport.keep({ type: "mark_as_read", data: { ids: left } });
          return;
        }
      }
      left.shift();
    }
  }

  private notFound(message: string): void {
    this.handlers.frame(errorFrame("not_found", message));
  }
}

function errorFrame(code: string, message: string): NotificationsServerFrame {
  return { type: "error", data: { code, message } } as NotificationsServerFrame;
}

function describeBody(body: unknown): string {
  if (body && typeof body === "object" && "after" in body) return String((body as { after: unknown }).after);
  return "400";
}

/** The close code a socket would have had for a failed poll. */
function closeFor(error: unknown): [number, string] {
  if (error instanceof ApiError) {
    if (error.status === 401) return [CloseCode.UNAUTHORIZED, "poll refused: 401"];
    if (error.status === 403) return [CloseCode.FORBIDDEN, "poll refused: 403"];
    if (error.status === 404) return [CloseCode.NOT_FOUND, "poll refused: 404 (a server without polling resume?)"];
    return [CloseCode.TRY_AGAIN_LATER, `poll failed: ${error.message}`];
  }
  return [ABNORMAL_CLOSURE, `poll failed: ${error instanceof Error ? error.message : String(error)}`];
}

/** What browsers report for a socket that went away without a close frame (RFC 6455, 7.4.1). */
const ABNORMAL_CLOSURE = 1006;
