/** REST helpers, token refreshing, and the non-browser environment guard. */
import { describe, expect, it, vi } from "vitest";
import { Auth, refreshingToken } from "../src/auth.js";
import { globalEnvironment } from "../src/env.js";
import { ApiError, jwtExpiry, obtainTokenPair, pageCursor, RestApi } from "../src/rest.js";
import { FakeApi, json, notification } from "./helpers.js";

function jwt(expSeconds: number): string {
  const part = (o: object) => btoa(JSON.stringify(o)).replace(/=+$/, "").replace(/\+/g, "-").replace(/\//g, "_");
  return `${part({ alg: "HS256", typ: "JWT" })}.${part({ token_type: "access", exp: expSeconds, user_id: "1" })}.signature`;
}

describe("RestApi", () => {
  it("sends the bearer token and reads the documented shapes", async () => {
    const api = new FakeApi();
    api.add(notification(1), notification(2, { is_read: true }));
    const rest = new RestApi({ baseUrl: "http://clarion.test/", fetch: api.fetch, getToken: async () => "good-token" });
    const page = await rest.listNotifications({ unread: true, pageSize: 50 });
    expect(page.results.map((n) => n.id)).toEqual([1]);
    expect(api.requests[0]?.query.get("unread")).toBe("true");
    expect(api.requests[0]?.query.get("page_size")).toBe("50");
    expect(api.requests[0]?.authorization).toBe("Bearer good-token");
    expect(await rest.unreadCount()).toBe(1);
    expect(await rest.markAsRead(1)).toEqual({ ids: [1], unread_count: 0, unseen_count: 0 });
    expect(await rest.ticket("good-token")).toEqual({ ticket: "ticket-1", expires_in: 30 });
  });

  it("passes the list filters as the server names them", async () => {
    const api = new FakeApi();
    const rest = new RestApi({ baseUrl: "http://clarion.test", fetch: api.fetch, getToken: async () => "good-token" });
    await rest.listNotifications({ unread: false, category: "deadline", topic: "project:7", q: "sensor list" });
    const query = api.requests[0]?.query;
    expect([query?.get("unread"), query?.get("category"), query?.get("topic"), query?.get("q")]).toEqual(["false", "deadline", "project:7", "sensor list"]);
    await rest.listNotifications();
    expect([...(api.requests[1]?.query.keys() ?? [])]).toEqual([]);
  });

  it("throws ApiError naming the status and the token that was refused", async () => {
    const api = new FakeApi();
    const rest = new RestApi({ baseUrl: "http://clarion.test", fetch: api.fetch, getToken: async () => "bad" });
    const error = await rest.unreadCount().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect(error).toMatchObject({ status: 401, token: "bad" });
    await expect(new RestApi({ baseUrl: "http://clarion.test", fetch: api.fetch, getToken: async () => "good-token" }).markAsRead(42)).rejects.toMatchObject({ status: 404 });
  });

  it("asks for a page of a notification's deliveries", async () => {
    const page = {
      notification: { id: 7, title: "Deadline", recipient_type: "role", recipient_id: "student", category: "deadline", created_at: "2026-12-04T07:00:00Z" },
      totals: { audience: 2, delivered: 1, seen: 1, read: 1, emailed: 1, pushed: 0, pending: 0, failed: 0, skipped: 1 },
      summary: "1 of 2 students read, 1 emailed",
      count: 2,
      next: null,
      previous: "http://clarion.test/api/notifications/7/deliveries/?page=1&page_size=1",
      results: [{ user: { id: 3, username: "alice" }, delivered_at: null, seen_at: null, read_at: null, channels: { email: null, push: null } }],
    };
    const fetch = vi.fn(async (url: string) => (url.includes("/7/") ? json(200, page) : json(404, { detail: "Not found." })));
    const rest = new RestApi({ baseUrl: "http://clarion.test", fetch, getToken: async () => "t" });
    expect(await rest.deliveries(7, { page: 2, pageSize: 1 })).toEqual(page);
    expect(fetch.mock.calls[0]?.[0]).toBe("http://clarion.test/api/notifications/7/deliveries/?page=2&page_size=1");
    await rest.deliveries(7);
    expect(fetch.mock.calls[1]?.[0]).toBe("http://clarion.test/api/notifications/7/deliveries/");
    await expect(rest.deliveries(8)).rejects.toMatchObject({ status: 404 });
  });

  it("patches only the delivery fields given, and hands back the field errors of a 400", async () => {
    const errors = { "quiet_hours.from": ['expected a time of day as "HH:MM" (24-hour), got \'25:00\''] };
    const fetch = vi.fn(async (_url: string, init?: RequestInit) => (String(init?.body).includes("25:00") ? json(400, errors) : json(200, { locale: "", categories: [] })));
    const rest = new RestApi({ baseUrl: "http://clarion.test", fetch, getToken: async () => "t" });
    await rest.updatePreferences({ digest: { email: "daily" }, digest_hour: 7 });
    expect(fetch.mock.calls[0]?.[1]).toMatchObject({ method: "PATCH", body: JSON.stringify({ digest: { email: "daily" }, digest_hour: 7 }) });
    const error = await rest.updatePreferences({ quiet_hours: { from: "25:00", to: "07:00" } }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect(error).toMatchObject({ status: 400, body: errors });
  });

  it("takes the DRF pagination position out of a next link", () => {
    expect(pageCursor("http://clarion.test/api/notifications/?cursor=cD0xMjM%3D&page_size=20")).toBe("cD0xMjM=");
    expect(pageCursor(null)).toBeUndefined();
  });

  it("obtains a token pair with username and password", async () => {
    const fetch = vi.fn(async () => json(200, { refresh: "r", access: "a" }));
    expect(await obtainTokenPair("http://clarion.test", "alice", "demo-password", fetch)).toEqual({ refresh: "r", access: "a" });
    expect(fetch).toHaveBeenCalledWith("http://clarion.test/api/auth/token/", expect.objectContaining({ method: "POST", body: JSON.stringify({ username: "alice", password: "demo-password" }) }));
  });
});

describe("refreshingToken", () => {
  it("reuses a valid token, refreshes one about to expire, and shares one refresh between callers", async () => {
    let now = 1_000_000_000_000;
    const fresh = jwt(now / 1000 + 900);
    const fetch = vi.fn(async () => json(200, { access: fresh }));
    const onRefresh = vi.fn();
    const provider = refreshingToken({ baseUrl: "http://clarion.test", refresh: "refresh-1", access: jwt(now / 1000 + 300), fetch, onRefresh, now: () => now });
    expect(await provider({ reason: "connect" })).not.toBe(fresh);
    expect(fetch).not.toHaveBeenCalled();
    now += 290_000; // within the 30 s leeway of expiry
    const [a, b] = await Promise.all([provider({ reason: "connect" }), provider({ reason: "connect" })]);
    expect(a).toBe(fresh);
    expect(b).toBe(fresh);
    expect(fetch).toHaveBeenCalledTimes(1);
    expect(onRefresh).toHaveBeenCalledWith({ access: fresh, refresh: "refresh-1" });
  });

  it("refreshes when the server refused the token, and returns null once the refresh token is refused", async () => {
    const fetch = vi
      .fn()
      .mockResolvedValueOnce(json(200, { access: "second", refresh: "rotated" }))
      .mockResolvedValueOnce(json(401, { detail: "Token is invalid or expired", code: "token_not_valid" }));
    const provider = refreshingToken({ baseUrl: "http://clarion.test", refresh: "r", access: "first", fetch });
    expect(await provider({ reason: "connect" })).toBe("first"); // not a readable JWT: used until refused
    expect(await provider({ reason: "unauthorized" })).toBe("second");
    expect(await provider({ reason: "unauthorized" })).toBeNull();
    expect(JSON.parse((fetch.mock.calls[1]?.[1] as RequestInit).body as string)).toEqual({ refresh: "rotated" });
  });

  it("lets a network failure propagate, so the client retries with backoff", async () => {
    const provider = refreshingToken({ baseUrl: "http://clarion.test", refresh: "r", fetch: async () => Promise.reject(new TypeError("Failed to fetch")) });
    await expect(provider({ reason: "connect" })).rejects.toThrow("Failed to fetch");
  });

  it("with Auth: a refused token is never handed out again", async () => {
    const auth = new Auth();
    auth.set("t1");
    expect(await auth.renew("t1")).toBe("unavailable");
    expect(await auth.token()).toBeNull();
    auth.set("t1"); // setting it again explicitly is the application's call
    expect(await auth.token()).toBe("t1");
  });

  it("reads a JWT's expiry", () => {
    expect(jwtExpiry(jwt(1_800_000_000))).toBe(1_800_000_000_000);
    expect(jwtExpiry("not-a-jwt")).toBeUndefined();
  });
});

describe("outside a browser", () => {
  it("has no window, document or navigator to listen to, and says online and visible", () => {
    const env = globalEnvironment();
    expect(env.isOnline()).toBe(true);
    expect(env.isVisible()).toBe(true);
    expect(env.onNetworkChange(() => {})).toBeTypeOf("function");
    expect(env.onVisibilityChange(() => {})).toBeTypeOf("function");
    expect(env.origin()).toBeUndefined();
  });
});
