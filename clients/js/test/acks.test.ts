/** Delivery receipts: `ack` frames, throttled per socket, only forward, never while disconnected. */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ClarionClient, type ClarionClientOptions } from "../src/client.js";
import type { Notification } from "../src/types.js";
import { FakeApi, FakeEnvironment, FakeWebSocket, notification, settle } from "./helpers.js";

const snapshot = (notifications: Notification[], cursor: string, resumed = false) =>
  ({
    type: "recent_notifications",
    data: { notifications, unread_count: notifications.length, unseen_count: notifications.length, cursor, ...(resumed ? { resumed: true } : {}) },
  }) as const;
const push = (n: Notification) => ({ type: "notification", data: n }) as const;

async function connected(options: ClarionClientOptions = {}) {
  const client = new ClarionClient({
    url: "http://clarion.test",
    socketAuth: "token",
    environment: new FakeEnvironment(),
    fetch: new FakeApi().fetch,
    random: () => 0,
    fallback: false,
    heartbeat: false, // pings would share the sent list with the acks under test
    ...options,
  });
  client.connect("good-token");
  await settle();
  const ws = FakeWebSocket.last().open();
  return { client, ws };
}

/** The cursors of the acks a socket sent, in order. */
function acks(ws: FakeWebSocket): string[] {
  return ws.frames().filter((f) => f.type === "ack").map((f) => (f.data as { cursor: string }).cursor);
}

async function reconnect(ws: FakeWebSocket): Promise<FakeWebSocket> {
  ws.serverClose(1006);
  await vi.advanceTimersByTimeAsync(0);
  const next = FakeWebSocket.last();
  expect(next).not.toBe(ws);
  return next.open();
}

beforeEach(() => {
  vi.useFakeTimers();
  FakeWebSocket.reset();
});
afterEach(() => {
  vi.useRealTimers();
});

describe("acknowledgements", () => {
  it("acks the newest item of a snapshot at once, in the documented frame", async () => {
    const { ws } = await connected();
    ws.receive(snapshot([notification(5), notification(9), notification(7)], "cur-9"));
    expect(ws.frames().filter((f) => f.type === "ack")).toEqual([{ type: "ack", data: { cursor: "cur-9" } }]);
  });

  it("sends at most one a second per socket: the last cursor of the second goes out when it ends", async () => {
    const { ws } = await connected();
    ws.receive(snapshot([], "cur-0"));
    ws.receive(push(notification(1)));
    expect(acks(ws)).toEqual(["cur-1"]);
    await vi.advanceTimersByTimeAsync(300);
    ws.receive(push(notification(2)));
    await vi.advanceTimersByTimeAsync(300);
    ws.receive(push(notification(3)));
    ws.receive(push(notification(4)));
    expect(acks(ws)).toEqual(["cur-1"]);
    await vi.advanceTimersByTimeAsync(399);
    expect(acks(ws)).toEqual(["cur-1"]);
    await vi.advanceTimersByTimeAsync(1);
    expect(acks(ws)).toEqual(["cur-1", "cur-4"]);
    // That trailing ack opened a new second: the next one waits for its end.
    ws.receive(push(notification(5)));
    expect(acks(ws)).toEqual(["cur-1", "cur-4"]);
    await vi.advanceTimersByTimeAsync(1000);
    expect(acks(ws)).toEqual(["cur-1", "cur-4", "cur-5"]);
  });

  it("acks only when a further notification arrived", async () => {
    const { ws } = await connected();
    ws.receive(snapshot([notification(2)], "cur-2"));
    ws.receive(push(notification(3)));
    await vi.advanceTimersByTimeAsync(5000);
    expect(acks(ws)).toEqual(["cur-2", "cur-3"]);
    // Frames that carry no new notification, and a replayed one (dropped by dedupe), move nothing.
    ws.receive({ type: "notifications_read", data: { ids: [3], unread_count: 1, unseen_count: 1 } });
    ws.receive({ type: "pong" });
    ws.receive(push(notification(2)));
    await vi.advanceTimersByTimeAsync(5000);
    expect(acks(ws)).toEqual(["cur-2", "cur-3"]);
    // A fresh snapshot (the cursor expired) whose newest item is older than what was acknowledged.
    const next = await reconnect(ws);
    next.receive({ type: "error", data: { code: "cursor_expired", message: "too many missed" } });
    next.receive(snapshot([notification(2), notification(1)], "cur-9"));
    await vi.advanceTimersByTimeAsync(5000);
    expect(acks(next)).toEqual([]);
    // A resumed snapshot carries no items; what follows it does.
    const third = await reconnect(next);
    third.receive(snapshot([], "cur-9", true));
    expect(acks(third)).toEqual([]);
    third.receive(push(notification(10)));
    expect(acks(third)).toEqual(["cur-10"]);
  });

  it("sends nothing while disconnected, and the furthest position once the next socket opens", async () => {
    const { client, ws } = await connected();
    ws.receive(snapshot([], "cur-0"));
    ws.receive(push(notification(1)));
    ws.receive(push(notification(2))); // waits for the end of the second
    ws.serverClose(1006);
    const sentBefore = ws.sent.length;
    await vi.advanceTimersByTimeAsync(0);
    const next = FakeWebSocket.last();
    expect(next).not.toBe(ws);
    await vi.advanceTimersByTimeAsync(2000); // the window ends while the next socket is not open yet
    expect(ws.sent.length).toBe(sentBefore);
    expect(next.sent).toEqual([]);
    expect(client.state).not.toBe("open");
    next.open().receive(snapshot([], "cur-2", true));
    expect(acks(ws)).toEqual(["cur-1"]);
    expect(acks(next)).toEqual(["cur-2"]);
    // The new socket has its own second.
    next.receive(push(notification(3)));
    expect(acks(next)).toEqual(["cur-2"]);
    await vi.advanceTimersByTimeAsync(1000);
    expect(acks(next)).toEqual(["cur-2", "cur-3"]);
  });

  it("never queues an ack for later like an action", async () => {
    const { client, ws } = await connected();
    ws.receive(snapshot([], "cur-0"));
    ws.receive(push(notification(1)));
    await vi.advanceTimersByTimeAsync(1000);
    ws.serverClose(1006);
    client.markAsRead(1); // queued while reconnecting
    expect(client["stream"].queued).toBe(1);
    await vi.advanceTimersByTimeAsync(0);
    const next = FakeWebSocket.last().open();
    next.receive(snapshot([], "cur-1", true));
    expect(next.frames().map((f) => f.type)).toEqual(["mark_as_read"]);
  });

  it("is off with acknowledge: false", async () => {
    const { ws } = await connected({ acknowledge: false });
    ws.receive(snapshot([notification(1)], "cur-1"));
    ws.receive(push(notification(2)));
    await vi.advanceTimersByTimeAsync(2000);
    expect(acks(ws)).toEqual([]);
  });

  it("stops when the server does not know the frame (a server before issue 14)", async () => {
    const { client, ws } = await connected();
    const errors: string[] = [];
    client.on("error", (e) => errors.push(e.code));
    ws.receive(snapshot([notification(1)], "cur-1"));
    ws.receive({ type: "error", data: { code: "unknown_type", message: 'unknown frame type "ack"; expected one of: mark_all_as_read, mark_as_read, ping' } });
    ws.receive(push(notification(2)));
    await vi.advanceTimersByTimeAsync(2000);
    expect(acks(ws)).toEqual(["cur-1"]);
    expect(errors).toEqual(["unknown_type"]); // the application still hears of it, once
  });

  it("starts over after forget (another user signs in)", async () => {
    const { client, ws } = await connected();
    ws.receive(snapshot([notification(4)], "cur-4"));
    client.disconnect({ forget: true });
    client.connect("good-token");
    await settle();
    const next = FakeWebSocket.last().open();
    next.receive(snapshot([notification(3)], "cur-3"));
    expect(acks(next)).toEqual(["cur-3"]);
  });
});
