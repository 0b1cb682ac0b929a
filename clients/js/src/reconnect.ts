/**
 * What a stream does when a connection ends: one pure function of how it ended and where the
 * stream stands, whatever carried it (a WebSocket, or polling). `StreamConnection` acts on the
 * answer and holds no rule of its own, so the policy reads and tests in one place.
 *
 * The close-code part is the server's (`should_reconnect` in `clarion/protocol/codes.py`,
 * docs/protocol.md "Close codes"); the fallback part is the client's (README, "Fallback").
 */
import { CloseCode, shouldReconnect } from "./types.js";

/** How one connection of a stream ended. */
export interface Ending {
  /** The close code (a poll that failed maps to one, see `polling.ts`); undefined when none came. */
  code?: number;
  /** The transport itself worked: a WebSocket handshake completed, or a poll was answered. */
  transportOpened: boolean;
  /** The transport cannot be used here at all: no WebSocket, or creating one threw (a CSP). */
  blocked: boolean;
  /** The stream was open: the server's first frame had arrived on this connection. */
  wasOpen: boolean;
}

/** Where the stream stands when a connection ends. */
export interface StreamStanding {
  /** Retries scheduled since the stream was last open. */
  attempts: number;
  maxAttempts: number;
  /** Consecutive attempts on the current transport whose transport never opened, this one included. */
  transportFailures: number;
  /** The next transport to fall back to, and after how many such failures; null when there is none. */
  fallback: { afterFailures: number } | null;
  /** A single attempt (`connect({ once: true })`): no retry when it fails before opening. */
  once: boolean;
}

export type Decision =
  /** Try the same transport again, after a backoff. */
  | { action: "retry" }
  /** The credential was refused (4401): ask for a different one, then retry, or wait for one. */
  | { action: "renew" }
  /** Go on with the next transport (from the WebSocket to polling), at once. */
  | { action: "fallback" }
  | { action: "stop"; cause: "terminal" | "probe_failed" | "max_attempts" };

export function decide(ending: Ending, standing: StreamStanding): Decision {
  if (ending.code === CloseCode.UNAUTHORIZED) return { action: "renew" };
  if (!shouldReconnect(ending.code)) return { action: "stop", cause: "terminal" };
  if (standing.once && !ending.wasOpen) return { action: "stop", cause: "probe_failed" };
  const fallback = standing.fallback;
  if (fallback && !ending.transportOpened) {
    // Blocked: no attempt on this transport can succeed. Otherwise a few attempts in a row whose
    // transport never carried a frame say a proxy or a firewall stops WebSockets now, even if
    // they worked earlier (a network changed under a laptop): poll, and try the socket again later.
    if (ending.blocked || standing.transportFailures >= fallback.afterFailures) return { action: "fallback" };
  }
  if (standing.attempts >= standing.maxAttempts) return { action: "stop", cause: "max_attempts" };
  return { action: "retry" };
}
