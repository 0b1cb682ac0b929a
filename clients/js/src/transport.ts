/**
 * What carries a stream's frames: a WebSocket, or polling (`polling.ts`). A `StreamConnection`
 * drives any of them alike: it asks for a connection, hears when it opened, its frames and how
 * it ended, and sends client frames through it. Resume, dedupe, backoff, queueing and the
 * reconnect decision (`reconnect.ts`) are the stream's, whatever the transport.
 */
import type { Unsubscribe } from "./emitter.js";
import type { RenewResult } from "./auth.js";
import { type Environment, type WebSocketLike, WS_OPEN } from "./env.js";
import type { Frame } from "./types.js";

/** Where a transport gets a credential for every connect; see `ClarionClient` for the real one. */
export interface CredentialSource {
  /** A credential for the next socket connect; null when there is none. May throw `CredentialRefusedError`. */
  socketCredential(): Promise<SocketCredential | null>;
  /** The server refused `token`; whether a different one is available. */
  renew(token: string | null): Promise<RenewResult>;
  /** Notified when the application sets a new credential. */
  onChange(listener: () => void): Unsubscribe;
}

export interface SocketCredential {
  /** The query parameter that carries it. */
  param: "token" | "ticket";
  value: string;
  /** The access token behind it, named when the server refuses it. */
  token: string | null;
}

/** What a connection tells its stream. After `closed`, or after the stream closed it, nothing. */
export interface TransportHandlers {
  /** The transport works: a WebSocket handshake completed, a poll was answered. */
  opened(): void;
  frame(frame: Frame): void;
  /** It ended by itself: the server closed it, the network failed, a poll was refused. */
  closed(code: number, reason: string): void;
}

export interface ConnectRequest {
  /** The stream's path (`/ws/notifications/`) and extra query parameters. */
  path: string;
  params?: Record<string, string>;
  /** Where to resume from; undefined: a fresh snapshot. */
  cursor: string | undefined;
}

export interface TransportConnection {
  /** The access token this connection was made with: named to `renew` when it is refused (4401). */
  readonly token: string | null;
  /** Send a client frame now; false when it cannot be carried (the stream then queues it). */
  send(frame: Frame): boolean;
  /** Close it. Returns client frames it accepted but did not carry yet, for the next connection. */
  close(code: number, reason: string): Frame[];
}

/** The transport cannot be used in this environment at all (no WebSocket, a CSP refuses one). */
export class TransportBlocked extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TransportBlocked";
  }
}

/**
 * A way to carry a stream. `connect` resolves with a connection whose handlers fire later; it
 * rejects with {@link TransportBlocked}, `CredentialRefusedError` (the token was refused before
 * a connection existed), or any other error (a transient failure: no credential service).
 * It resolves with null when there is no credential at all (the stream waits for one).
 */
export interface Transport {
  /** `websocket` or `polling`: reported in `transport` events and `client.transport`. */
  readonly name: string;
  /** Never retry faster than this (ms): polling keeps to its interval even while failing. */
  readonly minRetryDelay: number;
  connect(request: ConnectRequest, handlers: TransportHandlers): Promise<TransportConnection | null>;
}

/** Frames over one WebSocket per connection; the URL carries the credential and the cursor. */
export class WebSocketTransport implements Transport {
  readonly name = "websocket";
  readonly minRetryDelay = 0;

  constructor(
    private readonly url: string | (() => string),
    private readonly credentials: CredentialSource,
    private readonly environment: Environment,
  ) {}

  async connect(request: ConnectRequest, handlers: TransportHandlers): Promise<TransportConnection | null> {
    const WebSocketImpl = this.environment.WebSocket;
    if (!WebSocketImpl) throw new TransportBlocked("no WebSocket implementation");
    const credential = await this.credentials.socketCredential();
    if (!credential) return null;
    let ws: WebSocketLike;
    try {
      ws = new WebSocketImpl(this.buildUrl(request, credential)); // throws when no server URL is known
    } catch (error) {
      // A Content-Security-Policy or a sandbox refuses WebSockets synchronously.
      throw new TransportBlocked(`WebSocket refused: ${error instanceof Error ? error.message : String(error)}`);
    }
    ws.onopen = () => handlers.opened();
    ws.onmessage = (event) => {
      const frame = parseFrame(event.data);
      if (frame) handlers.frame(frame);
    };
    ws.onerror = () => {
      // Always followed by a close event, which carries the code the stream acts on.
    };
    ws.onclose = (event) => {
      detach(ws);
      handlers.closed(event.code, event.reason ?? "");
    };
    return {
      token: credential.token,
      send(frame) {
        if (ws.readyState !== WS_OPEN) return false;
        try {
          ws.send(JSON.stringify(frame));
          return true;
        } catch {
          return false;
        }
      },
      close(code, reason) {
        detach(ws);
        try {
          ws.close(code, reason);
        } catch {
          // Closing a socket that is already gone may throw in some implementations; it is gone either way.
        }
        return [];
      },
    };
  }

  private buildUrl(request: ConnectRequest, credential: SocketCredential): string {
    const query = new URLSearchParams(request.params);
    query.set(credential.param, credential.value);
    if (request.cursor) query.set("cursor", request.cursor);
    const base = typeof this.url === "function" ? this.url() : this.url;
    return `${base.replace(/\/+$/, "")}${request.path}?${query.toString()}`;
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
