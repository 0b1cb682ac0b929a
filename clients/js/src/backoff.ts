/**
 * Exponential backoff with "full jitter": the delay is uniform in [0, min(maxDelay, initialDelay * factor^attempt)).
 *
 * Full jitter (rather than a fixed exponential delay) spreads the reconnects of many clients
 * that lost the same server at the same moment, so a restarted server is not hit by a
 * synchronized wave of handshakes on every backoff step.
 */

export interface BackoffOptions {
  /** Ceiling of the first retry's delay, in ms. */
  initialDelay: number;
  /** No delay ever exceeds this, in ms. */
  maxDelay: number;
  /** Growth of the ceiling per attempt. */
  factor: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { initialDelay: 1000, maxDelay: 30_000, factor: 2 };

/** The upper bound of the delay before retry number `attempt` (0-based). */
export function backoffCeiling(attempt: number, options: BackoffOptions = DEFAULT_BACKOFF): number {
  const { initialDelay, maxDelay, factor } = options;
  const raw = initialDelay * Math.pow(Math.max(1, factor), Math.max(0, attempt));
  // A large attempt count overflows to Infinity: that is simply "capped".
  return Number.isFinite(raw) ? Math.min(maxDelay, Math.max(0, raw)) : maxDelay;
}

/** A random delay in [0, ceiling) for retry number `attempt`; `random` must return values in [0, 1). */
export function backoffDelay(
  attempt: number,
  options: BackoffOptions = DEFAULT_BACKOFF,
  random: () => number = Math.random,
): number {
  const ceiling = backoffCeiling(attempt, options);
  // Clamped, so that a random source returning exactly 1 cannot reach the ceiling itself.
  const r = Math.min(Math.max(random(), 0), 1);
  return Math.max(0, Math.min(Math.floor(r * ceiling), Math.ceil(ceiling) - 1));
}
