/**
 * One WebSocket stream (`/ws/notifications/`, later `/ws/projects/<id>/`, ...): connect with a
 * fresh credential and the stream's last cursor, reconnect with capped, jittered backoff,
 * detect dead sockets with application pings, queue actions while not connected, and drop
 * frames already delivered. What is specific to a stream (its path, which frames carry a
 * cursor or an id) comes in a {@link StreamSpec}; everything else is shared.
 */
import type { RenewResult } from "./auth.js";
import { CredentialRefusedError } from "./auth.js";
import { backoffDelay, type BackoffOptions, DEFAULT_BACKOFF } from "./backoff.js";
import { type CursorStore, MemoryCursorStore } from "./cursors.js";
import { RecentKeys } from "./dedupe.js";
import { Emitter, type Handler, type Unsubscribe } from "./emitter.js";
import { type Environment, globalEnvironment, type WebSocketLike, WS_OPEN } from "./env.js";
import { BoundedQueue } from "./queue.js";
import { CloseCode, type Frame, HEARTBEAT_TIMEOUT_CODE, shouldReconnect } from "./types.js";

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

export interface SocketCredential {
  /** The query parameter that carries it. */
  param: "token" | "ticket";
  value: string;
  /** The access token behind it, named when the server refuses it. */
  token: string | null;
}

/** Where a stream gets a credential for every connect; see `ClarionClient` for the real one. */
export interface CredentialSource {
  /** A credential for the next connect; null when there is none. May throw {@link CredentialRefusedError}. */
  socketCredential(): Promise<SocketCredential | null>;
  /** The server refused `token`; whether a different one is available. */
  renew(token: string | null): Promise<RenewResult>;
  /** Notified when the application sets a new credential. */
  onChange(listener: () => void): Unsubscribe;
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
}

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
  private readonly options: Required<Omit<StreamOptions, "reconnect" | "heartbeat">> & {
    reconnect: ReconnectOptions;
    heartbeat: HeartbeatOptions | false;
  };
  /** Untyped inside: frame event names are only known per stream; `on` and `emit` give the types. */
  private readonly events = new Emitter<Record<string, unknown>>();
  private readonly queue: BoundedQueue<C | Frame>;
  private readonly seen: RecentKeys;

  private _state: ConnectionState = "closed";
  /** Bumped whenever the current attempt chain must stop; stale callbacks compare and bail out. */
  private generation = 0;
  private ws: WebSocketLike | null = null;
  private attempts = 0;
  private transportFailures = 0;
  private once = false;
  private _everOpened = false;
  private waitingForNetwork = false;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private connectTimer: ReturnType<typeof setTimeout> | null = null;
  private pingTimer: ReturnType<typeof setInterval> | null = null;
  private deadline: ReturnType<typeof setTimeout> | null = null;
  private envSubscriptions: Unsubscribe[] = [];
  private credentialWait: Unsubscribe | null = null;

  constructor(spec: StreamSpec<S>, options: StreamOptions) {
    this.spec = spec;
    const heartbeat = options.heartbeat === false ? false : { ...DEFAULT_HEARTBEAT, ...options.heartbeat };
    this.options = {
      url: options.url,
      credentials: options.credentials,
      environment: options.environment ?? globalEnvironment(),
      cursors: options.cursors ?? new MemoryCursorStore(),
      reconnect: { ...DEFAULT_RECONNECT, ...options.reconnect },
      heartbeat,
      connectTimeout: options.connectTimeout ?? 10_000,
      queueSize: options.queueSize ?? 100,
      dedupeSize: options.dedupeSize ?? 2000,
      random: options.random ?? Math.random,
    };
    this.queue = new BoundedQueue(this.options.queueSize);
    this.seen = new RecentKeys(this.options.dedupeSize);
  }

  get state(): ConnectionState {
    return this._state;
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
   * Start connecting (no-op unless `closed`). With `once`, a single attempt: if it fails before
   * opening the stream goes back to `closed` (cause `probe_failed`) instead of retrying.
   */
  connect(options: { once?: boolean } = {}): void {
    if (this._state !== "closed") return;
    this.stopWaitingForCredential();
    this.generation++;
    this.attempts = 0;
    this.transportFailures = 0;
    this.once = options.once ?? false;
    this._everOpened = false;
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

  /** Close without dropping queued actions (they can be taken with {@link takeQueued}). */
  suspend(): void {
    this.shutdown("suspended");
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

  /** Remove and return the queued actions, oldest first (to send them some other way). */
  takeQueued(): Array<C | Frame> {
    return this.queue.drain();
  }

  /**
   * Deliver a frame as if it came from the socket: dedupe, then emit. Frames from the socket
   * also move the cursor; others only when `cursor: true`.
   * Returns false when it was a duplicate.
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
    const ws = this.ws;
    if (!ws || this._state !== "open" || this.options.heartbeat === false) return;
    if (!this.trySend(this.spec.ping ?? { type: "ping" })) return;
    if (this.deadline === null) {
      const generation = this.generation;
      this.deadline = setTimeout(() => {
        this.deadline = null;
        if (generation === this.generation && this.ws === ws) this.abandon(ws, HEARTBEAT_TIMEOUT_CODE, "heartbeat timeout", true);
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
    const WebSocketImpl = this.options.environment.WebSocket;
    if (!WebSocketImpl) {
      this.failAttempt(generation, { reason: "no WebSocket implementation", transportOpened: false, blocked: true });
      return;
    }

    let credential: SocketCredential | null;
    try {
      credential = await this.options.credentials.socketCredential();
    } catch (error) {
      if (generation !== this.generation) return;
      if (error instanceof CredentialRefusedError) return this.unauthorized(generation, error.token, undefined);
      // The token provider or the ticket endpoint is unreachable: a transient failure.
      this.scheduleRetry(generation, { reason: `no credential: ${errorText(error)}` });
      return;
    }
    if (generation !== this.generation) return;
    if (!credential) {
      this.waitForCredential(undefined);
      return;
    }

    let ws: WebSocketLike;
    try {
      ws = new WebSocketImpl(this.buildUrl(credential)); // buildUrl throws when no server URL is known
    } catch (error) {
      // A Content-Security-Policy or a sandbox refuses WebSockets synchronously.
      this.failAttempt(generation, { reason: `WebSocket refused: ${errorText(error)}`, transportOpened: false, blocked: true });
      return;
    }
    this.ws = ws;
    let transportOpened = false;
    const openOnFirstFrame = this.spec.openOnFirstFrame ?? true;

    this.connectTimer = setTimeout(() => {
      this.connectTimer = null;
      if (this.ws === ws && this._state !== "open") this.abandon(ws, HEARTBEAT_TIMEOUT_CODE, "connect timeout", transportOpened);
    }, this.options.connectTimeout);

    ws.onopen = () => {
      if (this.ws !== ws) return;
      transportOpened = true;
      if (!openOnFirstFrame) this.markOpen();
    };
    ws.onmessage = (event) => {
      if (this.ws !== ws) return;
      this.clearDeadline(); // any frame proves the connection alive
      const frame = parseFrame(event.data);
      if (this._state !== "open") this.markOpen();
      if (frame) this.deliver(frame as S);
    };
    ws.onerror = () => {
      // Always followed by a close event, which carries the code we act on.
    };
    ws.onclose = (event) => {
      if (this.ws !== ws) return;
      this.socketClosed(ws, event.code, event.reason ?? "", transportOpened, credential);
    };
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
      if (!this.trySend(frame)) {
        this.queue.push(frame);
      }
    }
  }

  /** Stop using a socket that did not close by itself (dead or too slow), and act as if it closed. */
  private abandon(ws: WebSocketLike, code: number, reason: string, transportOpened: boolean): void {
    detach(ws);
    try {
      ws.close(code, reason);
    } catch {
      // Closing a socket that is already gone may throw in some implementations; it is gone either way.
    }
    this.socketClosed(ws, code, reason, transportOpened, null);
  }

  private socketClosed(
    ws: WebSocketLike,
    code: number,
    reason: string,
    transportOpened: boolean,
    credential: SocketCredential | null,
  ): void {
    const generation = this.generation;
    detach(ws);
    this.ws = null;
    this.clearTimer("connectTimer");
    this.stopHeartbeat();
    const wasOpen = this._state === "open";
    if (!wasOpen) {
      // 4401/4403/4404 come after a completed handshake: WebSockets work, the credential or path does not.
      this.failAttempt(generation, { code, reason, transportOpened, blocked: false }, false);
      if (generation !== this.generation) return;
    }
    if (code === CloseCode.UNAUTHORIZED) {
      void this.unauthorized(generation, credential?.token ?? null, code);
      return;
    }
    if (!shouldReconnect(code)) {
      this.shutdown("terminal", code, reason);
      return;
    }
    if (this.once && !wasOpen) {
      this.shutdown("probe_failed", code, reason);
      return;
    }
    this.scheduleRetry(generation, { code, reason });
  }

  /** Report a failed attempt; unless `andRetry` is false, go on with the retry policy. */
  private failAttempt(
    generation: number,
    failure: Omit<AttemptFailure, "transportFailures">,
    andRetry = true,
  ): void {
    if (!failure.transportOpened) this.transportFailures++;
    this.emit("attempt_failed", { ...failure, transportFailures: this.transportFailures });
    if (!andRetry || generation !== this.generation) return;
    if (this.once) {
      this.shutdown("probe_failed", failure.code, failure.reason);
      return;
    }
    this.scheduleRetry(generation, { code: failure.code, reason: failure.reason });
  }

  private async unauthorized(generation: number, token: string | null, code: number | undefined): Promise<void> {
    let result: RenewResult;
    try {
      result = await this.options.credentials.renew(token);
    } catch (error) {
      if (generation !== this.generation) return;
      this.scheduleRetry(generation, { code, reason: `token refresh failed: ${errorText(error)}` });
      return;
    }
    if (generation !== this.generation) return;
    if (result === "unavailable") {
      this.waitForCredential(code);
      return;
    }
    if (this.once) {
      this.shutdown("probe_failed", code, "unauthorized");
      return;
    }
    // A different token exists; still back off, so a server that refuses every token is not hammered.
    this.scheduleRetry(generation, { code, reason: "unauthorized; retrying with a new token" });
  }

  /** 4401 and no other token: closed until the application sets a credential. */
  private waitForCredential(code: number | undefined): void {
    // A single-attempt connect stays single-attempt when it resumes with the new credential.
    const once = this.once;
    this.shutdown("unauthorized", code, "no valid credential");
    this.credentialWait = this.options.credentials.onChange(() => {
      this.stopWaitingForCredential();
      this.connect({ once });
    });
  }

  private stopWaitingForCredential(): void {
    this.credentialWait?.();
    this.credentialWait = null;
  }

  private scheduleRetry(generation: number, info: { code?: number; reason?: string }): void {
    if (generation !== this.generation) return;
    const { reconnect } = this.options;
    if (this.attempts >= reconnect.maxAttempts) {
      this.shutdown("max_attempts", info.code, info.reason);
      return;
    }
    const delay = backoffDelay(this.attempts, reconnect, this.options.random);
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

  private shutdown(cause: CloseCause, code?: number, reason?: string): void {
    this.generation++;
    this.stopWaitingForCredential();
    this.clearTimer("retryTimer");
    this.clearTimer("connectTimer");
    this.stopHeartbeat();
    this.waitingForNetwork = false;
    for (const unsubscribe of this.envSubscriptions) unsubscribe();
    this.envSubscriptions = [];
    const ws = this.ws;
    this.ws = null;
    if (ws) {
      detach(ws);
      try {
        ws.close(CloseCode.NORMAL, cause);
      } catch {
        // see abandon()
      }
    }
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
          this.checkAlive();
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
        this.checkAlive();
      }),
    );
  }

  // -- helpers --------------------------------------------------------------------------------

  private trySend(frame: Frame): boolean {
    const ws = this.ws;
    if (!ws || this._state !== "open" || ws.readyState !== WS_OPEN) return false;
    try {
      ws.send(JSON.stringify(frame));
      return true;
    } catch {
      return false;
    }
  }

  private buildUrl(credential: SocketCredential): string {
    const query = new URLSearchParams(this.spec.params);
    query.set(credential.param, credential.value);
    const cursor = this.cursor;
    if (cursor) query.set("cursor", cursor);
    const base = typeof this.options.url === "function" ? this.options.url() : this.options.url;
    return `${base.replace(/\/+$/, "")}${this.spec.path}?${query.toString()}`;
  }

  private setState(state: ConnectionState): void {
    const previous = this._state;
    if (previous === state) return;
    this._state = state;
    this.emit("state", { state, previous });
  }

  private clearTimer(name: "retryTimer" | "connectTimer" | "deadline"): void {
    const timer = this[name];
    if (timer !== null) clearTimeout(timer);
    this[name] = null;
  }
}

function detach(ws: WebSocketLike): void {
  ws.onopen = null;
  ws.onmessage = null;
  ws.onerror = null;
  ws.onclose = null;
}

function parseFrame(data: unknown): Frame | null {
  if (typeof data !== "string") return null;
  try {
    const value = JSON.parse(data) as unknown;
    if (value && typeof value === "object" && typeof (value as Frame).type === "string") return value as Frame;
  } catch {
    // Not JSON: the server never sends that; ignore rather than tear down a working socket.
  }
  return null;
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
