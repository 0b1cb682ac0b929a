/** Test doubles: a scriptable WebSocket, a controllable environment, and a fake Clarion REST API. */
import { vi } from "vitest";
import type { Environment, WebSocketLike } from "../src/env.js";
import type { Frame, Notification } from "../src/types.js";

export class FakeWebSocket implements WebSocketLike {
  static instances: FakeWebSocket[] = [];
  /** When set, the constructor throws it (a CSP or sandbox refusing WebSockets). */
  static refuseWith: Error | null = null;

  readyState = 0;
  onopen: WebSocketLike["onopen"] = null;
  onmessage: WebSocketLike["onmessage"] = null;
  onclose: WebSocketLike["onclose"] = null;
  onerror: WebSocketLike["onerror"] = null;
  readonly sent: string[] = [];
  closedWith: { code?: number; reason?: string } | null = null;

  constructor(readonly url: string) {
    if (FakeWebSocket.refuseWith) throw FakeWebSocket.refuseWith;
    FakeWebSocket.instances.push(this);
  }

  static reset(): void {
    FakeWebSocket.instances = [];
    FakeWebSocket.refuseWith = null;
  }

  static last(): FakeWebSocket {
    const ws = FakeWebSocket.instances.at(-1);
    if (!ws) throw new Error("no WebSocket was created");
    return ws;
  }

  get query(): URLSearchParams {
    return new URL(this.url).searchParams;
  }

  get path(): string {
    return new URL(this.url).pathname;
  }

  send(data: string): void {
    if (this.readyState !== 1) throw new Error("InvalidStateError: not open");
    this.sent.push(data);
  }

  close(code?: number, reason?: string): void {
    this.closedWith = { code, reason };
    this.readyState = 3;
  }

  /** Frames the client sent, parsed. */
  frames(): Frame[] {
    return this.sent.map((s) => JSON.parse(s) as Frame);
  }

  // -- the server's side --

  /** The handshake completes. */
  open(): this {
    this.readyState = 1;
    this.onopen?.({});
    return this;
  }

  receive(frame: Frame): this {
    this.onmessage?.({ data: JSON.stringify(frame) });
    return this;
  }

  /** The server closes the socket (after a handshake or not). */
  serverClose(code: number, reason = ""): this {
    this.readyState = 3;
    this.onclose?.({ code, reason, wasClean: code !== 1006 });
    return this;
  }

  /** The handshake fails (refused, unreachable): error then close 1006. */
  fail(): this {
    this.readyState = 3;
    this.onerror?.({});
    this.onclose?.({ code: 1006, reason: "", wasClean: false });
    return this;
  }
}

export class FakeEnvironment implements Environment {
  WebSocket: Environment["WebSocket"] = FakeWebSocket;
  online = true;
  visible = true;
  private network = new Set<(online: boolean) => void>();
  private visibility = new Set<(visible: boolean) => void>();

  isOnline(): boolean {
    return this.online;
  }
  isVisible(): boolean {
    return this.visible;
  }
  onNetworkChange(listener: (online: boolean) => void): () => void {
    this.network.add(listener);
    return () => this.network.delete(listener);
  }
  onVisibilityChange(listener: (visible: boolean) => void): () => void {
    this.visibility.add(listener);
    return () => this.visibility.delete(listener);
  }
  origin(): string {
    return "http://clarion.test";
  }
  setOnline(online: boolean): void {
    this.online = online;
    for (const l of [...this.network]) l(online);
  }
  setVisible(visible: boolean): void {
    this.visible = visible;
    for (const l of [...this.visibility]) l(visible);
  }
  get listenerCount(): number {
    return this.network.size + this.visibility.size;
  }
}

export function notification(id: number, overrides: Partial<Notification> = {}): Notification {
  return {
    id,
    title: `Notification ${id}`,
    message: "",
    notification_type: "info",
    recipient_type: "user",
    recipient_id: "1",
    created_at: "2026-11-25T22:11:30.801054Z",
    created_by: null,
    is_read: false,
    is_seen: false,
    is_archived: false,
    snoozed_until: null,
    link: "",
    data: {},
    category: "announcement",
    topic: "",
    group_key: "",
    expires_at: null,
    cursor: cursorFor(id),
    ...overrides,
  };
}

/** Looks like the server's cursors; the client must not care what is inside. */
export function cursorFor(id: number): string {
  return `cur-${id}`;
}

export interface RecordedRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  authorization: string | null;
}

/**
 * An in-memory Clarion REST API behind a `fetch` function: the endpoints the client uses, with
 * DRF-style cursor pagination (newest id first) and the status codes of docs/protocol.md.
 */
export class FakeApi {
  notifications: Notification[] = [];
  validTokens = new Set<string>(["good-token"]);
  requests: RecordedRequest[] = [];
  /** Make every request fail as if the network were down. */
  down = false;
  tickets = 0;
  /** The body of the latest request that had one. */
  lastBody: string | null = null;

  readonly fetch = vi.fn(async (input: string, init?: RequestInit): Promise<Response> => {
    const url = new URL(input);
    const method = init?.method ?? "GET";
    const headers = (init?.headers ?? {}) as Record<string, string>;
    const authorization = headers.Authorization ?? null;
    this.requests.push({ method, path: url.pathname, query: url.searchParams, authorization });
    if (typeof init?.body === "string") this.lastBody = init.body;
    if (this.down) throw new TypeError("Failed to fetch");
    const token = authorization?.replace(/^Bearer /, "");
    if (!token || !this.validTokens.has(token)) {
      return json(401, { detail: "Given token not valid for any token type", code: "token_not_valid" });
    }
    return this.route(method, url);
  });

  add(...items: Notification[]): void {
    this.notifications.push(...items);
    for (const n of items) this.published = Math.max(this.published, n.id);
  }

  /** The log's head: the highest position published (ids and positions are one here). */
  head(): number {
    return this.published;
  }

  private published = 0;
  /** Cursors at or below this cannot be resumed (as past RESUME_LIMIT or retention). */
  expiredBelow = 0;

  private expired(after: number): boolean {
    return after < this.expiredBelow;
  }

  unread(): number {
    return this.notifications.filter((n) => !n.is_read).length;
  }

  unseen(): number {
    return this.notifications.filter((n) => !n.is_read && !n.is_seen).length;
  }

  private counts() {
    return { unread_count: this.unread(), unseen_count: this.unseen() };
  }

  /** The ids a request body names that are the caller's: `ids`, or every one of `group_key`. */
  private targets(): { ids: number[]; asked: number[]; until?: string } {
    const body = JSON.parse(this.lastBody ?? "{}") as { ids?: number[]; group_key?: string; until?: string };
    const asked = body.group_key !== undefined ? this.notifications.filter((n) => n.group_key === body.group_key).map((n) => n.id) : (body.ids ?? []);
    const ids = asked.filter((id) => this.notifications.some((n) => n.id === id));
    return { ids, asked, ...(body.until ? { until: body.until } : {}) };
  }

  requestsTo(path: string): RecordedRequest[] {
    return this.requests.filter((r) => r.path === path);
  }

  private route(method: string, url: URL): Response {
    const path = url.pathname;
    if (method === "GET" && path === "/api/notifications/snapshot/") {
      const unread = [...this.notifications].filter((n) => !n.is_read).sort((a, b) => b.id - a.id).slice(0, 20);
      return json(200, { notifications: unread.map((n) => ({ ...n })), ...this.counts(), cursor: cursorFor(this.head()) });
    }
    if (method === "GET" && path === "/api/notifications/" && url.searchParams.has("after")) {
      // The log position of a notification is its id here: cursors are `cur-<id>` (cursorFor).
      const match = /^cur-(\d+)$/.exec(url.searchParams.get("after") ?? "");
      if (!match) return json(400, { after: ["cursor is not one the server issued"] });
      const after = Number(match[1]);
      const limit = Number(url.searchParams.get("limit") ?? 100);
      if (this.expired(after)) {
        const unread = [...this.notifications].filter((n) => !n.is_read).sort((a, b) => b.id - a.id).slice(0, 20);
        const snapshot = { notifications: unread, ...this.counts(), cursor: cursorFor(this.head()), cursor_expired: "too_many_missed" };
        return json(200, { results: [], cursor: snapshot.cursor, has_more: false, ...this.counts(), cursor_expired: "too_many_missed", snapshot });
      }
      const following = [...this.notifications].filter((n) => n.id > after).sort((a, b) => a.id - b.id);
      const page = following.slice(0, limit);
      const more = following.length > limit;
      const position = more ? (page.at(-1) as Notification).id : this.head();
      const upto = this.notifications.filter((n) => n.id <= position);
      const counts = { unread_count: upto.filter((n) => !n.is_read).length, unseen_count: upto.filter((n) => !n.is_read && !n.is_seen).length };
      return json(200, { results: page.map((n) => ({ ...n })), cursor: cursorFor(position), has_more: more, ...counts });
    }
    if (method === "GET" && path === "/api/notifications/") {
      let items = [...this.notifications].sort((a, b) => b.id - a.id);
      if (url.searchParams.get("unread") === "true") items = items.filter((n) => !n.is_read);
      const size = Number(url.searchParams.get("page_size") ?? 20);
      const after = url.searchParams.get("cursor");
      if (after) items = items.filter((n) => n.id < Number(after));
      const page = items.slice(0, size);
      const more = items.length > size;
      const next = more ? `http://clarion.test/api/notifications/?cursor=${page.at(-1)?.id}&page_size=${size}` : null;
      return json(200, { next, previous: null, results: page.map((n) => ({ ...n })) });
    }
    if (method === "GET" && path === "/api/notifications/unread-count/") return json(200, this.counts());
    if (method === "POST" && path === "/api/notifications/read-all/") {
      const ids = this.notifications.filter((n) => !n.is_read).map((n) => n.id).sort((a, b) => a - b);
      for (const n of this.notifications) Object.assign(n, { is_read: true, is_seen: true });
      return json(200, { ids, ...this.counts() });
    }
    const read = /^\/api\/notifications\/(\d+)\/read\/$/.exec(path);
    if (method === "POST" && read) {
      const n = this.notifications.find((x) => x.id === Number(read[1]));
      if (!n) return json(404, { detail: "Not found." });
      Object.assign(n, { is_read: true, is_seen: true });
      return json(200, { ids: [n.id], ...this.counts() });
    }
    if (method === "POST" && path === "/api/notifications/read/") {
      const { ids, asked } = this.targets();
      if (ids.length === 0) return json(404, { detail: "No notifications with these ids for this user.", ids: asked });
      for (const n of this.notifications) if (ids.includes(n.id)) Object.assign(n, { is_read: true, is_seen: true });
      const notFound = asked.filter((id) => !ids.includes(id));
      return json(200, { ids, ...this.counts(), ...(notFound.length ? { not_found: notFound } : {}) });
    }
    if (method === "POST" && path === "/api/notifications/seen-all/") {
      for (const n of this.notifications) n.is_seen = true;
      return json(200, { ids: [], state: "all_seen", ...this.counts() });
    }
    const action = /^\/api\/notifications\/(seen|archive|unarchive|unread|snooze)\/$/.exec(path);
    if (method === "POST" && action) {
      const { ids, asked, until } = this.targets();
      if (ids.length === 0) return json(404, { detail: "No notifications with these ids for this user.", ids: asked });
      const state = { seen: "seen", archive: "archived", unarchive: "unarchived", unread: "unread", snooze: "snoozed" }[action[1] as string];
      if (state === "archived" || state === "snoozed") this.notifications = this.notifications.filter((n) => !ids.includes(n.id));
      for (const n of this.notifications) {
        if (!ids.includes(n.id)) continue;
        if (state === "seen") n.is_seen = true;
        if (state === "unread") Object.assign(n, { is_read: false, is_seen: true });
      }
      const notFound = asked.filter((id) => !ids.includes(id));
      return json(200, { ids, state, ...this.counts(), ...(until ? { until } : {}), ...(notFound.length ? { not_found: notFound } : {}) });
    }
    if (method === "POST" && path === "/api/auth/ticket/") {
      this.tickets++;
      return json(201, { ticket: `ticket-${this.tickets}`, expires_in: 30 });
    }
    return json(404, { detail: "Not found." });
  }
}

export function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });
}

/** Let pending promises (credential lookups, fetches) settle under fake timers. */
export async function settle(): Promise<void> {
  await vi.advanceTimersByTimeAsync(0);
}
