/**
 * One stream (`/ws/notifications/`, `/ws/projects/<id>/`, ...): connect with a fresh credential
 * and the stream's last cursor, reconnect with capped, jittered backoff, detect dead connections
 * with application pings, queue actions while not connected, and drop frames already delivered.
 * What carries the frames is a {@link Transport} (a WebSocket; for notifications, polling after
 * it); what to do when a connection ends is `decide` (`reconnect.ts`). What is specific to a
 * stream (its path, which frames carry a cursor or an id) comes in a {@link StreamSpec}.
 */
import type { RenewResult } from "./auth.js";
import { CredentialRefusedError } from "./auth.js";
import { backoffDelay, type BackoffOptions, DEFAULT_BACKOFF } from "./backoff.js";
import { type CursorStore, MemoryCursorStore } from "./cursors.js";
import { RecentKeys } from "./dedupe.js";
import { Emitter, type Handler, type Unsubscribe } from "./emitter.js";
import { type Environment, globalEnvironment } from "./env.js";
import { BoundedQueue } from "./queue.js";
import { decide, type Ending } from "./reconnect.js";
import {
  type CredentialSource,
  type SocketCredential,
  type Transport,
  TransportBlocked,
  type TransportConnection,
  type TransportHandlers,
  WebSocketTransport,
} from "./transport.js";
import { CloseCode, type Frame, HEARTBEAT_TIMEOUT_CODE } from "./types.js";

export type { CredentialSource, SocketCredential } from "./transport.js";

export type ConnectionState = "connecting" | "open" | "reconnecting" | "closed";

/**
 * Why a stream stopped for good (state `closed`):
 * `client` disconnect() was called; `unauthorized` 4401 and no different token is available
 * (it reconnects by itself once one is set); `terminal` a close code the server says not to
 * retry (4403, 4404); `max_attempts` reconnect attempts ran out; `probe_failed` a single-attempt
 * connect failed; `suspended` the owner switched to another transport.
 */
export type CloseCause = "client" | "unauthorized" | "terminal" | "max_attempts" | "probe_failed" | "suspended";

export interface StreamSpec<S extends Frame = Frame> {
  /** The socket path, e.g. `/ws/notifications/`; also the key of the stream's cursor. */
  path: string;
  /** Extra query parameters for every connect. */
  params?: Record<string, string>;
  /** The resume cursor a frame carries, if any. */
  cursorOf?(frame: S): string | null | undefined;
  /** An identity for frames that must never be delivered twice (a notification's id). */
  dedupeKey?(frame: S): string | number | undefined;
  /** Identities a frame delivers without being one itself (the notifications in a snapshot). */
  knownKeys?(frame: S): Iterable<string | number>;
  /**
   * Count the connection as open only once the server sent its first frame (default true).
   * Clarion accepts every handshake and closes unauthorized ones with 4401 right away, so a
   * socket's `open` event proves nothing; its first frame proves it is authenticated and served.
   */
  openOnFirstFrame?: boolean;
  /** The application-level ping (default `{"type": "ping"}`). */
  ping?: Frame;
}

export interface ReconnectOptions extends BackoffOptions {
  /** Consecutive failed attempts before giving up (state `closed`, cause `max_attempts`). Default Infinity. */
  maxAttempts: number;
}

export interface HeartbeatOptions {
  /** Send a ping this often while open (ms). Default 25 s. */
  interval: number;
  /** Reconnect when no frame at all arrived this long after a ping (ms). Default 10 s. */
  timeout: number;
}

export interface StreamOptions {
  /** WebSocket base URL, `ws(s)://host[:port][/prefix]`; a function is read at every connect. */
  url: string | (() => string);
  credentials: CredentialSource;
  environment?: Environment;
  cursors?: CursorStore;
  reconnect?: Partial<ReconnectOptions>;
  heartbeat?: Partial<HeartbeatOptions> | false;
  /** Give up on an attempt that has not opened after this long (ms). Default 10 s. */
  connectTimeout?: number;
  /** Actions kept while not connected; the oldest is dropped beyond this. Default 100. */
  queueSize?: number;
  /** How many frame identities are remembered for dedupe. Default 2000. */
  dedupeSize?: number;
  /** Source of randomness for jitter, in [0, 1). */
  random?: () => number;
  /**
   * What carries the stream, first choice first (default: a WebSocket to `url`). Later ones are
   * fallbacks, taken and left under `fallback`.
   */
  transports?: Transport[];
  /** When to fall back to the next transport and how often to try the first again; `false`: never. */
  fallback?: TransportFallback | false;
}

export interface TransportFallback {
  /**
   * Fall back after this many consecutive attempts whose transport never opened, while no
   * connection has opened since connect(); at once when the transport is blocked. Default 3.
   */
  afterFailures: number;
  /** While on a fallback, try the first transport again this often (ms). Default 60 s. */
  retryInterval: number;
}

export const DEFAULT_TRANSPORT_FALLBACK: TransportFallback = { afterFailures: 3, retryInterval: 60_000 };

export const DEFAULT_RECONNECT: ReconnectOptions = { ...DEFAULT_BACKOFF, maxAttempts: Infinity };
export const DEFAULT_HEARTBEAT: HeartbeatOptions = { interval: 25_000, timeout: 10_000 };

export interface StreamLifecycleEvents<S extends Frame> {
  /** Every state change. */
  state: { state: ConnectionState; previous: ConnectionState };
  connecting: { attempt: number };
  open: { cursor: string | undefined };
  /** Emitted for every scheduled retry, with the delay chosen. */
  reconnecting: { attempt: number; delay: number; code?: number; reason?: string };
  closed: { cause: CloseCause; code?: number; reason?: string };
  /** One attempt that ended before the connection opened. */
  attempt_failed: AttemptFailure;
  /** Every frame delivered (after dedupe). */
  frame: S;
  /** Switched to another transport (`websocket`, `polling`). */
  transport: { transport: string; reason: string };
  /** A frame dropped because its identity was already delivered. */
  duplicate: S;
  /** An action evicted from the full queue; it will not be sent. */
  dropped: { frame: Frame };
}

export interface AttemptFailure {
  code?: number;
  reason: string;
  /** The WebSocket handshake completed (so WebSockets themselves work). */
  transportOpened: boolean;
  /** Creating the WebSocket threw (blocked by policy, or an invalid URL). */
  blocked: boolean;
  /** Consecutive attempts whose handshake never completed, since the last open. */
  transportFailures: number;
}

/** Frame events: `on("notification", data => ...)` receives the frame's `data`. */
export type FrameEvents<S extends Frame> = { [F in S as F["type"]]: F["data"] };

export type StreamEvents<S extends Frame> = StreamLifecycleEvents<S> & Omit<FrameEvents<S>, keyof StreamLifecycleEvents<S>>;

export type SendResult = "sent" | "queued" | "dropped";

export class StreamConnection<S extends Frame = Frame, C extends Frame = Frame> {
  readonly spec: StreamSpec<S>;
  private readonly options: Required<Omit<StreamOptions, "reconnect" | "heartbeat" | "transports" | "fallback" | "url" | "credentials">> & {
    reconnect: ReconnectOptions;
    heartbeat: HeartbeatOptions | false;
    credentials: CredentialSource;
  };
  private readonly transports: Transport[];
  private readonly fallback: TransportFallback | false;
  /** Untyped inside: frame event names are only known per stream; `on` and `emit` give the types. */
  private readonly events = new Emitter<Record<string, unknown>>();
  private readonly queue: BoundedQueue<C | Frame>;
  private readonly seen: RecentKeys;

  private _state: ConnectionState = "closed";
  /** Bumped whenever the current attempt chain must stop; stale callbacks compare and bail out. */
  private generation = 0;
  /** Which of `transports` carries the stream now. */
  private current = 0;
  private conn: TransportConnection | null = null;
  /** A connection of the first transport tried while on a fallback; it takes over once open. */
  private probe: TransportConnection | null = null;
  private attempts = 0;
  private transportFailures = 0;
  private once = false;
  private _everOpened = false;
  private waitingForNetwork = false;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private connectTimer: ReturnType<typeof setTimeout> | null = null;
  private probeTimer: ReturnType<typeof setTimeout> | null = null;
  private pingTimer: ReturnType<typeof setInterval> | null = null;
  private deadline: ReturnType<typeof setTimeout> | null = null;
  private envSubscriptions: Unsubscribe[] = [];
  private credentialWait: Unsubscribe | null = null;

  constructor(spec: StreamSpec<S>, options: StreamOptions) {
    this.spec = spec;
    const heartbeat = options.heartbeat === false ? false : { ...DEFAULT_HEARTBEAT, ...options.heartbeat };
    const environment = options.environment ?? globalEnvironment();
    this.options = {
      credentials: options.credentials,
      environment,
      cursors: options.cursors ?? new MemoryCursorStore(),
      reconnect: { ...DEFAULT_RECONNECT, ...options.reconnect },
      heartbeat,
      connectTimeout: options.connectTimeout ?? 10_000,
      queueSize: options.queueSize ?? 100,
      dedupeSize: options.dedupeSize ?? 2000,
      random: options.random ?? Math.random,
    };
    this.transports = options.transports?.length ? options.transports : [new WebSocketTransport(options.url, options.credentials, environment)];
    this.fallback = options.fallback === false ? false : { ...DEFAULT_TRANSPORT_FALLBACK, ...options.fallback };
    this.queue = new BoundedQueue(this.options.queueSize);
    this.seen = new RecentKeys(this.options.dedupeSize);
  }

  get state(): ConnectionState {
    return this._state;
  }

  /** The name of the transport carrying the stream now (`websocket`, `polling`). */
  get transport(): string {
    return (this.transports[this.current] as Transport).name;
  }

  /** The cursor the next connect resumes from. */
  get cursor(): string | undefined {
    return this.options.cursors.get(this.spec.path);
  }

  /** Whether a connection opened since the last `connect()` from `closed`. */
  get everOpened(): boolean {
    return this._everOpened;
  }

  get queued(): number {
    return this.queue.size;
  }

  on<K extends keyof StreamEvents<S> & string>(type: K, handler: Handler<StreamEvents<S>[K]>): Unsubscribe {
    return this.events.on(type, handler as Handler<unknown>);
  }

  private emit<K extends keyof StreamLifecycleEvents<S>>(type: K, payload: StreamLifecycleEvents<S>[K]): void {
    this.events.emit(type, payload);
  }

  /**
   * Start connecting (no-op unless `closed`), on the first transport. With `once`, a single
   * attempt: if it fails before opening the stream goes back to `closed` (cause `probe_failed`).
   */
  connect(options: { once?: boolean } = {}): void {
    if (this._state !== "closed") return;
    this.start(0, options.once ?? false);
  }

  private start(transport: number, once: boolean): void {
    this.stopWaitingForCredential();
    this.generation++;
    this.attempts = 0;
    this.transportFailures = 0;
    this.once = once;
    this._everOpened = false;
    this.current = transport;
    this.subscribeEnvironment();
    this.setState("connecting");
    this.emit("connecting", { attempt: 0 });
    void this.attempt(this.generation);
  }

  /** Close for good and drop queued actions. The cursor is kept: a later connect() resumes. */
  disconnect(): void {
    this.queue.clear();
    this.shutdown("client");
  }

  /** Forget the cursor and the delivered identities, e.g. when another user signs in. */
  forget(): void {
    this.options.cursors.delete(this.spec.path);
    this.seen.clear();
  }

  /**
   * Send a client frame now if open, else queue it (unless `queue: false`) until the next open.
   * Returns `dropped` when the frame was not kept.
   */
  send(frame: C | Frame, options: { queue?: boolean } = {}): SendResult {
    if (this.trySend(frame)) return "sent";
    if (options.queue === false) return "dropped";
    const { dropped } = this.queue.push(frame);
    if (dropped) this.emit("dropped", { frame: dropped });
    return dropped === frame ? "dropped" : "queued";
  }

  /**
   * Deliver a frame as if the server sent it: dedupe, then emit. Frames from a connection also
   * move the cursor; others only when `cursor: true`. Returns false when it was a duplicate.
   */
  deliver(frame: S, options: { cursor?: boolean } = {}): boolean {
    if (options.cursor !== false) {
      const cursor = this.spec.cursorOf?.(frame);
      // A duplicate's cursor still moves the position forward, so it is taken before dedupe.
      if (cursor) this.options.cursors.set(this.spec.path, cursor);
    }
    const known = this.spec.knownKeys?.(frame);
    if (known) for (const key of known) this.seen.add(key);
    const key = this.spec.dedupeKey?.(frame);
    if (key !== undefined && !this.seen.add(key)) {
      this.emit("duplicate", frame);
      return false;
    }
    this.emit("frame", frame);
    this.events.emit(frame.type, frame.data);
    return true;
  }

  /** Whether a frame identity was delivered (within the dedupe window). */
  hasSeen(key: string | number): boolean {
    return this.seen.has(key);
  }

  /** Send a ping now, and reconnect if nothing answers within the heartbeat timeout. */
  checkAlive(): void {
    const conn = this.conn;
    if (!conn || this._state !== "open" || this.options.heartbeat === false) return;
    if (!this.trySend(this.spec.ping ?? { type: "ping" })) return;
    if (this.deadline === null) {
      const generation = this.generation;
      this.deadline = setTimeout(() => {
        this.deadline = null;
        if (generation === this.generation && this.conn === conn) this.abandon(conn, HEARTBEAT_TIMEOUT_CODE, "heartbeat timeout", true);
      }, this.options.heartbeat.timeout);
    }
  }

  // -- attempts -------------------------------------------------------------------------------

  private async attempt(generation: number): Promise<void> {
    if (generation !== this.generation) return;
    if (!this.options.environment.isOnline()) {
      // Attempts made offline can only fail and would burn the backoff; wait for "online".
      this.waitingForNetwork = true;
      return;
    }
    const transport = this.transports[this.current] as Transport;
    let transportOpened = false;
    let conn: TransportConnection | null = null;
    const handlers: TransportHandlers = {
      opened: () => {
        if (this.conn !== conn || conn === null) return;
        transportOpened = true;
        if (this.spec.openOnFirstFrame === false) this.markOpen();
      },
      frame: (frame) => {
        if (this.conn !== conn || conn === null) return;
        this.clearDeadline(); // any frame proves the connection alive
        if (this._state !== "open") this.markOpen();
        this.deliver(frame as S);
      },
      closed: (code, reason) => {
        if (this.conn !== conn || conn === null) return;
        this.ended(conn, { code, reason, transportOpened, blocked: false });
      },
    };
    try {
      conn = await transport.connect({ path: this.spec.path, params: this.spec.params, cursor: this.cursor }, handlers);
    } catch (error) {
      if (generation !== this.generation) return;
      if (error instanceof TransportBlocked) {
        this.ended(null, { reason: error.message, transportOpened: false, blocked: true });
      } else if (error instanceof CredentialRefusedError) {
        void this.unauthorized(generation, error.token, undefined);
      } else {
        // The token provider or the ticket endpoint is unreachable: a transient failure.
        this.retryOrStop(generation, { reason: `no credential: ${errorText(error)}` });
      }
      return;
    }
    if (generation !== this.generation) {
      conn?.close(CloseCode.NORMAL, "stale attempt");
      return;
    }
    if (!conn) {
      this.waitForCredential(undefined);
      return;
    }
    this.conn = conn;
    const opened = conn;
    this.connectTimer = setTimeout(() => {
      this.connectTimer = null;
      // No frame within the timeout, handshake or not: the server sends its first frame at once,
      // so the path carries nothing (a buffering proxy), and that counts as the transport failing.
      if (this.conn === opened && this._state !== "open") this.abandon(opened, HEARTBEAT_TIMEOUT_CODE, "connect timeout", false);
    }, this.options.connectTimeout);
  }

  private markOpen(): void {
    this.clearTimer("connectTimer");
    this.attempts = 0;
    this.transportFailures = 0;
    this.once = false;
    this._everOpened = true;
    this.setState("open");
    this.emit("open", { cursor: this.cursor });
    this.startHeartbeat();
    for (const frame of this.queue.drain()) {
      if (!this.trySend(frame)) this.queue.push(frame);
    }
    if (this.current > 0) this.scheduleProbe();
  }

  /** Stop using a connection that did not close by itself (dead or too slow), and act as if it closed. */
  private abandon(conn: TransportConnection, code: number, reason: string, transportOpened: boolean): void {
    this.requeue(conn.close(code, reason));
    this.ended(conn, { code, reason, transportOpened, blocked: false });
  }

  /** A connection ended (or could not be made): report it, then do what `decide` says. */
  private ended(conn: TransportConnection | null, how: { code?: number; reason: string; transportOpened: boolean; blocked: boolean }): void {
    const generation = this.generation;
    if (conn) this.requeue(conn.close(how.code ?? CloseCode.NORMAL, how.reason));
    this.conn = null;
    this.clearTimer("connectTimer");
    this.stopHeartbeat();
    const wasOpen = this._state === "open";
    if (!wasOpen) {
      if (!how.transportOpened) this.transportFailures++;
      this.emit("attempt_failed", { ...how, transportFailures: this.transportFailures });
      if (generation !== this.generation) return;
    }
    const ending: Ending = { code: how.code, transportOpened: how.transportOpened, blocked: how.blocked, wasOpen };
    this.act(generation, ending, conn?.token ?? null, how.reason);
  }

  private act(generation: number, ending: Ending, token: string | null, reason: string): void {
    const decision = decide(ending, {
      attempts: this.attempts,
      maxAttempts: this.options.reconnect.maxAttempts,
      transportFailures: this.transportFailures,
      fallback: this.fallback !== false && this.current + 1 < this.transports.length ? this.fallback : null,
      once: this.once,
    });
    switch (decision.action) {
      case "renew":
        void this.unauthorized(generation, token, ending.code);
        return;
      case "stop":
        this.shutdown(decision.cause, ending.code, reason);
        return;
      case "fallback":
        this.switchTransport(this.current + 1, reason);
        void this.attempt(this.generation);
        return;
      case "retry":
        this.scheduleRetry(generation, { code: ending.code, reason });
    }
  }

  /** Retry after a failure that is no connection's (no credential service), unless the policy stops. */
  private retryOrStop(generation: number, info: { code?: number; reason: string }): void {
    this.act(generation, { code: info.code, transportOpened: false, blocked: false, wasOpen: false }, null, info.reason);
  }

  private switchTransport(index: number, reason: string): void {
    this.clearTimer("probeTimer");
    this.current = index;
    this.transportFailures = 0;
    this.attempts = 0;
    this.emit("transport", { transport: this.transport, reason });
  }

  private async unauthorized(generation: number, token: string | null, code: number | undefined): Promise<void> {
    let result: RenewResult;
    try {
      result = await this.options.credentials.renew(token);
    } catch (error) {
      if (generation !== this.generation) return;
      this.retryOrStop(generation, { code: undefined, reason: `token refresh failed: ${errorText(error)}` });
      return;
    }
    if (generation !== this.generation) return;
    if (result === "unavailable") {
      this.waitForCredential(code);
      return;
    }
    // A different token exists; still back off, so a server that refuses every token is not hammered.
    this.retryOrStop(generation, { reason: "unauthorized; retrying with a new token" });
  }

  /** 4401 and no other token: closed until the application sets a credential. */
  private waitForCredential(code: number | undefined): void {
    // A single-attempt connect stays single-attempt when it resumes with the new credential.
    const once = this.once;
    const current = this.current;
    this.shutdown("unauthorized", code, "no valid credential");
    this.credentialWait = this.options.credentials.onChange(() => {
      this.stopWaitingForCredential();
      // Back on the transport that was refused: a client that polls because WebSockets are
      // blocked would otherwise fail its way back to polling.
      if (this._state === "closed") this.start(current, once);
    });
  }

  private stopWaitingForCredential(): void {
    this.credentialWait?.();
    this.credentialWait = null;
  }

  private scheduleRetry(generation: number, info: { code?: number; reason?: string }): void {
    if (generation !== this.generation) return;
    const transport = this.transports[this.current] as Transport;
    const delay = Math.max(transport.minRetryDelay, backoffDelay(this.attempts, this.options.reconnect, this.options.random));
    this.attempts++;
    this.setState("reconnecting");
    this.emit("reconnecting", { attempt: this.attempts, delay, ...info });
    if (!this.options.environment.isOnline()) {
      this.waitingForNetwork = true;
      return;
    }
    this.clearTimer("retryTimer");
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      void this.attempt(generation);
    }, delay);
  }

  /** Skip the rest of a backoff wait (the network came back, the page became visible). */
  private retryNow(): void {
    if (this._state !== "reconnecting" && this._state !== "connecting") return;
    if (this.retryTimer === null && !this.waitingForNetwork) return; // an attempt is already running
    this.clearTimer("retryTimer");
    this.waitingForNetwork = false;
    void this.attempt(this.generation);
  }

  // -- back to the first transport --------------------------------------------------------------

  /** While on a fallback, try the first transport again every `retryInterval`. */
  private scheduleProbe(): void {
    this.clearTimer("probeTimer");
    if (this.fallback === false || this.current === 0) return;
    const generation = this.generation;
    this.probeTimer = setTimeout(() => {
      this.probeTimer = null;
      if (generation === this.generation) void this.tryFirstTransport(generation);
    }, this.fallback.retryInterval);
  }

  /**
   * One attempt on the first transport beside the fallback. Once its first frame arrives it
   * carries the stream: the fallback connection is closed, and the first frame resumes from the
   * cursor the fallback left (what both delivered is dropped by dedupe).
   */
  private async tryFirstTransport(generation: number): Promise<void> {
    const transport = this.transports[0] as Transport;
    let probe: TransportConnection | null = null;
    let settled = false;
    const failed = () => {
      if (settled) return;
      settled = true;
      if (this.probe === probe) this.probe = null;
      if (probe) probe.close(CloseCode.NORMAL, "probe failed");
      this.clearTimer("connectTimer");
      if (generation === this.generation && this.current > 0) this.scheduleProbe();
    };
    const handlers: TransportHandlers = {
      opened: () => {},
      frame: (frame) => {
        if (probe === null) return;
        if (!settled) {
          if (this.probe !== probe) return;
          settled = true;
          this.probe = null;
          this.clearTimer("connectTimer");
          this.takeOver(probe);
        }
        if (this.conn === probe) {
          this.clearDeadline();
          this.deliver(frame as S);
        }
      },
      closed: (code, reason) => {
        if (!settled) return failed();
        if (this.conn === probe && probe !== null) this.ended(probe, { code, reason, transportOpened: true, blocked: false });
      },
    };
    try {
      probe = await transport.connect({ path: this.spec.path, params: this.spec.params, cursor: this.cursor }, handlers);
    } catch {
      failed();
      return;
    }
    if (probe === null || generation !== this.generation || this.current === 0) {
      probe?.close(CloseCode.NORMAL, "not needed");
      if (probe === null) failed();
      return;
    }
    this.probe = probe;
    const pending = probe;
    this.connectTimer = setTimeout(() => {
      this.connectTimer = null;
      if (this.probe === pending) failed();
    }, this.options.connectTimeout);
  }

  private takeOver(probe: TransportConnection): void {
    const previous = this.conn;
    this.conn = probe;
    if (previous) this.requeue(previous.close(CloseCode.NORMAL, "back to the first transport"));
    this.clearTimer("retryTimer"); // the fallback may have been between attempts
    this.waitingForNetwork = false;
    this.stopHeartbeat();
    this.switchTransport(0, `${(this.transports[0] as Transport).name} connected`);
    this.markOpen();
  }

  private requeue(frames: Frame[]): void {
    for (const frame of frames) this.queue.push(frame);
  }

  private shutdown(cause: CloseCause, code?: number, reason?: string): void {
    this.generation++;
    this.stopWaitingForCredential();
    this.clearTimer("retryTimer");
    this.clearTimer("connectTimer");
    this.clearTimer("probeTimer");
    this.stopHeartbeat();
    this.waitingForNetwork = false;
    for (const unsubscribe of this.envSubscriptions) unsubscribe();
    this.envSubscriptions = [];
    for (const conn of [this.conn, this.probe]) {
      if (conn) this.requeue(conn.close(CloseCode.NORMAL, cause));
    }
    this.conn = null;
    this.probe = null;
    if (this._state === "closed") return;
    this.setState("closed");
    this.emit("closed", { cause, code, reason });
  }

  // -- heartbeat, environment -----------------------------------------------------------------

  private startHeartbeat(): void {
    this.stopHeartbeat();
    const { heartbeat } = this.options;
    if (heartbeat === false) return;
    this.pingTimer = setInterval(() => this.checkAlive(), heartbeat.interval);
  }

  private stopHeartbeat(): void {
    if (this.pingTimer !== null) clearInterval(this.pingTimer);
    this.pingTimer = null;
    this.clearDeadline();
  }

  private clearDeadline(): void {
    this.clearTimer("deadline");
  }

  private subscribeEnvironment(): void {
    const env = this.options.environment;
    this.envSubscriptions.push(
      env.onNetworkChange((online) => {
        if (online) {
          this.retryNow();
          this.poke();
        } else if (this.retryTimer !== null) {
          this.clearTimer("retryTimer");
          this.waitingForNetwork = true;
        } else {
          // Browsers often keep a socket "open" through a network loss; a ping finds out.
          this.checkAlive();
        }
      }),
      env.onVisibilityChange((visible) => {
        if (!visible) return;
        // A tab coming back (often from a sleeping laptop) may hold a dead socket or a long backoff.
        this.retryNow();
        this.poke();
      }),
    );
  }

  /** Ask the connection for a sign of life now (a poll polls at once), with or without a heartbeat. */
  private poke(): void {
    if (this.options.heartbeat !== false) this.checkAlive();
    else if (this._state === "open") this.trySend(this.spec.ping ?? { type: "ping" });
  }

  // -- helpers --------------------------------------------------------------------------------

  private trySend(frame: Frame): boolean {
    const conn = this.conn;
    if (!conn || this._state !== "open") return false;
    return conn.send(frame);
  }

  private setState(state: ConnectionState): void {
    const previous = this._state;
    if (previous === state) return;
    this._state = state;
    this.emit("state", { state, previous });
  }

  private clearTimer(name: "retryTimer" | "connectTimer" | "deadline" | "probeTimer"): void {
    const timer = this[name];
    if (timer !== null) clearTimeout(timer);
    this[name] = null;
  }
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
