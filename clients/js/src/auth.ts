/**
 * Credentials: a fixed access token or a provider that returns a current one, and the rule for
 * 4401: never retry with the token the server refused, only with a different one.
 */
import { RecentKeys } from "./dedupe.js";
import { Emitter } from "./emitter.js";
import { ApiError, type FetchLike, jwtExpiry, refreshAccessToken } from "./rest.js";

export interface TokenContext {
  /**
   * `connect`: a token for a new connection or request; return a cached one if still valid.
   * `unauthorized`: the server refused the last token; return a different one or null.
   */
  reason: "connect" | "unauthorized";
}

/**
 * Returns a current access token, or null/undefined when there is none (signed out). Throwing
 * means "not right now" (say the refresh endpoint is unreachable): the client retries with backoff.
 */
export type TokenProvider = (context: TokenContext) => string | null | undefined | Promise<string | null | undefined>;

export type TokenSource = string | TokenProvider;

export type RenewResult = "renewed" | "unavailable";

export class Auth {
  private source: TokenSource | null = null;
  /** Tokens the server refused since the credential was last set: never sent again. */
  private readonly refused = new RecentKeys<string>(16);
  private readonly events = new Emitter<{ change: undefined }>();

  /** Replace the credential; everything waiting for a new token after a 4401 tries again. */
  set(source: TokenSource | null): void {
    this.source = source;
    this.refused.clear();
    this.events.emit("change", undefined);
  }

  get configured(): boolean {
    return this.source != null;
  }

  /** Called when `set` gives a new credential. */
  onChange(listener: () => void): () => void {
    return this.events.on("change", listener);
  }

  /**
   * The token to use now, or null when none is usable. A provider that hands back a token the
   * server refused is asked once more with reason `unauthorized`; a fixed token that was refused
   * is not usable until `set` is called.
   */
  async token(): Promise<string | null> {
    const source = this.source;
    if (source == null) return null;
    if (typeof source === "string") return this.refused.has(source) ? null : source;
    const cached = await source({ reason: "connect" });
    if (cached && !this.refused.has(cached)) return cached;
    if (source !== this.source) return null;
    const renewed = await source({ reason: "unauthorized" });
    return renewed && !this.refused.has(renewed) ? renewed : null;
  }

  /** The server refused `token` (close 4401, or HTTP 401). Resolves whether a different token is available. */
  async renew(token: string | null): Promise<RenewResult> {
    if (token) this.refused.add(token);
    return (await this.token()) ? "renewed" : "unavailable";
  }
}

export interface RefreshingTokenOptions {
  /** Where the REST API is mounted. */
  baseUrl: string;
  refresh: string;
  /** A current access token, used until it is within `leeway` of expiring. */
  access?: string;
  /** Refresh this long before `exp` (ms), so a token does not expire between fetch and handshake. Default 30 s. */
  leeway?: number;
  fetch?: FetchLike;
  /** Told about every new token (for instance to persist a rotated refresh token). */
  onRefresh?: (tokens: { access: string; refresh: string }) => void;
  now?: () => number;
}

/**
 * A {@link TokenProvider} on simplejwt's refresh endpoint: returns the cached access token while
 * it is valid, refreshes it before it expires or when the server refused it, and returns null
 * once the refresh token itself is refused (the user has to sign in again).
 */
export function refreshingToken(options: RefreshingTokenOptions): TokenProvider {
  const leeway = options.leeway ?? 30_000;
  const now = options.now ?? Date.now;
  let access = options.access ?? null;
  let refresh = options.refresh;
  let inflight: Promise<string | null> | null = null;

  const fresh = (token: string) => {
    const exp = jwtExpiry(token);
    return exp === undefined || exp - leeway > now();
  };

  const doRefresh = async (): Promise<string | null> => {
    try {
      const answer = await refreshAccessToken(options.baseUrl, refresh, options.fetch);
      access = answer.access;
      if (answer.refresh) refresh = answer.refresh;
      options.onRefresh?.({ access, refresh });
      return access;
    } catch (error) {
      if (error instanceof ApiError && (error.status === 400 || error.status === 401)) {
        access = null;
        return null;
      }
      throw error;
    }
  };

  return ({ reason }) => {
    if (access && reason === "connect" && fresh(access)) return access;
    // Concurrent callers (several streams, the poller) share one refresh request.
    inflight ??= doRefresh().finally(() => {
      inflight = null;
    });
    return inflight;
  };
}

/**
 * Thrown by a credential source when the server refused the token while issuing a socket
 * credential (HTTP 401 on `POST /api/auth/ticket/`): handled like a 4401 close.
 */
export class CredentialRefusedError extends Error {
  constructor(readonly token: string | null) {
    super("the server refused the access token");
    this.name = "CredentialRefusedError";
  }
}
