/** Issue 13's inbox over the client: unseen count, inbox actions and their frames, the store's
 * answer to notifications_state and preferences_changed, REST while polling, and the REST calls. */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ClarionClient, type ClarionClientOptions } from "../src/client.js";
import { RestApi } from "../src/rest.js";
import { NotificationStore } from "../src/store.js";
import type { Notification, NotificationsStateData } from "../src/types.js";
import { FakeApi, FakeEnvironment, FakeWebSocket, json, notification, settle } from "./helpers.js";

const snapshot = (notifications: Notification[], unread: number, unseen: number) =>
  ({ type: "recent_notifications", data: { notifications, unread_count: unread, unseen_count: unseen, cursor: "cur-9" } }) as const;

async function connected(options: ClarionClientOptions = {}) {
  const api = new FakeApi();
  const client = new ClarionClient({
    url: "http://clarion.test",
    socketAuth: "token",
    environment: new FakeEnvironment(),
    fetch: api.fetch,
    random: () => 0,
    fallback: false,
    ...options,
  });
  const unseen: number[] = [];
  client.on("unseen_count", (n) => unseen.push(n));
  client.connect("good-token");
  await settle();
  const ws = FakeWebSocket.last().open();
  return { client, ws, unseen, api };
}

const sent = (ws: FakeWebSocket) => ws.sent.map((text) => JSON.parse(text) as unknown).filter((f) => (f as { type: string }).type !== "ping");

beforeEach(() => {
  vi.useFakeTimers();
  FakeWebSocket.reset();
});
afterEach(() => {
  vi.useRealTimers();
});

describe("the unseen count and notifications_state", () => {
  it("follows the snapshot, live pushes, and every state a tab of the user changes", async () => {
    const { client, ws, unseen } = await connected();
    ws.receive(snapshot([notification(3), notification(2, { is_seen: true }), notification(1, { is_seen: true })], 3, 1));
    expect([client.unreadCount, client.unseenCount]).toEqual([3, 1]);
    ws.receive({ type: "notification", data: notification(4) });
    expect([client.unreadCount, client.unseenCount]).toEqual([4, 2]);

    ws.receive({ type: "notifications_state", data: { ids: [], state: "all_seen", unread_count: 4, unseen_count: 0 } });
    expect(client.notifications.every((n) => n.is_seen)).toBe(true);
    ws.receive({ type: "notifications_state", data: { ids: [3, 4], state: "archived", unread_count: 2, unseen_count: 0 } });
    expect(client.notifications.map((n) => n.id)).toEqual([2, 1]);
    ws.receive({ type: "notifications_read", data: { ids: [2], unread_count: 1, unseen_count: 0 } });
    ws.receive({ type: "notifications_state", data: { ids: [2], state: "unread", unread_count: 2, unseen_count: 0 } });
    expect(client.notifications.find((n) => n.id === 2)).toMatchObject({ is_read: false, is_seen: true });
    ws.receive({ type: "notifications_state", data: { ids: [1], state: "snoozed", until: "2030-01-01T00:00:00Z", unread_count: 1, unseen_count: 0 } });
    expect(client.notifications.map((n) => n.id)).toEqual([2]);
    ws.receive({ type: "notifications_state", data: { ids: [1], state: "returned", notifications: [notification(1)], unread_count: 2, unseen_count: 1 } });
    expect(client.notifications.map((n) => n.id)).toEqual([2, 1]);
    expect([client.unreadCount, client.unseenCount]).toEqual([2, 1]);
    // expired carries no counts: the client lowers them by what left unread and unseen here
    ws.receive({ type: "notifications_state", data: { ids: [1], state: "expired" } });
    expect(client.notifications.map((n) => n.id)).toEqual([2]);
    expect([client.unreadCount, client.unseenCount]).toEqual([1, 0]);
    expect(unseen).toEqual([1, 2, 0, 1, 0]);
    expect(client.snapshot.unseenCount).toBe(0);
  });

  it("takes the counts of preferences_changed, and emits it as an event", async () => {
    const { client, ws } = await connected();
    ws.receive(snapshot([notification(1)], 1, 1));
    const events: string[] = [];
    client.on("preferences_changed", (p) => events.push(`${p.locale} ${p.mutes.map((m) => m.topic).join(",")}`));
    ws.receive({ type: "preferences_changed", data: { locale: "th", categories: [], mutes: [{ topic: "project:7", until: null }], unread_count: 0, unseen_count: 0 } });
    expect(events).toEqual(["th project:7"]);
    expect([client.unreadCount, client.unseenCount]).toEqual([0, 0]);
  });
});

describe("the store, one notifications_state at a time", () => {
  function store(...items: Notification[]) {
    const s = new NotificationStore();
    const unread = items.filter((n) => !n.is_read).length;
    s.applySnapshot({ notifications: items, unread_count: unread, unseen_count: items.filter((n) => !n.is_read && !n.is_seen).length, cursor: "c" });
    return s;
  }
  const state = (data: NotificationsStateData) => data;
  const ids = (s: NotificationStore) => s.notifications.map((n) => n.id);

  it("seen marks only the named ids; all_seen every one", () => {
    const s = store(notification(3), notification(2), notification(1));
    expect(s.applyState(state({ ids: [2, 99], state: "seen", unread_count: 3, unseen_count: 2 }))).toBe(true);
    expect(s.notifications.map((n) => n.is_seen)).toEqual([false, true, false]);
    expect([s.unreadCount, s.unseenCount]).toEqual([3, 2]);
    s.applyState(state({ ids: [], state: "all_seen", unread_count: 3, unseen_count: 0 }));
    expect(s.notifications.every((n) => n.is_seen && !n.is_read)).toBe(true);
  });

  it("archived and snoozed remove the ids and take the frame's counts", () => {
    const s = store(notification(3), notification(2), notification(1));
    s.applyState(state({ ids: [3], state: "archived", unread_count: 2, unseen_count: 2 }));
    s.applyState(state({ ids: [1], state: "snoozed", until: "2030-01-01T00:00:00Z", unread_count: 1, unseen_count: 1 }));
    expect(ids(s)).toEqual([2]);
    expect([s.unreadCount, s.unseenCount]).toEqual([1, 1]);
  });

  it("unarchived adds nothing (the item is not here) but takes the counts", () => {
    const s = store(notification(2));
    expect(s.applyState(state({ ids: [7], state: "unarchived", unread_count: 2, unseen_count: 2 }))).toBe(true);
    expect(ids(s)).toEqual([2]);
    expect([s.unreadCount, s.unseenCount]).toEqual([2, 2]);
    expect(s.applyState(state({ ids: [7], state: "unarchived", unread_count: 2, unseen_count: 2 }))).toBe(false);
  });

  it("unread makes items unread and seen, and wins over a read that arrived before the item", () => {
    const s = store(notification(2, { is_read: true, is_seen: true }));
    s.applyState(state({ ids: [2], state: "unread", unread_count: 1, unseen_count: 0 }));
    expect(s.notifications[0]).toMatchObject({ is_read: false, is_seen: true });
    // 9 was read before its push arrived, then marked unread again: the push must show it unread.
    s.applyRead({ ids: [9], unread_count: 1, unseen_count: 0 });
    s.applyState(state({ ids: [9], state: "unread", unread_count: 2, unseen_count: 0 }));
    s.applyNotification(notification(9, { is_seen: true }));
    expect(s.notifications[0]).toMatchObject({ id: 9, is_read: false });
  });

  it("returned inserts by id, newest first, without duplicates", () => {
    const s = store(notification(8), notification(3));
    s.applyState(state({ ids: [5, 3, 9], state: "returned", notifications: [notification(5), notification(3), notification(9)], unread_count: 4, unseen_count: 4 }));
    expect(ids(s)).toEqual([9, 8, 5, 3]);
    expect([s.unreadCount, s.unseenCount]).toEqual([4, 4]);
    expect(s.highestId).toBe(9);
  });

  it("expired lowers the counts by what left unread (and unseen) here, nothing else", () => {
    const s = store(notification(4), notification(3, { is_seen: true }), notification(2, { is_read: true, is_seen: true }));
    expect([s.unreadCount, s.unseenCount]).toEqual([2, 1]);
    s.applyState(state({ ids: [2, 77], state: "expired" })); // read here, and not here at all
    expect([s.unreadCount, s.unseenCount]).toEqual([2, 1]);
    s.applyState(state({ ids: [3], state: "expired" }));
    expect([s.unreadCount, s.unseenCount]).toEqual([1, 1]);
    s.applyState(state({ ids: [4], state: "expired" }));
    expect([s.unreadCount, s.unseenCount]).toEqual([0, 0]);
    expect(ids(s)).toEqual([]);
  });

  it("reads counts from a server before issue 13 too (no unseen_count: unseen follows unread)", () => {
    const s = new NotificationStore();
    s.applySnapshot({ notifications: [notification(1)], unread_count: 1, cursor: "c" } as never);
    expect(s.unseenCount).toBe(1);
    s.applyRead({ ids: [1], unread_count: 0 });
    expect([s.unreadCount, s.unseenCount]).toEqual([0, 1]); // no unseen_count: the last known one stands
    s.applyRead({ ids: [1], unread_count: 0, unseen_count: 0 });
    expect(s.unseenCount).toBe(0);
  });
});

describe("inbox actions", () => {
  it("send the documented frames: ids without duplicates, a group key, snooze's until as ISO 8601", async () => {
    const { client, ws } = await connected();
    ws.receive(snapshot([], 0, 0));
    expect(client.archive([5, 5, 6])).toBe("sent");
    client.unarchive(5);
    client.markSeen({ groupKey: "project:7:comment" });
    client.markAllSeen();
    client.markUnread([6]);
    client.snooze([5], new Date("2030-01-01T09:00:00Z"));
    client.snooze({ groupKey: "project:7:comment" }, "2030-01-02T09:00:00Z");
    expect(sent(ws)).toEqual([
      { type: "archive", data: { ids: [5, 6] } },
      { type: "unarchive", data: { ids: [5] } },
      { type: "mark_seen", data: { group_key: "project:7:comment" } },
      { type: "mark_all_seen" },
      { type: "mark_unread", data: { ids: [6] } },
      { type: "snooze", data: { ids: [5], until: "2030-01-01T09:00:00.000Z" } },
      { type: "snooze", data: { group_key: "project:7:comment", until: "2030-01-02T09:00:00Z" } },
    ]);
    client.markAsRead({ groupKey: "project:7:comment" });
    expect(sent(ws).at(-1)).toEqual({ type: "mark_as_read", data: { group_key: "project:7:comment" } });
    expect(() => client.archive([0])).toThrow(TypeError);
    expect(() => client.snooze([5], "tomorrow")).toThrow(TypeError);
    expect(() => client.markSeen({ groupKey: "" })).toThrow(TypeError);
  });

  it("go over REST while polling, and the answer updates the list as the socket's would", async () => {
    const api = new FakeApi();
    api.add(notification(1), notification(2));
    const client = new ClarionClient({
      url: "http://clarion.test",
      socketAuth: "token",
      environment: new FakeEnvironment(),
      fetch: api.fetch,
      random: () => 0,
      heartbeat: false,
      WebSocket: null,
    });
    const errors: string[] = [];
    client.on("error", (e) => errors.push(e.code));
    client.connect("good-token");
    await settle();
    expect(client.transport).toBe("polling");
    expect(client.notifications.map((n) => n.id)).toEqual([2, 1]);
    client.archive([2, 99]);
    await settle();
    expect(api.requestsTo("/api/notifications/archive/")).toHaveLength(1);
    expect(JSON.parse(api.lastBody ?? "")).toEqual({ ids: [2, 99] });
    expect(client.notifications.map((n) => n.id)).toEqual([1]);
    // 99 is not the caller's: named in the answer's not_found, then a 404 when it is the only id
    expect(errors).toEqual(["not_found"]);
    client.unarchive([99]);
    await settle();
    expect(errors).toEqual(["not_found", "not_found"]);
    client.disconnect();
  });

  it("emit notifications_state, unread_count and unseen_count events as the frames change them", async () => {
    const { client, ws, unseen } = await connected();
    ws.receive(snapshot([notification(2), notification(1)], 2, 2));
    const states: string[] = [];
    const unread: number[] = [];
    client.on("notifications_state", (d) => states.push(`${d.state} ${d.ids.join(",")}`));
    client.on("unread_count", (n) => unread.push(n));
    ws.receive({ type: "notifications_state", data: { ids: [2], state: "seen", unread_count: 2, unseen_count: 1 } });
    ws.receive({ type: "notifications_state", data: { ids: [1], state: "archived", unread_count: 1, unseen_count: 0 } });
    expect(states).toEqual(["seen 2", "archived 1"]);
    expect(unread).toEqual([1]);
    expect(unseen).toEqual([2, 1, 0]);
  });
});

describe("actions over REST while polling", () => {
  function polling() {
    const api = new FakeApi();
    const client = new ClarionClient({
      url: "http://clarion.test",
      socketAuth: "token",
      environment: new FakeEnvironment(),
      fetch: api.fetch,
      random: () => 0,
      heartbeat: false,
      WebSocket: null,
    });
    const read: string[] = [];
    client.on("notifications_read", (d) => read.push(`${d.ids.join(",")} unread=${d.unread_count} unseen=${String(d.unseen_count)}${d.all ? " all" : ""}`));
    return { api, client, read };
  }

  it("the unseen count comes from the REST counts, at the first poll and after", async () => {
    const { api, client } = polling();
    api.add(notification(1, { is_seen: true }), notification(2), notification(3, { is_read: true, is_seen: true }));
    const unseen: number[] = [];
    client.on("unseen_count", (n) => unseen.push(n));
    client.connect("good-token");
    await settle();
    expect([client.unreadCount, client.unseenCount]).toEqual([2, 1]);
    api.notifications.find((n) => n.id === 2)!.is_seen = true; // seen in another tab
    await vi.advanceTimersByTimeAsync(30_000);
    expect([client.unreadCount, client.unseenCount]).toEqual([2, 0]);
    expect(unseen).toEqual([1, 0]);
    client.disconnect();
  });

  it("a group read is one POST /api/notifications/read/; mark-all keeps the unseen count of its answer", async () => {
    const { api, client, read } = polling();
    api.add(notification(1, { group_key: "project:7:comment" }), notification(2, { group_key: "project:7:comment" }), notification(3));
    client.connect("good-token");
    await settle();
    client.markAsRead({ groupKey: "project:7:comment" });
    await settle();
    expect(api.requestsTo("/api/notifications/read/")).toHaveLength(1);
    expect(JSON.parse(api.lastBody ?? "")).toEqual({ group_key: "project:7:comment" });
    expect(client.notifications.filter((n) => n.is_read).map((n) => n.id)).toEqual([2, 1]);
    expect([client.unreadCount, client.unseenCount]).toEqual([1, 1]);
    client.markAllAsRead();
    await settle();
    expect(read).toEqual(["1,2 unread=1 unseen=1", "3 unread=0 unseen=0 all"]);
    expect([client.unreadCount, client.unseenCount]).toEqual([0, 0]);
    client.disconnect();
  });

  it("markAllSeen and markUnread go to their endpoints and come back as notifications_state", async () => {
    const { api, client } = polling();
    api.add(notification(1, { is_read: true, is_seen: true }), notification(2));
    const states: string[] = [];
    client.on("notifications_state", (d) => states.push(d.state));
    client.connect("good-token");
    await settle();
    client.markAllSeen();
    await settle();
    expect(client.unseenCount).toBe(0);
    client.markUnread(1);
    await settle();
    expect(api.requests.filter((r) => r.method === "POST").map((r) => r.path)).toEqual(["/api/notifications/seen-all/", "/api/notifications/unread/"]);
    expect(states).toEqual(["all_seen", "unread"]);
    expect([client.unreadCount, client.unseenCount]).toEqual([2, 0]);
    client.disconnect();
  });
});

describe("RestApi, issue 13's endpoints", () => {
  function recording() {
    const calls: { method: string; url: string; body: unknown }[] = [];
    const rest = new RestApi({
      baseUrl: "http://clarion.test",
      getToken: async () => "t",
      fetch: async (url, init) => {
        calls.push({ method: init?.method ?? "GET", url, body: init?.body ? JSON.parse(init.body as string) : undefined });
        return json(200, init?.method === "DELETE" ? null : { ok: true });
      },
    });
    return { rest, calls };
  }

  it("call the documented paths with the documented bodies", async () => {
    const { rest, calls } = recording();
    await rest.changeState("snooze", { groupKey: "project:7:comment" }, "2030-01-01T00:00:00Z");
    await rest.changeState("archive", [1, 2]);
    await rest.markAllSeen();
    await rest.counts();
    await rest.getPreferences();
    await rest.updatePreferences({ locale: "th", categories: { comment: { in_app: false } } });
    await rest.listMutes();
    await rest.mute("project:7");
    await rest.mute("project:8", "2030-01-01T00:00:00Z");
    await rest.unmute("project:7");
    await rest.listGroups({ page: 2, pageSize: 5, unread: true });
    await rest.listGroups({ snoozed: true, includeMuted: true });
    await rest.markRead([3, 4]);
    await rest.markRead({ groupKey: "project:7:comment" });
    await rest.listNotifications({ archived: true, includeMuted: true, snoozed: false });
    expect(calls.map((c) => `${c.method} ${c.url.replace("http://clarion.test", "")}`)).toEqual([
      "POST /api/notifications/snooze/",
      "POST /api/notifications/archive/",
      "POST /api/notifications/seen-all/",
      "GET /api/notifications/unread-count/",
      "GET /api/preferences/",
      "PATCH /api/preferences/",
      "GET /api/mutes/",
      "POST /api/mutes/",
      "POST /api/mutes/",
      "DELETE /api/mutes/project%3A7/",
      "GET /api/notifications/?grouped=true&unread=true&page_size=5&page=2",
      "GET /api/notifications/?grouped=true&snoozed=true&include_muted=true",
      "POST /api/notifications/read/",
      "POST /api/notifications/read/",
      "GET /api/notifications/?archived=true&snoozed=false&include_muted=true",
    ]);
    expect(calls.map((c) => c.body)).toEqual([
      { group_key: "project:7:comment", until: "2030-01-01T00:00:00Z" },
      { ids: [1, 2] },
      undefined,
      undefined,
      undefined,
      { locale: "th", categories: { comment: { in_app: false } } },
      undefined,
      { topic: "project:7" },
      { topic: "project:8", until: "2030-01-01T00:00:00Z" },
      undefined,
      undefined,
      undefined,
      { ids: [3, 4] },
      { group_key: "project:7:comment" },
      undefined,
    ]);
  });

  it("answer the unread count alone, as before, and both counts from counts()", async () => {
    const api = new FakeApi();
    api.add(notification(1), notification(2, { is_seen: true }));
    const rest = new RestApi({ baseUrl: "http://clarion.test", fetch: api.fetch, getToken: async () => "good-token" });
    expect(await rest.unreadCount()).toBe(2);
    expect(await rest.counts()).toEqual({ unread_count: 2, unseen_count: 1 });
  });
});
