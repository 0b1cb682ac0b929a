/**
 * `ClarionClient`: the notifications stream of one server and one user, with its list and
 * unread count, actions, and the REST polling fallback; plus `openStream` for the server's
 * other streams, which share its credentials and cursor store.
 */
import { Acknowledger } from "./acks.js";
import { Auth, CredentialRefusedError, type TokenSource } from "./auth.js";
import { type CursorStore, MemoryCursorStore } from "./cursors.js";
import { Emitter, type Handler, type Unsubscribe } from "./emitter.js";
import { type Environment, globalEnvironment, type WebSocketConstructor, withWebSocket } from "./env.js";
import { NotificationsPolling, type PollingOptions, DEFAULT_POLLING } from "./polling.js";
import { type ActionTargets, ApiError, type FetchLike, RestApi } from "./rest.js";
import { NotificationStore, type NotificationsView } from "./store.js";
import {
  type ConnectionState,
  type CredentialSource,
  DEFAULT_TRANSPORT_FALLBACK,
  type FrameEvents,
  type HeartbeatOptions,
  type ReconnectOptions,
  type SendResult,
  StreamConnection,
  type StreamLifecycleEvents,
  type StreamSpec,
  type TransportFallback,
} from "./stream.js";
import { type Transport as FrameTransport, WebSocketTransport } from "./transport.js";
import {
  type Frame,
  type InboxActionFrame,
  type MarkAsReadFrame,
  MAX_IDS_PER_FRAME,
  type NotificationsClientFrame,
  type NotificationsServerFrame,
} from "./types.js";

export type Transport = "websocket" | "polling";

/** The frames that take ids or a group key. */
type TargetedFrame = MarkAsReadFrame | InboxActionFrame;

export interface FallbackOptions extends PollingOptions, TransportFallback {}

export const DEFAULT_FALLBACK: FallbackOptions = { ...DEFAULT_POLLING, ...DEFAULT_TRANSPORT_FALLBACK };

export interface ClarionClientOptions {
  /** The server, `http(s)://host[:port]`. Default: the page's origin. */
  url?: string;
  /** Where `clarion.api.urls` is mounted. Default: `url`. */
  apiUrl?: string;
  /** The WebSocket base, `ws(s)://host[:port]`. Default: `url` with ws/wss. */
  wsUrl?: string;
  /**
   * How sockets authenticate. `ticket` (default): a single-use ticket from
   * `POST /api/auth/ticket/` per connect, so no JWT lands in URLs and logs. `token`: the
   * access token as `?token=`.
   */
  socketAuth?: "ticket" | "token";
  reconnect?: Partial<ReconnectOptions>;
  /** `false` disables pings (the server's protocol pings still run). */
  heartbeat?: Partial<HeartbeatOptions> | false;
  /** Give up on a connect that has not opened after this long (ms). Default 10 s. */
  connectTimeout?: number;
  /** Actions kept while not connected. Default 100. */
  queueSize?: number;
  /** Notification ids remembered for dedupe. Default 2000. */
  dedupeSize?: number;
  /** `false`: never poll, keep retrying WebSockets. */
  fallback?: Partial<FallbackOptions> | false;
  /** Notifications kept in `notifications`. Default 200. */
  maxNotifications?: number;
  /**
   * Send delivery receipts (`ack` frames) for the notifications received: at most one a second
   * per socket, only when a further notification arrived, never while disconnected. Default true.
   */
  acknowledge?: boolean;
  /** A WebSocket implementation (default: the global one); `null` forces polling. */
  WebSocket?: WebSocketConstructor | null;
  fetch?: FetchLike;
  environment?: Environment;
  cursors?: CursorStore;
  random?: () => number;
}

export interface ClientSnapshot extends NotificationsView {
  readonly state: ConnectionState;
  readonly transport: Transport;
}

type Lifecycle = StreamLifecycleEvents<NotificationsServerFrame>;

export interface ClientEvents extends FrameEvents<NotificationsServerFrame> {
  state: Lifecycle["state"];
  connecting: Lifecycle["connecting"];
  open: Lifecycle["open"];
  reconnecting: Lifecycle["reconnecting"];
  closed: Lifecycle["closed"];
  /** Switched between WebSocket and polling. */
  transport: { transport: Transport; reason: string };
  unread_count: number;
  /** The unseen count (the badge) changed. */
  unseen_count: number;
  /** The list, the unread count, the state or the transport changed. */
  change: ClientSnapshot;
  /** An action evicted from the full queue; it will not be sent. */
  dropped: { frame: Frame };
  /** A poll or a REST action failed (it is retried). */
  poll_error: { error: unknown };
}

export const NOTIFICATIONS_PATH = "/ws/notifications/";

/** The notifications stream, described for the generic connection. */
export const notificationsStream: StreamSpec<NotificationsServerFrame> = {
  path: NOTIFICATIONS_PATH,
  cursorOf(frame) {
    if (frame.type === "recent_notifications") return frame.data.cursor;
    if (frame.type === "notification") return frame.data.cursor;
    return undefined;
  },
  dedupeKey: (frame) => (frame.type === "notification" ? frame.data.id : undefined),
  knownKeys: (frame) => (frame.type === "recent_notifications" ? frame.data.notifications.map((n) => n.id) : []),
};

export class ClarionClient {
  readonly auth = new Auth();
  readonly api: RestApi;
  private readonly options: ClarionClientOptions;
  private readonly environment: Environment;
  private readonly cursors: CursorStore;
  private readonly credentials: CredentialSource;
  private readonly events = new Emitter<ClientEvents>();
  private readonly store: NotificationStore;
  private readonly stream: StreamConnection<NotificationsServerFrame, NotificationsClientFrame>;
  private readonly acks: Acknowledger;
  private readonly streams = new Set<StreamConnection<Frame, Frame>>();
  private _snapshot: ClientSnapshot;

  constructor(options: ClarionClientOptions = {}) {
    this.options = options;
    const env = options.environment ?? globalEnvironment();
    // `WebSocket: null` must win over the environment's, to force polling.
    this.environment = options.WebSocket === undefined ? env : withWebSocket(env, options.WebSocket ?? undefined);
    this.cursors = options.cursors ?? new MemoryCursorStore();
    this.store = new NotificationStore(options.maxNotifications ?? 200);
    const fallback = options.fallback === false ? false : { ...DEFAULT_FALLBACK, ...options.fallback };
    // URLs are resolved lazily, so a client can be created where there is no `location` (SSR).
    this.api = new RestApi({ baseUrl: () => this.apiUrl, fetch: options.fetch, getToken: () => this.auth.token() });

    const socketAuth = options.socketAuth ?? "ticket";
    this.credentials = {
      socketCredential: async () => {
        const token = await this.auth.token();
        if (!token) return null;
        if (socketAuth === "token") return { param: "token", value: token, token };
        try {
          const { ticket } = await this.api.ticket(token);
          return { param: "ticket", value: ticket, token };
        } catch (error) {
          if (error instanceof ApiError && error.status === 401) throw new CredentialRefusedError(token);
          throw error;
        }
      },
      renew: (token) => this.auth.renew(token),
      onChange: (listener) => this.auth.onChange(listener),
    };

    const transports: FrameTransport[] = [new WebSocketTransport(() => this.wsUrl, this.credentials, this.environment)];
    if (fallback !== false) {
      const host = {
        counts: () => ({ unread: this.store.unreadCount, unseen: this.store.unseenCount }),
        isUnread: (id: number) => this.store.isUnread(id),
      };
      transports.push(new NotificationsPolling(this.api, () => this.auth.token(), host, this.environment, fallback));
    }
    this.stream = this.openStream(notificationsStream, { transports, fallback });
    // queue: false: an ack held for a later socket would be stale; the acknowledger sends the
    // furthest position again when the next socket opens.
    this.acks = new Acknowledger({ send: (cursor) => this.stream.send({ type: "ack", data: { cursor } }, { queue: false }) === "sent" }, options.acknowledge ?? true);
    this.wireStream();
    this._snapshot = this.makeSnapshot();
  }

  // -- public API -----------------------------------------------------------------------------

  get state(): ConnectionState {
    return this.stream.state;
  }

  get transport(): Transport {
    return this.stream.transport as Transport;
  }

  get notifications(): NotificationsView["notifications"] {
    return this.store.notifications;
  }

  get unreadCount(): number {
    return this.store.unreadCount;
  }

  get unseenCount(): number {
    return this.store.unseenCount;
  }

  /** The resume cursor of the notifications stream. */
  get cursor(): string | undefined {
    return this.stream.cursor;
  }

  /** An immutable view of list, count, state and transport; a new object after every change. */
  get snapshot(): ClientSnapshot {
    return this._snapshot;
  }

  on<K extends keyof ClientEvents>(type: K, handler: Handler<ClientEvents[K]>): Unsubscribe {
    return this.events.on(type, handler);
  }

  /**
   * Connect with an access token or a provider of one (asked before every connect, so it can
   * refresh an expired token). Without an argument, the credential set before is used.
   */
  connect(token?: TokenSource): void {
    if (token !== undefined) this.auth.set(token);
    if (this.stream.state !== "closed") return;
    void this.baseUrl; // throws now, rather than on every retry, when no server URL is known
    this.stream.connect();
  }

  /** Replace the credential (after sign-in or a token refresh); a client closed by 4401 reconnects. */
  setToken(token: TokenSource | null): void {
    this.auth.set(token);
  }

  /**
   * Close and stop reconnecting. Cursors are kept so a later connect() resumes; pass
   * `forget: true` when the user signs out, so the next user starts from a fresh snapshot.
   */
  disconnect(options: { forget?: boolean } = {}): void {
    this.stream.disconnect(); // its "closed" event reaches our handlers
    if (options.forget) this.forget();
  }

  /** Drop cursors, dedupe memory and the list of every stream of this client. */
  forget(): void {
    for (const stream of this.streams) stream.forget();
    this.acks.reset();
    this.cursors.clear();
    this.store.reset();
    this.changed();
  }

  /**
   * Mark notifications read: an id, ids, or `{groupKey}` for a whole group. Over the socket, or
   * queued while reconnecting; over REST while polling. The outcome arrives as a
   * `notifications_read` event (or an `error` for unknown ids).
   */
  markAsRead(targets: number | ActionTargets): SendResult {
    return this.targeted("mark_as_read", targets);
  }

  markAllAsRead(): SendResult {
    return this.act({ type: "mark_all_as_read" });
  }

  /**
   * The inbox actions (docs/protocol.md, "Inbox states"): each takes ids, or `{groupKey}` for a
   * whole group, and is answered by a `notifications_state` event in every tab of the user.
   * Over the socket, queued while reconnecting, over REST while polling.
   */
  markSeen(targets: number | ActionTargets): SendResult {
    return this.targeted("mark_seen", targets);
  }

  /** Everything so far is seen: what a list does when it opens. */
  markAllSeen(): SendResult {
    return this.act({ type: "mark_all_seen" });
  }

  archive(targets: number | ActionTargets): SendResult {
    return this.targeted("archive", targets);
  }

  unarchive(targets: number | ActionTargets): SendResult {
    return this.targeted("unarchive", targets);
  }

  /** Unread again; it stays seen. */
  markUnread(targets: number | ActionTargets): SendResult {
    return this.targeted("mark_unread", targets);
  }

  /** Out of the inbox until `until`, then back as new (pushed to open tabs at that time). */
  snooze(targets: number | ActionTargets, until: Date | string): SendResult {
    const at = typeof until === "string" ? until : until.toISOString();
    if (Number.isNaN(Date.parse(at))) throw new TypeError(`snooze needs a date and time, got ${String(until)}`);
    return this.targeted("snooze", targets, at);
  }

  /**
   * Another stream of the same server (`/ws/projects/7/`, ...), sharing this client's
   * credentials, cursor store and options. Call `connect()` on it.
   */
  openStream<S extends Frame = Frame, C extends Frame = Frame>(
    spec: StreamSpec<S>,
    carriers: { transports?: FrameTransport[]; fallback?: TransportFallback | false } = {},
  ): StreamConnection<S, C> {
    const stream = new StreamConnection<S, C>(spec, {
      ...carriers,
      url: () => this.wsUrl,
      credentials: this.credentials,
      environment: this.environment,
      cursors: this.cursors,
      reconnect: this.options.reconnect,
      heartbeat: this.options.heartbeat,
      connectTimeout: this.options.connectTimeout,
      queueSize: this.options.queueSize,
      dedupeSize: this.options.dedupeSize,
      random: this.options.random,
    });
    this.streams.add(stream as unknown as StreamConnection<Frame, Frame>);
    return stream;
  }

  // -- URLs -----------------------------------------------------------------------------------

  private get baseUrl(): string {
    const url = this.options.url ?? this.environment.origin();
    if (!url) throw new Error("clarion-client: no page origin here; pass options.url");
    return url.replace(/\/+$/, "");
  }

  private get apiUrl(): string {
    return (this.options.apiUrl ?? this.baseUrl).replace(/\/+$/, "");
  }

  private get wsUrl(): string {
    if (this.options.wsUrl) return this.options.wsUrl.replace(/\/+$/, "");
    return this.baseUrl.replace(/^http(s?):/i, (_, s: string) => `ws${s}:`);
  }

  // -- the notifications stream -----------------------------------------------------------------

  private wireStream(): void {
    const s = this.stream;
    s.on("frame", (frame) => this.onFrame(frame));
    s.on("dropped", (event) => this.events.emit("dropped", event));
    s.on("state", (event) => {
      if (event.previous === "open") this.acks.closed();
      this.events.emit("state", event);
      this.changed();
    });
    s.on("connecting", (event) => this.events.emit("connecting", event));
    s.on("reconnecting", (event) => this.events.emit("reconnecting", event));
    s.on("open", (event) => {
      this.acks.opened();
      this.events.emit("open", event);
    });
    s.on("closed", (event) => this.events.emit("closed", event));
    s.on("transport", (event) => {
      this.events.emit("transport", { transport: event.transport as Transport, reason: event.reason });
      this.changed();
    });
  }

  private onFrame(frame: NotificationsServerFrame): void {
    const countBefore = this.store.unreadCount;
    const unseenBefore = this.store.unseenCount;
    let changed = false;
    switch (frame.type) {
      case "recent_notifications":
        changed = this.store.applySnapshot(frame.data);
        this.acks.snapshot(frame.data.notifications);
        break;
      case "notification":
        changed = this.store.applyNotification(frame.data);
        this.acks.notification(frame.data);
        break;
      case "notifications_read":
        changed = this.store.applyRead(frame.data);
        break;
      case "notifications_state":
        changed = this.store.applyState(frame.data);
        break;
      case "preferences_changed":
        changed = this.store.applyPreferences(frame.data);
        break;
      case "error":
        // A server before issue 14 refuses the frame type, and would answer every ack the same way.
        if (frame.data.code === "unknown_type" && frame.data.message.includes('"ack"')) this.acks.disable();
        break;
      default:
        break;
    }
    (this.events as unknown as Emitter<Record<string, unknown>>).emit(frame.type, frame.data);
    if (this.store.unreadCount !== countBefore) this.events.emit("unread_count", this.store.unreadCount);
    if (this.store.unseenCount !== unseenBefore) this.events.emit("unseen_count", this.store.unseenCount);
    if (changed) this.changed();
  }

  private targeted(type: TargetedFrame["type"], targets: number | ActionTargets, until?: string): SendResult {
    let data: { ids: number[] } | { group_key: string };
    if (typeof targets === "object" && "groupKey" in targets) {
      if (!targets.groupKey) throw new TypeError("groupKey must be a non-empty string");
      data = { group_key: targets.groupKey };
    } else {
      const unique = [...new Set(typeof targets === "number" ? [targets] : targets)];
      for (const id of unique) {
        // The server refuses the whole frame for one bad id (invalid_data); fail early and locally.
        if (!Number.isSafeInteger(id) || id < 1) throw new TypeError(`notification ids are positive integers, got ${String(id)}`);
      }
      if (unique.length === 0) return "sent";
      if (unique.length > MAX_IDS_PER_FRAME) {
        let result: SendResult = "sent";
        for (let i = 0; i < unique.length; i += MAX_IDS_PER_FRAME) {
          const outcome = this.targeted(type, unique.slice(i, i + MAX_IDS_PER_FRAME), until);
          if (outcome !== "sent") result = outcome;
        }
        return result;
      }
      data = { ids: unique };
    }
    const frame = (until === undefined ? { type, data } : { type, data: { ...data, until } }) as TargetedFrame;
    return this.act(frame);
  }

  private act(frame: NotificationsClientFrame): SendResult {
    return this.stream.send(frame);
  }

  // -- state ----------------------------------------------------------------------------------

  private changed(): void {
    this._snapshot = this.makeSnapshot();
    this.events.emit("change", this._snapshot);
  }

  private makeSnapshot(): ClientSnapshot {
    return {
      notifications: this.store.notifications,
      unreadCount: this.store.unreadCount,
      unseenCount: this.store.unseenCount,
      state: this.stream.state,
      transport: this.transport,
    };
  }
}

let singleton: ClarionClient | null = null;

/**
 * The page's shared client, created on first call. `options` are used only by that first call;
 * later calls return the same client whatever they pass.
 */
export function getWebSocketClient(options?: ClarionClientOptions): ClarionClient {
  singleton ??= new ClarionClient(options);
  return singleton;
}

/** Disconnect and drop the shared client (tests, sign-out with a different server). */
export function resetWebSocketClient(): void {
  singleton?.disconnect({ forget: true });
  singleton = null;
}
