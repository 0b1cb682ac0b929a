/**
 * What the client needs from its host, behind one interface so that the same code runs in a
 * browser, in a worker, under Node (no `window`, maybe no WebSocket) and in tests.
 */

/** The subset of the WebSocket API the client uses, so a test double or a Node library fits. */
export interface WebSocketLike {
  readonly readyState: number;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number; reason: string; wasClean?: boolean }) => void) | null;
  onerror: ((event: unknown) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

export type WebSocketConstructor = new (url: string) => WebSocketLike;

/** `readyState` of an open socket (the WebSocket.OPEN constant, which test doubles may lack). */
export const WS_OPEN = 1;

export interface Environment {
  /** The WebSocket implementation, or undefined where there is none (then the client polls). */
  readonly WebSocket: WebSocketConstructor | undefined;
  isOnline(): boolean;
  isVisible(): boolean;
  /** Subscribe to network changes; returns the unsubscribe function. */
  onNetworkChange(listener: (online: boolean) => void): () => void;
  onVisibilityChange(listener: (visible: boolean) => void): () => void;
  /** The page origin (`location.origin`), used as the default server URL. */
  origin(): string | undefined;
}

interface BrowserGlobals {
  WebSocket?: WebSocketConstructor;
  navigator?: { onLine?: boolean };
  document?: {
    visibilityState?: string;
    addEventListener?: (type: string, listener: () => void) => void;
    removeEventListener?: (type: string, listener: () => void) => void;
  };
  addEventListener?: (type: string, listener: () => void) => void;
  removeEventListener?: (type: string, listener: () => void) => void;
  location?: { origin?: string };
}

/**
 * The environment of the current global scope. Every browser API is looked up lazily and
 * guarded, because the module may be imported during server-side rendering, where there is no
 * `window` or `document`; there the client reports itself online and visible.
 */
export function globalEnvironment(): Environment {
  const g = globalThis as unknown as BrowserGlobals;
  return {
    get WebSocket() {
      return typeof g.WebSocket === "function" ? g.WebSocket : undefined;
    },
    isOnline: () => g.navigator?.onLine !== false,
    isVisible: () => g.document?.visibilityState !== "hidden",
    onNetworkChange(listener) {
      if (typeof g.addEventListener !== "function" || typeof g.removeEventListener !== "function") return () => {};
      const online = () => listener(true);
      const offline = () => listener(false);
      g.addEventListener("online", online);
      g.addEventListener("offline", offline);
      return () => {
        g.removeEventListener?.("online", online);
        g.removeEventListener?.("offline", offline);
      };
    },
    onVisibilityChange(listener) {
      const doc = g.document;
      if (!doc || typeof doc.addEventListener !== "function") return () => {};
      const changed = () => listener(doc.visibilityState !== "hidden");
      doc.addEventListener("visibilitychange", changed);
      return () => doc.removeEventListener?.("visibilitychange", changed);
    },
    origin: () => g.location?.origin,
  };
}

/** `env` with another WebSocket implementation (or none, to force polling). */
export function withWebSocket(env: Environment, WebSocket: WebSocketConstructor | undefined): Environment {
  return {
    WebSocket,
    isOnline: () => env.isOnline(),
    isVisible: () => env.isVisible(),
    onNetworkChange: (listener) => env.onNetworkChange(listener),
    onVisibilityChange: (listener) => env.onVisibilityChange(listener),
    origin: () => env.origin(),
  };
}
