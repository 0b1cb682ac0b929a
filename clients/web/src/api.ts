/**
 * Talking to the server. The sign-in is a Django session (an HttpOnly cookie the tabs share);
 * the page never stores a token. Whenever the API or a socket needs one, the provider asks
 * `POST /ui/session/token/` for a short-lived access token and keeps it in memory until shortly
 * before it expires. API calls carry it as `Authorization: Bearer`, sockets get single-use
 * tickets with it (clarion-client's default).
 */
import { jwtExpiry, type TokenProvider } from "clarion-client";

export interface Me {
  id: number;
  username: string;
  role: string | null;
  roles: string[];
  can_send: boolean;
}

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly body: unknown,
  ) {
    super(describe(status, body));
    this.name = "HttpError";
  }
}

function describe(status: number, body: unknown): string {
  if (body && typeof body === "object" && "detail" in body) return String((body as { detail: unknown }).detail);
  if (status === 403) return "Not allowed (or the page's security token expired: reload the page).";
  return `The server answered ${status}.`;
}

/** Django's CSRF token, from its cookie (it changes at sign-in, so it is read for every request). */
function csrfToken(): string {
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1] as string) : "";
}

async function parse(response: Response): Promise<unknown> {
  const text = await response.text();
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** A request on the session (sign-in, sign-out, token, user directory), CSRF-protected. */
export async function sessionRequest<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { Accept: "application/json", "X-CSRFToken": csrfToken() };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method,
    headers,
    credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const parsed = await parse(response);
  if (!response.ok) throw new HttpError(response.status, parsed);
  return parsed as T;
}

// -- the access token ---------------------------------------------------------------------------

let access: string | null = null;
let inflight: Promise<string | null> | null = null;
const signedOutListeners = new Set<() => void>();

/** Called when the session turns out to be gone (signed out here, in another tab, or expired). */
export function onSignedOut(listener: () => void): () => void {
  signedOutListeners.add(listener);
  return () => signedOutListeners.delete(listener);
}

async function mint(): Promise<string | null> {
  try {
    access = (await sessionRequest<{ access: string }>("POST", "/ui/session/token/")).access;
    return access;
  } catch (error) {
    if (error instanceof HttpError && (error.status === 401 || error.status === 403)) {
      access = null;
      signedOutListeners.forEach((listener) => listener());
      return null;
    }
    throw error; // the server is unreachable: the client retries with backoff
  }
}

function fresh(token: string): boolean {
  const exp = jwtExpiry(token);
  return exp === undefined || exp - 30_000 > Date.now();
}

/** For clarion-client and {@link apiRequest}: the current access token, or null when signed out. */
export const tokenProvider: TokenProvider = ({ reason }) => {
  if (access && reason === "connect" && fresh(access)) return access;
  inflight ??= mint().finally(() => {
    inflight = null;
  });
  return inflight;
};

export function forgetToken(): void {
  access = null;
}

/** A request to the REST API with the access token; one retry with a new token after a 401. */
export async function apiRequest<T>(method: string, path: string, body?: unknown): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    const token = await tokenProvider({ reason: attempt === 0 ? "connect" : "unauthorized" });
    if (!token) throw new HttpError(401, { detail: "You are signed out." });
    const headers: Record<string, string> = { Accept: "application/json", Authorization: `Bearer ${token}` };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const response = await fetch(path, {
      method,
      headers,
      credentials: "omit",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const parsed = await parse(response);
    if (response.status === 401 && attempt === 0) {
      access = null;
      continue;
    }
    if (!response.ok) throw new HttpError(response.status, parsed);
    return parsed as T;
  }
}

export function signIn(username: string, password: string): Promise<{ username: string }> {
  forgetToken();
  return sessionRequest("POST", "/ui/session/", { username, password });
}

export async function signOut(): Promise<void> {
  forgetToken();
  await sessionRequest("DELETE", "/ui/session/");
}
