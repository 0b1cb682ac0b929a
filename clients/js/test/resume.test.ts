/** Resume by cursor, dedupe by id, the list and unread count, and other streams. */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ClarionClient, type ClarionClientOptions } from "../src/client.js";
import { StreamConnection } from "../src/stream.js";
import { type ChatMessage, collaborationStream, type ProjectServerFrame, projectStream, systemHealthStream } from "../src/streams.js";
import type { Notification } from "../src/types.js";
import { FakeApi, FakeEnvironment, FakeWebSocket, notification, settle } from "./helpers.js";

function snapshot(notifications: Notification[], cursor: string, extra: { unread_count?: number; resumed?: true } = {}) {
  return {
    type: "recent_notifications",
    data: { notifications, unread_count: extra.unread_count ?? notifications.length, cursor, ...(extra.resumed ? { resumed: true } : {}) },
  } as const;
}
const push = (n: Notification) => ({ type: "notification", data: n }) as const;

async function connected(options: ClarionClientOptions = {}) {
  const env = new FakeEnvironment();
  const client = new ClarionClient({
    url: "http://clarion.test",
    socketAuth: "token",
    environment: env,
    fetch: new FakeApi().fetch,
    random: () => 0,
    fallback: false,
    ...options,
  });
  const received: number[] = [];
  client.on("notification", (n) => received.push(n.id));
  client.connect("good-token");
  await settle();
  const ws = FakeWebSocket.last().open();
  return { client, env, ws, received };
}

/** Drop the socket and let the client reconnect (random 0 means no backoff wait). */
async function reconnect(ws: FakeWebSocket, code = 1006): Promise<FakeWebSocket> {
  ws.serverClose(code);
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

describe("resume", () => {
  it("keeps the cursor of the last frame that carried one and reconnects with it", async () => {
    const { client, ws } = await connected();
    ws.receive(snapshot([notification(2), notification(1)], "cur-2"));
    expect(client.cursor).toBe("cur-2");
    ws.receive(push(notification(3)));
    ws.receive({ type: "notifications_read", data: { ids: [3], unread_count: 2 } }); // carries no cursor
    ws.receive({ type: "pong" });
    expect(client.cursor).toBe("cur-3");
    const next = await reconnect(ws);
    expect(next.query.get("cursor")).toBe("cur-3");
  });

  it("keeps the list on a resumed connect and adds the missed notifications, nothing twice", async () => {
    const { client, ws, received } = await connected();
    ws.receive(snapshot([notification(2), notification(1)], "cur-2"));
    ws.receive(push(notification(3)));
    const next = await reconnect(ws);
    // As documented: resumed snapshot, then every missed notification oldest first.
    next.receive(snapshot([], "cur-3", { resumed: true, unread_count: 3 }));
    next.receive(push(notification(4)));
    next.receive(push(notification(5)));
    expect(client.notifications.map((n) => n.id)).toEqual([5, 4, 3, 2, 1]);
    expect(client.unreadCount).toBe(5);
    expect(received).toEqual([3, 4, 5]);
    expect(next.query.get("cursor")).toBe("cur-3");
    expect(client.cursor).toBe("cur-5");
  });

  it("drops a notification it already delivered (a replay overlapping what it saw), but takes its cursor", async () => {
    const { client, ws, received } = await connected();
    ws.receive(snapshot([], "cur-0"));
    ws.receive(push(notification(7)));
    const next = await reconnect(ws, 4008);
    next.receive(snapshot([], "cur-6", { resumed: true, unread_count: 1 }));
    next.receive(push(notification(7)));
    next.receive(push(notification(8)));
    expect(received).toEqual([7, 8]);
    expect(client.notifications.map((n) => n.id)).toEqual([8, 7]);
    expect(client.unreadCount).toBe(2);
    expect(client.cursor).toBe("cur-8");
  });

  it("does not deliver a notification that was in the snapshot again as a live one", async () => {
    const { ws, received } = await connected();
    ws.receive(snapshot([notification(4)], "cur-4"));
    ws.receive(push(notification(4)));
    expect(received).toEqual([]);
  });

  it("remembers a bounded number of ids", async () => {
    const { ws, received } = await connected({ dedupeSize: 3 });
    ws.receive(snapshot([], "cur-0"));
    for (const id of [1, 2, 3, 4]) ws.receive(push(notification(id)));
    ws.receive(push(notification(4))); // still remembered
    ws.receive(push(notification(1))); // forgotten: memory is bounded by design
    expect(received).toEqual([1, 2, 3, 4, 1]);
  });

  it("replaces the list with the fresh snapshot after cursor_expired or invalid_cursor", async () => {
    const { client, ws } = await connected();
    const errors: string[] = [];
    client.on("error", (e) => errors.push(e.code));
    ws.receive(snapshot([notification(1)], "cur-1"));
    const next = await reconnect(ws);
    next.receive({ type: "error", data: { code: "cursor_expired", message: "more than 1000 notifications were missed" } });
    next.receive(snapshot([notification(1500), notification(1499)], "cur-1500", { unread_count: 1200 }));
    expect(errors).toEqual(["cursor_expired"]);
    expect(client.notifications.map((n) => n.id)).toEqual([1500, 1499]);
    expect(client.unreadCount).toBe(1200);
    expect(client.cursor).toBe("cur-1500");
  });

  it("forgets cursors and the list on disconnect({ forget: true }), so another user starts fresh", async () => {
    const { client, ws } = await connected();
    ws.receive(snapshot([notification(1)], "cur-1"));
    client.disconnect({ forget: true });
    expect(client.notifications).toEqual([]);
    client.connect("other-user-token");
    await settle();
    expect(FakeWebSocket.last().query.has("cursor")).toBe(false);
  });

  it("keeps the cursor over a plain disconnect, so connect() resumes", async () => {
    const { client, ws } = await connected();
    ws.receive(snapshot([notification(1)], "cur-1"));
    client.disconnect();
    client.connect();
    await settle();
    expect(FakeWebSocket.last().query.get("cursor")).toBe("cur-1");
  });
});

describe("read state", () => {
  it("marks listed ids read and takes the server's unread count", async () => {
    const { client, ws } = await connected();
    ws.receive(snapshot([notification(3), notification(2), notification(1)], "cur-3"));
    const counts: number[] = [];
    client.on("unread_count", (n) => counts.push(n));
    ws.receive({ type: "notifications_read", data: { ids: [2], unread_count: 2 } });
    expect(client.notifications.map((n) => [n.id, n.is_read])).toEqual([[3, false], [2, true], [1, false]]);
    ws.receive({ type: "notifications_read", data: { ids: [1, 3], unread_count: 0, all: true } });
    expect(client.notifications.every((n) => n.is_read)).toBe(true);
    expect(counts).toEqual([2, 0]);
  });

  it("applies a read that arrived before its notification (marked before it was published)", async () => {
    const { client, ws } = await connected();
    ws.receive(snapshot([], "cur-0", { unread_count: 0 }));
    ws.receive({ type: "notifications_read", data: { ids: [9], unread_count: 0 } });
    ws.receive(push(notification(9))); // a live push always says is_read: false
    expect(client.notifications[0]?.is_read).toBe(true);
    expect(client.unreadCount).toBe(0);
  });

  it("counts replayed notifications that were read already as read", async () => {
    const { client, ws } = await connected();
    ws.receive(snapshot([], "cur-0", { unread_count: 0 }));
    ws.receive(push(notification(4, { is_read: true })));
    expect(client.unreadCount).toBe(0);
  });

  it("gives a new snapshot object on every change, and keeps the same one otherwise", async () => {
    const { client, ws } = await connected();
    ws.receive(snapshot([], "cur-0"));
    const before = client.snapshot;
    ws.receive({ type: "pong" });
    expect(client.snapshot).toBe(before);
    ws.receive(push(notification(1)));
    expect(client.snapshot).not.toBe(before);
    expect(client.snapshot).toMatchObject({ state: "open", transport: "websocket", unreadCount: 1 });
  });
});

describe("other streams", () => {
  const project = { id: 7, title: "Greenhouse", description: "", status: "in_progress", advisor: 3, members: [1], created_at: "", updated_at: "" };
  const event = (id: number, kind = "created") => ({ id, project: 7, kind, actor: null, data: {}, created_at: "", cursor: `p-${id}` });

  it("share the client's credential and keep their own cursor per path", async () => {
    const { client, ws } = await connected();
    ws.receive(snapshot([], "cur-n"));
    const stream = client.openStream(projectStream(7));
    const kinds: string[] = [];
    stream.on("project_event", (e) => kinds.push(e.kind));
    stream.connect();
    await settle();
    const pws = FakeWebSocket.last().open();
    expect(pws.path).toBe("/ws/projects/7/");
    expect(pws.query.get("token")).toBe("good-token");
    pws.receive({ type: "project_snapshot", data: { project, events: [event(1)], cursor: "p-1" } });
    pws.receive({ type: "project_event", data: event(1) }); // in the snapshot already
    pws.receive({ type: "project_event", data: event(2, "comment") });
    pws.receive({ type: "project_event", data: event(2, "comment") });
    expect(kinds).toEqual(["comment"]);
    expect(stream.cursor).toBe("p-2");
    expect(client.cursor).toBe("cur-n");

    pws.serverClose(1012);
    await vi.advanceTimersByTimeAsync(0);
    expect(FakeWebSocket.last().path).toBe("/ws/projects/7/");
    expect(FakeWebSocket.last().query.get("cursor")).toBe("p-2");
    expect(client.state).toBe("open"); // the notifications stream is not affected
  });

  it("deliver a chat message's edits and deletion (same id), but not the same state twice", async () => {
    const { client } = await connected();
    const room = client.openStream(collaborationStream("project-7"));
    const seen: string[] = [];
    room.on("chat_message", (m) => seen.push(`${m.id} ${m.event} ${m.body}`));
    room.connect();
    await settle();
    const ws = FakeWebSocket.last().open();
    expect(ws.path).toBe("/ws/collaboration/project-7/");
    const message = (overrides: Partial<ChatMessage>): ChatMessage => ({
      id: 4, room: "project-7", event: "created", author: { id: 1, username: "alice" }, body: "Draft is up",
      client_id: "", created_at: "t0", edited_at: null, deleted: false, cursor: "r-1", ...overrides,
    });
    ws.receive({ type: "room_snapshot", data: { room: { key: "project-7", title: "", project: 7, members: [], created_by: null }, messages: [message({})], cursor: "r-1" } });
    ws.receive({ type: "presence", data: { event: "state", user: null, online: [{ id: 1, username: "alice" }] } });
    ws.receive({ type: "chat_message", data: message({}) }); // already in the snapshot
    ws.receive({ type: "chat_message", data: message({ event: "edited", body: "Draft v2", edited_at: "t1", cursor: "r-2" }) });
    ws.receive({ type: "chat_message", data: message({ event: "edited", body: "Draft v2", edited_at: "t1", cursor: "r-2" }) });
    ws.receive({ type: "chat_message", data: message({ event: "deleted", body: "", edited_at: "t1", deleted: true, cursor: "r-3" }) });
    expect(seen).toEqual(["4 edited Draft v2", "4 deleted "]);
    expect(room.cursor).toBe("r-3");
    // Ephemeral frames are not kept for a later connection.
    ws.serverClose(1006);
    expect(room.send({ type: "typing", data: { active: true } }, { queue: false })).toBe("dropped");
  });

  it("system health: administrators only, so 4403 stops it", async () => {
    const { client } = await connected();
    const health = client.openStream(systemHealthStream);
    const closed = vi.fn();
    health.on("closed", closed);
    health.connect();
    await settle();
    const ws = FakeWebSocket.last().open();
    expect(ws.path).toBe("/ws/system-health/");
    ws.serverClose(4403);
    expect(closed).toHaveBeenCalledWith(expect.objectContaining({ cause: "terminal", code: 4403 }));
  });

  it("can be used without ClarionClient", async () => {
    const env = new FakeEnvironment();
    const stream = new StreamConnection<ProjectServerFrame>(projectStream(3), {
      url: "wss://example.com",
      environment: env,
      credentials: {
        socketCredential: async () => ({ param: "ticket", value: "t-1", token: "access" }),
        renew: async () => "unavailable",
        onChange: () => () => {},
      },
    });
    const states: string[] = [];
    stream.on("state", (e) => states.push(e.state));
    stream.connect();
    await settle();
    const ws = FakeWebSocket.last();
    expect(ws.url).toBe("wss://example.com/ws/projects/3/?ticket=t-1");
    ws.open().receive({ type: "project_snapshot", data: { project, events: [], cursor: "p-9" } });
    ws.serverClose(4404);
    expect(states).toEqual(["connecting", "open", "closed"]);
  });
});
