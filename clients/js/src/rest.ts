/**
 * The REST endpoints a client needs (docs/protocol.md, "REST"), on `fetch`, plus helpers to
 * obtain and refresh simplejwt tokens.
 */
import type {
  Counts,
  DeliveriesPage,
  GroupPage,
  Mute,
  Notification,
  NotificationPage,
  NotificationsResume,
  Preferences,
  PreferencesChanges,
  RecentNotificationsData,
  ReadResult,
  StateResult,
  Ticket,
  TokenPair,
} from "./types.js";

/** Which notifications an inbox action takes: ids, or every one of a group. */
export type ActionTargets = readonly number[] | { groupKey: string };

/** The REST inbox actions, by the name of their path. */
export type RestInboxAction = "seen" | "archive" | "unarchive" | "unread" | "snooze";

export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;

/** A non-2xx answer. `token` is the access token the request carried, so a 401 can be pinned on it. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly body: unknown,
    readonly token: string | null = null,
  ) {
    super(`HTTP ${status}${describe(body)}`);
    this.name = "ApiError";
  }
}

function describe(body: unknown): string {
  if (body && typeof body === "object" && "detail" in body) return `: ${String((body as { detail: unknown }).detail)}`;
  return "";
}

export interface RestApiOptions {
  /**
   * Where the host site mounts `clarion.api.urls`, e.g. `https://example.com` (no trailing `/api`);
   * a function is read at every request, so the URL may be decided after construction.
   */
  baseUrl: string | (() => string);
  /** The access token for `Authorization: Bearer`; null sends the request without one. */
  getToken?: () => Promise<string | null>;
  fetch?: FetchLike;
}

export interface ListOptions {
  /** true: unread only; false: read only; absent: both. */
  unread?: boolean;
  /** Only this category (a key of the server's `CLARION["CATEGORIES"]`). */
  category?: string;
  /** Only this topic, e.g. `project:7`. */
  topic?: string;
  /** Only notifications whose title or message contains this text, in any case. */
  q?: string;
  /** true: the archived ones only (they are left out by default). */
  archived?: boolean;
  /** true: the ones snoozed until later only (left out by default). */
  snoozed?: boolean;
  /** true: also what the reader muted or turned off. */
  includeMuted?: boolean;
  /** Default 20 on the server, at most 100. */
  pageSize?: number;
  /** A DRF pagination position (taken from `next`/`previous`), not a socket cursor. */
  cursor?: string;
}

export class RestApi {
  private readonly base: string | (() => string);
  private readonly getToken: () => Promise<string | null>;
  private readonly fetchImpl: FetchLike;

  constructor(options: RestApiOptions) {
    this.base = options.baseUrl;
    this.getToken = options.getToken ?? (async () => null);
    this.fetchImpl = options.fetch ?? defaultFetch();
  }

  get baseUrl(): string {
    return (typeof this.base === "function" ? this.base() : this.base).replace(/\/+$/, "");
  }

  listNotifications(options: ListOptions = {}): Promise<NotificationPage> {
    const query = filterQuery(options);
    if (options.cursor) query.set("cursor", options.cursor);
    const qs = query.toString();
    return this.request<NotificationPage>("GET", `/api/notifications/${qs ? `?${qs}` : ""}`);
  }

  /**
   * What was published after `after` (a cursor from a frame, an item or an earlier answer),
   * oldest first: the socket's resume over HTTP. A cursor the server did not issue is a 400
   * ({@link ApiError}) naming `after`.
   */
  notificationsAfter(after: string, limit?: number): Promise<NotificationsResume> {
    const query = new URLSearchParams({ after });
    if (limit != null) query.set("limit", String(limit));
    return this.request<NotificationsResume>("GET", `/api/notifications/?${query.toString()}`);
  }

  /** The `recent_notifications` data a socket's connect without a cursor sends first. */
  notificationsSnapshot(): Promise<RecentNotificationsData> {
    return this.request<RecentNotificationsData>("GET", "/api/notifications/snapshot/");
  }

  /** Groups instead of items (`?grouped=true`): the same filters, page-number pagination. */
  listGroups(options: Omit<ListOptions, "cursor"> & { page?: number } = {}): Promise<GroupPage> {
    const query = filterQuery(options, new URLSearchParams({ grouped: "true" }));
    if (options.page != null) query.set("page", String(options.page));
    return this.request<GroupPage>("GET", `/api/notifications/?${query.toString()}`);
  }

  /** `POST /api/notifications/<action>/` with ids or a group key (`until` for snooze). */
  changeState(action: RestInboxAction, targets: ActionTargets, until?: string): Promise<StateResult> {
    const body: Record<string, unknown> = targetsBody(targets);
    if (until !== undefined) body.until = until;
    return this.request<StateResult>("POST", `/api/notifications/${action}/`, { body });
  }

  /**
   * `POST /api/notifications/read/`: several ids, or a whole group, in one request. 404 only when
   * none of them is the caller's; `not_found` lists the others. (A server before issue 13 has
   * only `markAsRead(id)`.)
   */
  markRead(targets: ActionTargets): Promise<ReadResult> {
    return this.request<ReadResult>("POST", "/api/notifications/read/", { body: targetsBody(targets) });
  }

  markAllSeen(): Promise<StateResult> {
    return this.request<StateResult>("POST", "/api/notifications/seen-all/");
  }

  /** Unread and unseen counts of the caller's inbox. */
  counts(): Promise<Counts> {
    return this.request<Counts>("GET", "/api/notifications/unread-count/");
  }

  getPreferences(): Promise<Preferences> {
    return this.request<Preferences>("GET", "/api/preferences/");
  }

  /**
   * Only what changes: `{categories: {comment: {in_app: false}}}`, `{locale: "th"}`,
   * `{digest: {email: "daily"}, digest_hour: 7}`, `{quiet_hours: null}`. A 400 ({@link ApiError})
   * has a body of field errors, e.g. `{"quiet_hours.from": ["expected a time of day ..."]}`.
   */
  updatePreferences(changes: PreferencesChanges): Promise<Preferences> {
    return this.request<Preferences>("PATCH", "/api/preferences/", { body: changes });
  }

  listMutes(): Promise<Mute[]> {
    return this.request<Mute[]>("GET", "/api/mutes/");
  }

  /** Mute `topic` until `until` (ISO 8601), or until unmuted. */
  mute(topic: string, until?: string): Promise<Mute> {
    return this.request<Mute>("POST", "/api/mutes/", { body: until === undefined ? { topic } : { topic, until } });
  }

  async unmute(topic: string): Promise<void> {
    await this.request<null>("DELETE", `/api/mutes/${encodeURIComponent(topic)}/`);
  }

  /**
   * Who of a notification's audience received, saw and read it, and what email and push did:
   * for administrators and its sender (403 for others, 404 for an unknown id). Pages of readers
   * from 1; `pageSize` 50 by default, at most 100.
   */
  deliveries(notificationId: number, options: { page?: number; pageSize?: number } = {}): Promise<DeliveriesPage> {
    const query = new URLSearchParams();
    if (options.page != null) query.set("page", String(options.page));
    if (options.pageSize != null) query.set("page_size", String(options.pageSize));
    const qs = query.toString();
    return this.request<DeliveriesPage>("GET", `/api/notifications/${encodeURIComponent(String(notificationId))}/deliveries/${qs ? `?${qs}` : ""}`);
  }

  getNotification(id: number): Promise<Notification> {
    return this.request<Notification>("GET", `/api/notifications/${encodeURIComponent(String(id))}/`);
  }

  /** Answers 404 alike for unknown ids and other users' notifications. */
  markAsRead(id: number): Promise<ReadResult> {
    return this.request<ReadResult>("POST", `/api/notifications/${encodeURIComponent(String(id))}/read/`);
  }

  markAllAsRead(): Promise<ReadResult> {
    return this.request<ReadResult>("POST", "/api/notifications/read-all/");
  }

  /** The unread count alone; {@link counts} has the unseen count too. */
  async unreadCount(): Promise<number> {
    const body = await this.request<{ unread_count: number }>("GET", "/api/notifications/unread-count/");
    return body.unread_count;
  }

  /** A single-use connect ticket; `token` is passed explicitly so a 401 names the token it refused. */
  ticket(token?: string | null): Promise<Ticket> {
    return this.request<Ticket>("POST", "/api/auth/ticket/", { token });
  }

  private async request<T>(method: string, path: string, options: { token?: string | null; body?: unknown } = {}): Promise<T> {
    const token = options.token !== undefined ? options.token : await this.getToken();
    const headers: Record<string, string> = { Accept: "application/json" };
    if (method !== "GET") headers["Content-Type"] = "application/json";
    if (token) headers.Authorization = `Bearer ${token}`;
    const init: RequestInit = { method, headers };
    if (options.body !== undefined) init.body = JSON.stringify(options.body);
    const response = await this.fetchImpl(this.baseUrl + path, init);
    return parse<T>(response, token ?? null);
  }
}

function targetsBody(targets: ActionTargets): Record<string, unknown> {
  return "groupKey" in targets ? { group_key: targets.groupKey } : { ids: [...targets] };
}

/** The list filters of `GET /api/notifications/` (shared by items and groups). */
function filterQuery(options: Omit<ListOptions, "cursor">, query = new URLSearchParams()): URLSearchParams {
  if (options.unread != null) query.set("unread", String(options.unread));
  if (options.category) query.set("category", options.category);
  if (options.topic) query.set("topic", options.topic);
  if (options.q) query.set("q", options.q);
  if (options.archived != null) query.set("archived", String(options.archived));
  if (options.snoozed != null) query.set("snoozed", String(options.snoozed));
  if (options.includeMuted != null) query.set("include_muted", String(options.includeMuted));
  if (options.pageSize != null) query.set("page_size", String(options.pageSize));
  return query;
}

/** The DRF pagination position inside a `next`/`previous` link (absolute URL as the server built it). */
export function pageCursor(link: string | null): string | undefined {
  if (!link) return undefined;
  try {
    return new URL(link, "http://placeholder.invalid").searchParams.get("cursor") ?? undefined;
  } catch {
    return undefined;
  }
}

async function parse<T>(response: Response, token: string | null): Promise<T> {
  const text = await response.text();
  let body: unknown = undefined;
  if (text) {
    try {
      body = JSON.parse(text);
    } catch {
      body = text;
    }
  }
  if (!response.ok) throw new ApiError(response.status, body, token);
  return body as T;
}

function defaultFetch(): FetchLike {
  return (input, init) => {
    if (typeof globalThis.fetch !== "function") throw new Error("clarion-client: no fetch in this environment; pass options.fetch");
    return globalThis.fetch(input, init);
  };
}

async function post<T>(fetchImpl: FetchLike, url: string, body: unknown): Promise<T> {
  const response = await fetchImpl(url, {
    method: "POST",
    headers: { Accept: "application/json", "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  return parse<T>(response, null);
}

/** `POST /api/auth/token/`: username and password for a refresh/access pair. 401 on wrong credentials. */
export function obtainTokenPair(baseUrl: string, username: string, password: string, fetchImpl: FetchLike = defaultFetch()): Promise<TokenPair> {
  return post<TokenPair>(fetchImpl, `${baseUrl.replace(/\/+$/, "")}/api/auth/token/`, { username, password });
}

/** `POST /api/auth/token/refresh/`. `refresh` is set too when the server rotates refresh tokens. */
export function refreshAccessToken(baseUrl: string, refresh: string, fetchImpl: FetchLike = defaultFetch()): Promise<{ access: string; refresh?: string }> {
  return post(fetchImpl, `${baseUrl.replace(/\/+$/, "")}/api/auth/token/refresh/`, { refresh });
}

/** The `exp` claim of a JWT in epoch milliseconds, or undefined when the token is not a readable JWT. */
export function jwtExpiry(token: string): number | undefined {
  const part = token.split(".")[1];
  if (!part) return undefined;
  try {
    const base64 = part.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - (part.length % 4)) % 4);
    const claims = JSON.parse(atob(base64)) as { exp?: unknown };
    return typeof claims.exp === "number" ? claims.exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}
