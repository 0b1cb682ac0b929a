/** The REST polling fallback: when it starts, what it emits, actions over REST, and the way back. */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ClarionClient, type ClarionClientOptions } from "../src/client.js";
import type { Notification } from "../src/types.js";
import { FakeApi, FakeEnvironment, FakeWebSocket, notification, settle } from "./helpers.js";

const POLL = 20_000; // not the default (30 s), to show the option is honoured
const RETRY = 60_000;

function setup(options: ClarionClientOptions = {}) {
  const env = new FakeEnvironment();
  const api = new FakeApi();
  const client = new ClarionClient({
    url: "http://clarion.test",
    socketAuth: "token",
    environment: env,
    fetch: api.fetch,
    random: () => 0,
    heartbeat: false,
    fallback: { afterFailures: 3, pollInterval: POLL, retryInterval: RETRY },
    ...options,
  });
  const log: string[] = [];
  client.on("recent_notifications", (d) => log.push(`snapshot ${d.notifications.map((n) => n.id).join(",")} unread=${d.unread_count}`));
  client.on("notification", (n) => log.push(`notification ${n.id}`));
  client.on("notifications_read", (d) => log.push(`read ${d.ids.join(",")} unread=${d.unread_count}${d.all ? " all" : ""}`));
  client.on("error", (e) => log.push(`error ${e.code}`));
  client.on("transport", (t) => log.push(`transport ${t.transport}`));
  return { client, env, api, log };
}

/** Fail `count` handshakes in a row, waiting out each backoff (random 0: no wait). */
async function failHandshakes(count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    await settle();
    FakeWebSocket.last().fail();
  }
  await settle();
}

const pollRequests = (api: FakeApi) => api.requests.filter((r) => r.path === "/api/notifications/" && r.query.has("after")).length;
const notifications = (log: string[]) => log.filter((l) => l.startsWith("notification "));

beforeEach(() => {
  vi.useFakeTimers();
  FakeWebSocket.reset();
});
afterEach(() => {
  vi.useRealTimers();
});

describe("polling when there is no WebSocket", () => {
  it("emits the same events as the socket: the snapshot, what followed it, reads made elsewhere", async () => {
    const { client, api, log } = setup({ WebSocket: null });
    api.add(notification(1, { is_read: true }), notification(2), notification(3));
    const states: string[] = [];
    client.on("state", (e) => states.push(e.state));
    client.on("recent_notifications", () => states.push(client.state));
    client.connect("good-token");
    await settle();
    expect(client.transport).toBe("polling");
    expect(client.state).toBe("open");
    expect(log).toEqual(["transport polling", "snapshot 3,2 unread=2"]);
    expect(states).toEqual(["connecting", "open", "open"]); // open before the snapshot, as on a socket
    expect(client.cursor).toBe("cur-3"); // the snapshot's position

    api.add(notification(4), notification(5));
    api.notifications[1]!.is_read = true; // read in another tab
    await vi.advanceTimersByTimeAsync(POLL);
    expect(log.slice(2)).toEqual(["notification 4", "notification 5", "read 2 unread=3"]);
    expect(client.notifications.map((n) => n.id)).toEqual([5, 4, 3, 2]);
    expect(client.unreadCount).toBe(3);
    expect(client.cursor).toBe("cur-5");

    await vi.advanceTimersByTimeAsync(POLL); // nothing changed: nothing emitted
    expect(log).toHaveLength(5);
    expect(FakeWebSocket.instances).toHaveLength(0);
  });

  it("reports what was created and read elsewhere between two polls, once (no guessing from ids or read state)", async () => {
    const { client, api, log } = setup({ WebSocket: null });
    api.add(notification(1));
    client.connect("good-token");
    await settle();
    api.add(notification(2, { is_read: true, is_seen: true }), notification(3));
    await vi.advanceTimersByTimeAsync(POLL);
    expect(notifications(log)).toEqual(["notification 2", "notification 3"]);
    expect(client.unreadCount).toBe(2);
    await vi.advanceTimersByTimeAsync(POLL * 3);
    expect(notifications(log)).toEqual(["notification 2", "notification 3"]);
  });

  it("reads page after page in one poll while the server says more follow, oldest first", async () => {
    const { client, api, log } = setup({ WebSocket: null, fallback: { pageSize: 2, pollInterval: POLL } });
    api.add(notification(1));
    client.connect("good-token");
    await settle();
    api.add(notification(2), notification(3), notification(4), notification(5), notification(6));
    const before = pollRequests(api);
    await vi.advanceTimersByTimeAsync(POLL);
    expect(notifications(log)).toEqual(["notification 2", "notification 3", "notification 4", "notification 5", "notification 6"]);
    expect(pollRequests(api) - before).toBe(3);
    expect(api.requests.filter((r) => r.query.has("after")).map((r) => r.query.get("limit"))).toContain("2");
  });

  it("marks read over REST and emits what the socket would have pushed", async () => {
    const { client, api, log } = setup({ WebSocket: null });
    api.add(notification(1), notification(2), notification(3));
    client.connect("good-token");
    await settle();
    expect(client.markAsRead([2, 99])).toBe("sent");
    await settle();
    expect(api.requests.filter((r) => r.method === "POST").map((r) => r.path)).toEqual([
      "/api/notifications/2/read/",
      "/api/notifications/99/read/",
    ]);
    client.markAllAsRead();
    await settle();
    expect(log.slice(2)).toEqual(["read 2 unread=2", "error not_found", "read 1,3 unread=0 all"]);
    expect(client.unreadCount).toBe(0);
    await vi.advanceTimersByTimeAsync(POLL); // the counts agree: nothing to report
    expect(log).toHaveLength(5);
  });

  it("keeps an action that failed over REST and sends it after the next successful poll", async () => {
    const { client, api } = setup({ WebSocket: null });
    api.add(notification(1));
    client.connect("good-token");
    await settle();
    api.down = true;
    client.markAsRead(1);
    await settle();
    expect(api.notifications[0]!.is_read).toBe(false);
    api.down = false;
    await vi.advanceTimersByTimeAsync(POLL * 3);
    expect(api.notifications[0]!.is_read).toBe(true);
    expect(client.unreadCount).toBe(0);
  });

  it("reports failed polls as reconnecting, backs off no faster than the interval, and resumes where it stopped", async () => {
    const { client, api, log } = setup({ WebSocket: null });
    api.add(notification(1));
    client.connect("good-token");
    await settle();
    api.down = true;
    const reconnecting: number[] = [];
    client.on("reconnecting", (e) => reconnecting.push(e.delay));
    await vi.advanceTimersByTimeAsync(POLL);
    expect(client.state).toBe("reconnecting");
    expect(reconnecting[0]).toBeGreaterThanOrEqual(POLL);
    api.down = false;
    api.add(notification(2), notification(3)); // during the outage
    await vi.advanceTimersByTimeAsync(reconnecting[0]! + 1);
    expect(client.state).toBe("open");
    expect(notifications(log)).toEqual(["notification 2", "notification 3"]);
    expect(log.filter((l) => l.startsWith("snapshot"))).toEqual(["snapshot 1 unread=1", "snapshot  unread=1"]); // the resume's
    expect(client.unreadCount).toBe(3);
  });

  it("stops polling on 401 when no other token exists, and resumes after setToken()", async () => {
    const { client, api } = setup({ WebSocket: null });
    const closed = vi.fn();
    client.on("closed", closed);
    client.connect("expired-token");
    await settle();
    expect(client.state).toBe("closed");
    expect(closed).toHaveBeenCalledWith(expect.objectContaining({ cause: "unauthorized" }));
    const before = api.requests.length;
    await vi.advanceTimersByTimeAsync(POLL * 5);
    expect(api.requests.length).toBe(before);
    client.setToken("good-token");
    await settle();
    expect(client.state).toBe("open");
    expect(client.transport).toBe("polling");
  });

  it("skips polls while offline and polls at once when the network returns", async () => {
    const { client, api, env } = setup({ WebSocket: null });
    client.connect("good-token");
    await settle();
    await vi.advanceTimersByTimeAsync(POLL);
    const before = pollRequests(api);
    env.setOnline(false);
    await vi.advanceTimersByTimeAsync(POLL * 3);
    expect(pollRequests(api)).toBe(before);
    env.setOnline(true);
    await settle();
    expect(pollRequests(api)).toBe(before + 1);
  });

  it("polls right away when the page becomes visible", async () => {
    const { client, api, env } = setup({ WebSocket: null });
    client.connect("good-token");
    await settle();
    await vi.advanceTimersByTimeAsync(POLL);
    const before = pollRequests(api);
    env.setVisible(true);
    await settle();
    expect(pollRequests(api)).toBe(before + 1);
  });

  it("answers a cursor it cannot resume as the socket does: an error, then a fresh snapshot", async () => {
    const { client, api, log } = setup({ WebSocket: null });
    api.add(notification(1), notification(2));
    client.connect("good-token");
    await settle();
    api.expiredBelow = 10;
    api.add(notification(12));
    await vi.advanceTimersByTimeAsync(POLL);
    expect(log.slice(2)).toEqual(["error cursor_expired", "snapshot 12,2,1 unread=3"]);
    expect(client.cursor).toBe("cur-12");
  });
});

describe("switching between WebSocket and polling", () => {
  it("polls after N handshakes that never completed, sending queued actions over REST", async () => {
    const { client, api, log } = setup();
    api.add(notification(1), notification(2));
    client.connect("good-token");
    client.markAsRead(1);
    await failHandshakes(2);
    expect(client.transport).toBe("websocket");
    await failHandshakes(1);
    expect(client.transport).toBe("polling");
    expect(client.state).toBe("open");
    expect(log).toEqual(["transport polling", "snapshot 2,1 unread=2", "read 1 unread=1"]);
    expect(FakeWebSocket.instances).toHaveLength(3);
  });

  it("opens immediately as polling when creating a WebSocket throws (blocked by policy)", async () => {
    const { client } = setup();
    FakeWebSocket.refuseWith = new Error("SecurityError: blocked by Content-Security-Policy");
    client.connect("good-token");
    await settle();
    expect(client.transport).toBe("polling");
  });

  it("counts a socket that opens but carries no frame as failed: a buffering proxy leads to polling", async () => {
    const { client } = setup({ connectTimeout: 1000 });
    client.connect("good-token");
    for (let i = 0; i < 3; i++) {
      for (let tick = 0; tick < 10 && FakeWebSocket.instances.length < i + 1; tick++) await vi.advanceTimersByTimeAsync(1);
      FakeWebSocket.last().open(); // handshake done, then silence
      await vi.advanceTimersByTimeAsync(1000);
    }
    await settle();
    expect(client.transport).toBe("polling");
  });

  it("socket, then polling when the socket is blocked mid-stream, then socket: every notification once, in order", async () => {
    const { client, api, log } = setup();
    api.add(notification(1));
    client.connect("good-token");
    await settle();
    FakeWebSocket.last().open().receive({ type: "recent_notifications", data: { notifications: [notification(1)], unread_count: 1, unseen_count: 1, cursor: "cur-1" } });
    api.add(notification(2));
    FakeWebSocket.last().receive({ type: "notification", data: notification(2) });
    FakeWebSocket.last().serverClose(1006); // the path to the server now drops WebSockets
    api.add(notification(3), notification(4, { is_read: true, is_seen: true })); // 4: read in another tab at once
    await failHandshakes(3);
    expect(client.transport).toBe("polling");
    expect(notifications(log)).toEqual(["notification 2", "notification 3", "notification 4"]);
    expect(client.cursor).toBe("cur-4");

    api.add(notification(5));
    await vi.advanceTimersByTimeAsync(POLL);
    expect(notifications(log)).toEqual(["notification 2", "notification 3", "notification 4", "notification 5"]);

    await vi.advanceTimersByTimeAsync(RETRY - POLL); // the WebSocket is tried again, from the polled position
    const ws = FakeWebSocket.last();
    expect(ws.query.get("cursor")).toBe("cur-5");
    ws.open().receive({ type: "recent_notifications", data: { notifications: [], unread_count: 4, unseen_count: 4, cursor: "cur-5", resumed: true } });
    api.add(notification(6));
    ws.receive({ type: "notification", data: notification(6) });
    expect(client.transport).toBe("websocket");
    expect(notifications(log)).toEqual(["notification 2", "notification 3", "notification 4", "notification 5", "notification 6"]);
    expect(client.notifications.map((n) => n.id)).toEqual([6, 5, 4, 3, 2, 1]);
    expect(client.unreadCount).toBe(5);
    expect(log.filter((l) => l.startsWith("transport"))).toEqual(["transport polling", "transport websocket"]);

    const polls = pollRequests(api);
    await vi.advanceTimersByTimeAsync(POLL * 4);
    expect(pollRequests(api)).toBe(polls); // polling stopped
  });

  it("keeps polling while the WebSocket probe still fails, and drops what both delivered", async () => {
    const { client, api, log } = setup();
    api.add(notification(1), notification(2));
    client.connect("good-token");
    await failHandshakes(3);
    expect(client.transport).toBe("polling");
    await vi.advanceTimersByTimeAsync(RETRY);
    const probe = FakeWebSocket.last();
    expect(FakeWebSocket.instances).toHaveLength(4);
    probe.fail();
    await settle();
    expect(client.transport).toBe("polling");
    expect(client.state).toBe("open");

    api.add(notification(3));
    await vi.advanceTimersByTimeAsync(RETRY);
    const ws = FakeWebSocket.last();
    expect(ws).not.toBe(probe);
    ws.open();
    ws.receive({ type: "recent_notifications", data: { notifications: [], unread_count: 3, unseen_count: 3, cursor: "cur-2", resumed: true } });
    ws.receive({ type: "notification", data: notification(3) }); // polled already: dropped
    ws.receive({ type: "notification", data: notification(4) });
    expect(client.transport).toBe("websocket");
    expect(notifications(log)).toEqual(["notification 3", "notification 4"]);
  });

  it("does not poll at all with fallback: false", async () => {
    const { client } = setup({ fallback: false });
    client.connect("good-token");
    await failHandshakes(10);
    expect(client.transport).toBe("websocket");
  });

  it("disconnect() stops polling and probing", async () => {
    const { client, api } = setup();
    client.connect("good-token");
    await failHandshakes(3);
    expect(client.transport).toBe("polling");
    client.disconnect();
    expect(client.state).toBe("closed");
    const requests = api.requests.length;
    await vi.advanceTimersByTimeAsync(RETRY * 3);
    expect(api.requests.length).toBe(requests);
    expect(FakeWebSocket.instances).toHaveLength(3);
  });
});
