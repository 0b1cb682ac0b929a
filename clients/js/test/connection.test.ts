/** Connecting, reconnecting, backoff, 4401, heartbeat, queue, network and visibility. */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ClarionClient, type ClarionClientOptions, getWebSocketClient, resetWebSocketClient } from "../src/client.js";
import type { Notification } from "../src/types.js";
import { FakeApi, FakeEnvironment, FakeWebSocket, notification, settle } from "./helpers.js";

function snapshot(notifications: Notification[], cursor = "cur-snap", extra: { unread_count?: number; resumed?: true } = {}) {
  return {
    type: "recent_notifications",
    data: { notifications, unread_count: extra.unread_count ?? notifications.length, cursor, ...(extra.resumed ? { resumed: true } : {}) },
  } as const;
}

function setup(options: ClarionClientOptions = {}) {
  const env = new FakeEnvironment();
  const api = new FakeApi();
  const client = new ClarionClient({
    url: "http://clarion.test",
    socketAuth: "token",
    environment: env,
    fetch: api.fetch,
    random: () => 0.5,
    fallback: false,
    ...options,
  });
  const events: string[] = [];
  for (const type of ["connecting", "open", "reconnecting", "closed"] as const) client.on(type, () => events.push(type));
  return { client, env, api, events };
}

/** Connect and open a first socket with an empty snapshot. */
async function connected(options: ClarionClientOptions = {}, token = "good-token") {
  const ctx = setup(options);
  ctx.client.connect(token);
  await settle();
  const ws = FakeWebSocket.last().open().receive(snapshot([]));
  return { ...ctx, ws };
}

beforeEach(() => {
  vi.useFakeTimers();
  FakeWebSocket.reset();
});
afterEach(() => {
  vi.useRealTimers();
});

describe("connecting", () => {
  it("opens /ws/notifications/ with the token and counts as open only after the first frame", async () => {
    const { client, events } = setup();
    client.connect("good-token");
    expect(client.state).toBe("connecting");
    await settle();
    const ws = FakeWebSocket.last();
    expect(ws.url.startsWith("ws://clarion.test/ws/notifications/?")).toBe(true);
    expect(ws.query.get("token")).toBe("good-token");
    expect(ws.query.has("cursor")).toBe(false);
    ws.open();
    // The server accepts every handshake and may close it with 4401 at once: not open yet.
    expect(client.state).toBe("connecting");
    ws.receive(snapshot([notification(1)]));
    expect(client.state).toBe("open");
    expect(events).toEqual(["connecting", "open"]);
  });

  it("uses wss:// for an https:// server and keeps a path prefix", async () => {
    const { client } = setup({ url: "https://example.com/app/" });
    client.connect("good-token");
    await settle();
    expect(FakeWebSocket.last().url.startsWith("wss://example.com/app/ws/notifications/?")).toBe(true);
  });

  it("asks a token provider before every attempt, so an expired token is replaced", async () => {
    const { client } = setup();
    let n = 0;
    const provider = vi.fn(() => `token-${++n}`);
    client.connect(provider);
    await settle();
    FakeWebSocket.last().open().receive(snapshot([])).serverClose(1006);
    await vi.advanceTimersByTimeAsync(1000);
    expect(provider).toHaveBeenCalledTimes(2);
    expect(provider).toHaveBeenLastCalledWith({ reason: "connect" });
    expect(FakeWebSocket.instances.map((ws) => ws.query.get("token"))).toEqual(["token-1", "token-2"]);
  });

  it("gets a fresh single-use ticket for every connect in ticket mode", async () => {
    const { client, api } = setup({ socketAuth: "ticket" });
    client.connect("good-token");
    await settle();
    const first = FakeWebSocket.last();
    expect(api.requestsTo("/api/auth/ticket/")[0]?.authorization).toBe("Bearer good-token");
    expect(first.query.get("ticket")).toBe("ticket-1");
    expect(first.query.has("token")).toBe(false);
    first.open().receive(snapshot([])).serverClose(1012);
    await vi.advanceTimersByTimeAsync(1000);
    expect(FakeWebSocket.last().query.get("ticket")).toBe("ticket-2");
  });

  it("refuses to connect without a server URL outside a browser", () => {
    const env = new FakeEnvironment();
    env.origin = () => undefined as unknown as string;
    const client = new ClarionClient({ environment: env });
    expect(() => client.connect("good-token")).toThrow(/options\.url/);
  });

  it("disconnect() closes with 1000 and stops reconnecting", async () => {
    const { client, ws, env, events } = await connected();
    client.disconnect();
    expect(ws.closedWith?.code).toBe(1000);
    expect(client.state).toBe("closed");
    expect(events.at(-1)).toBe("closed");
    await vi.advanceTimersByTimeAsync(600_000);
    expect(FakeWebSocket.instances).toHaveLength(1);
    expect(env.listenerCount).toBe(0);
  });
});

describe("reconnecting", () => {
  it("reconnects after an abnormal close after a jittered delay, resuming from the last cursor", async () => {
    const { client, ws, events } = await connected();
    ws.receive({ type: "notification", data: notification(5) });
    const reconnecting: Array<{ attempt: number; delay: number; code?: number }> = [];
    client.on("reconnecting", (e) => reconnecting.push(e));
    ws.serverClose(1006);
    expect(client.state).toBe("reconnecting");
    expect(reconnecting).toEqual([{ attempt: 1, delay: 500, code: 1006, reason: "" }]); // random 0.5 of the 1 s ceiling
    await vi.advanceTimersByTimeAsync(499);
    expect(FakeWebSocket.instances).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(FakeWebSocket.instances).toHaveLength(2);
    expect(FakeWebSocket.last().query.get("cursor")).toBe("cur-5");
    FakeWebSocket.last().open().receive(snapshot([], "cur-5", { resumed: true }));
    expect(client.state).toBe("open");
    expect(events).toEqual(["connecting", "open", "reconnecting", "open"]);
  });

  it.each([1000, 1001, 1011, 1012, 1013, 4008, 4029])("reconnects after close code %i", async (code) => {
    const { client, ws } = await connected();
    ws.serverClose(code);
    expect(client.state).toBe("reconnecting");
    await vi.advanceTimersByTimeAsync(1000);
    expect(FakeWebSocket.instances).toHaveLength(2);
  });

  it.each([4403, 4404])("does not reconnect after close code %i", async (code) => {
    const { client, ws } = await connected();
    const closed = vi.fn();
    client.on("closed", closed);
    ws.serverClose(code);
    expect(client.state).toBe("closed");
    expect(closed).toHaveBeenCalledWith({ cause: "terminal", code, reason: "" });
    await vi.advanceTimersByTimeAsync(600_000);
    expect(FakeWebSocket.instances).toHaveLength(1);
  });

  it("grows the delay exponentially up to the cap, and starts over after a successful open", async () => {
    const { client } = setup({ random: () => 0.999999, reconnect: { initialDelay: 1000, maxDelay: 30_000 } });
    const delays: number[] = [];
    client.on("reconnecting", (e) => delays.push(e.delay));
    client.connect("good-token");
    for (let i = 0; i < 8; i++) {
      await settle();
      FakeWebSocket.last().fail();
      await vi.advanceTimersByTimeAsync(delays.at(-1) ?? 0);
    }
    expect(delays).toEqual([999, 1999, 3999, 7999, 15_999, 29_999, 29_999, 29_999]);
    await settle();
    FakeWebSocket.last().open().receive(snapshot([])).serverClose(1006);
    expect(delays.at(-1)).toBe(999);
  });

  it("gives up after maxAttempts consecutive failures", async () => {
    const { client } = setup({ reconnect: { maxAttempts: 2 } });
    const closed = vi.fn();
    const delays: number[] = [];
    client.on("closed", closed);
    client.on("reconnecting", (e) => delays.push(e.delay));
    client.connect("good-token");
    for (let i = 0; i < 3; i++) {
      await settle();
      FakeWebSocket.last().fail();
      await vi.advanceTimersByTimeAsync(i < 2 ? (delays[i] as number) : 0);
    }
    expect(client.state).toBe("closed");
    expect(closed).toHaveBeenCalledWith(expect.objectContaining({ cause: "max_attempts", code: 1006 }));
    await vi.advanceTimersByTimeAsync(600_000);
    expect(FakeWebSocket.instances).toHaveLength(3);
  });

  it("gives up on a handshake that hangs, and on a socket that opens but never sends a frame", async () => {
    const { client } = setup({ connectTimeout: 5000 });
    client.connect("good-token");
    await settle();
    const hanging = FakeWebSocket.last();
    await vi.advanceTimersByTimeAsync(5000);
    expect(hanging.closedWith?.code).toBe(3008);
    expect(client.state).toBe("reconnecting");
    await vi.advanceTimersByTimeAsync(500);
    const silent = FakeWebSocket.last().open();
    expect(silent).not.toBe(hanging);
    await vi.advanceTimersByTimeAsync(5000);
    expect(silent.closedWith?.code).toBe(3008);
    expect(FakeWebSocket.instances).toHaveLength(2);
  });
});

describe("4401", () => {
  it("does not reconnect with a token the server refused, until setToken() gives a new one", async () => {
    const { client } = setup();
    const closed = vi.fn();
    client.on("closed", closed);
    client.connect("expired-token");
    await settle();
    FakeWebSocket.last().open().serverClose(4401);
    await settle();
    expect(client.state).toBe("closed");
    expect(closed).toHaveBeenCalledWith(expect.objectContaining({ cause: "unauthorized", code: 4401 }));
    await vi.advanceTimersByTimeAsync(600_000);
    expect(FakeWebSocket.instances).toHaveLength(1);

    client.setToken("new-token");
    await settle();
    expect(FakeWebSocket.instances).toHaveLength(2);
    expect(FakeWebSocket.last().query.get("token")).toBe("new-token");
  });

  it("asks the provider for a different token and reconnects with it", async () => {
    const { client } = setup();
    const provider = vi.fn(({ reason }: { reason: string }) => (reason === "unauthorized" ? "fresh-token" : "stale-token"));
    client.connect(provider);
    await settle();
    FakeWebSocket.last().open().serverClose(4401);
    await settle();
    expect(provider).toHaveBeenCalledWith({ reason: "unauthorized" });
    expect(client.state).toBe("reconnecting"); // still backs off, so a server refusing every token is not hammered
    await vi.advanceTimersByTimeAsync(1000);
    expect(FakeWebSocket.last().query.get("token")).toBe("fresh-token");
  });

  it("stays closed when the provider can only return the refused token (or none)", async () => {
    const { client } = setup();
    const provider = vi.fn(() => "same-token");
    client.connect(provider);
    await settle();
    FakeWebSocket.last().open().serverClose(4401);
    await vi.advanceTimersByTimeAsync(600_000);
    expect(client.state).toBe("closed");
    expect(FakeWebSocket.instances).toHaveLength(1);
  });

  it("treats a refused ticket request (HTTP 401) like a 4401, without opening a socket", async () => {
    const { client } = setup({ socketAuth: "ticket" });
    client.connect("expired-token");
    await settle();
    expect(client.state).toBe("closed");
    expect(FakeWebSocket.instances).toHaveLength(0);
    client.setToken("good-token");
    await settle();
    expect(FakeWebSocket.last().query.get("ticket")).toBe("ticket-1");
  });

  it("does not count 4401 towards the polling fallback", async () => {
    const { client } = setup({ fallback: { afterFailures: 1 } });
    client.connect(({ reason }) => (reason === "unauthorized" ? "fresh" : "stale"));
    await settle();
    FakeWebSocket.last().open().serverClose(4401);
    await vi.advanceTimersByTimeAsync(1000);
    expect(client.transport).toBe("websocket");
  });
});

describe("heartbeat", () => {
  it("pings periodically and keeps a connection that answers", async () => {
    const { client, ws } = await connected({ heartbeat: { interval: 25_000, timeout: 10_000 } });
    await vi.advanceTimersByTimeAsync(25_000);
    expect(ws.frames()).toEqual([{ type: "ping" }]);
    ws.receive({ type: "pong" });
    await vi.advanceTimersByTimeAsync(24_999);
    expect(client.state).toBe("open");
    expect(ws.closedWith).toBeNull();
  });

  it("counts any frame as a sign of life", async () => {
    const { client, ws } = await connected({ heartbeat: { interval: 25_000, timeout: 10_000 } });
    await vi.advanceTimersByTimeAsync(25_000);
    ws.receive({ type: "notification", data: notification(9) });
    await vi.advanceTimersByTimeAsync(10_000);
    expect(client.state).toBe("open");
  });

  it("reconnects when nothing arrives within the timeout after a ping", async () => {
    const { client, ws } = await connected({ heartbeat: { interval: 25_000, timeout: 10_000 } });
    const reconnecting = vi.fn();
    client.on("reconnecting", reconnecting);
    await vi.advanceTimersByTimeAsync(25_000 + 9_999);
    expect(client.state).toBe("open");
    await vi.advanceTimersByTimeAsync(1);
    expect(ws.closedWith).toEqual({ code: 3008, reason: "heartbeat timeout" });
    expect(client.state).toBe("reconnecting");
    expect(reconnecting).toHaveBeenCalledWith(expect.objectContaining({ code: 3008, reason: "heartbeat timeout" }));
    await vi.advanceTimersByTimeAsync(500);
    expect(FakeWebSocket.instances).toHaveLength(2);
  });

  it("can be switched off", async () => {
    const { ws } = await connected({ heartbeat: false });
    await vi.advanceTimersByTimeAsync(600_000);
    expect(ws.sent).toEqual([]);
  });
});

describe("actions while not connected", () => {
  it("queues actions while connecting and sends them, in order, once open", async () => {
    const { client } = setup();
    client.connect("good-token");
    expect(client.markAsRead([3, 4])).toBe("queued");
    expect(client.markAllAsRead()).toBe("queued");
    await settle();
    const ws = FakeWebSocket.last().open();
    expect(ws.sent).toEqual([]); // not before the server proved the socket authenticated
    ws.receive(snapshot([]));
    expect(ws.frames()).toEqual([{ type: "mark_as_read", data: { ids: [3, 4] } }, { type: "mark_all_as_read" }]);
  });

  it("sends actions queued while reconnecting on the new socket, not the dead one", async () => {
    const { client, ws } = await connected();
    ws.serverClose(1006);
    expect(client.markAsRead(7)).toBe("queued");
    await vi.advanceTimersByTimeAsync(500);
    const next = FakeWebSocket.last().open().receive(snapshot([], "cur-snap", { resumed: true }));
    expect(ws.sent).toEqual([]);
    expect(next.frames()).toEqual([{ type: "mark_as_read", data: { ids: [7] } }]);
  });

  it("bounds the queue: the oldest action is dropped and reported", async () => {
    const { client } = setup({ queueSize: 2 });
    const dropped = vi.fn();
    client.on("dropped", dropped);
    client.connect("good-token");
    client.markAsRead(1);
    client.markAsRead(2);
    expect(client.markAsRead(3)).toBe("queued");
    expect(dropped).toHaveBeenCalledWith({ frame: { type: "mark_as_read", data: { ids: [1] } } });
    await settle();
    const ws = FakeWebSocket.last().open().receive(snapshot([]));
    expect(ws.frames().map((f) => f.data)).toEqual([{ ids: [2] }, { ids: [3] }]);
  });

  it("sends right away when open, splits more than 1000 ids, and refuses ids that are not positive integers", async () => {
    const { client, ws } = await connected();
    const ids = Array.from({ length: 1500 }, (_, i) => i + 1);
    expect(client.markAsRead(ids)).toBe("sent");
    expect(ws.frames().map((f) => (f.data as { ids: number[] }).ids.length)).toEqual([1000, 500]);
    expect(() => client.markAsRead([1, 0])).toThrow(TypeError);
    expect(() => client.markAsRead(1.5)).toThrow(TypeError);
  });
});

describe("network and visibility", () => {
  it("makes no attempts while offline and reconnects at once when the network returns", async () => {
    const { client, ws, env } = await connected();
    env.setOnline(false);
    ws.serverClose(1006);
    await vi.advanceTimersByTimeAsync(600_000);
    expect(FakeWebSocket.instances).toHaveLength(1);
    expect(client.state).toBe("reconnecting");
    env.setOnline(true);
    await settle();
    expect(FakeWebSocket.instances).toHaveLength(2);
  });

  it("cuts a long backoff short when the page becomes visible", async () => {
    const { client, env } = setup({ random: () => 0.999 });
    const delays: number[] = [];
    client.on("reconnecting", (e) => delays.push(e.delay));
    client.connect("good-token");
    for (let i = 0; i < 5; i++) {
      await settle();
      FakeWebSocket.last().fail();
      await vi.advanceTimersByTimeAsync(i < 4 ? (delays[i] as number) : 0);
    }
    expect(FakeWebSocket.instances).toHaveLength(5);
    expect(delays.at(-1)).toBe(15_984); // a 16 s wait ahead
    env.setVisible(false);
    env.setVisible(true);
    await settle();
    expect(FakeWebSocket.instances).toHaveLength(6);
  });

  it("checks an open connection with a ping when the page becomes visible again", async () => {
    const { client, ws, env } = await connected({ heartbeat: { interval: 25_000, timeout: 10_000 } });
    env.setVisible(true);
    expect(ws.frames()).toEqual([{ type: "ping" }]);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(client.state).toBe("reconnecting"); // the socket died while the laptop slept
  });
});

describe("getWebSocketClient", () => {
  it("returns one shared client, created with the first call's options; separate clients stay independent", async () => {
    const env = new FakeEnvironment();
    const shared = getWebSocketClient({ url: "http://clarion.test", socketAuth: "token", environment: env, fallback: false });
    expect(getWebSocketClient()).toBe(shared);
    const other = new ClarionClient({ url: "http://other.test", socketAuth: "token", environment: env, fallback: false });
    shared.connect("token-a");
    other.connect("token-b");
    await settle();
    expect(FakeWebSocket.instances.map((ws) => `${new URL(ws.url).host} ${ws.query.get("token")}`)).toEqual([
      "clarion.test token-a",
      "other.test token-b",
    ]);
    other.disconnect();
    expect(shared.state).toBe("connecting");
    resetWebSocketClient();
    expect(shared.state).toBe("closed");
    expect(getWebSocketClient({ url: "http://clarion.test", environment: env })).not.toBe(shared);
    resetWebSocketClient();
  });
});
