/** Issue 13's inbox over the client: unseen count, inbox actions and their frames, the store's
 * answer to notifications_state and preferences_changed, REST while polling, and the REST calls. */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ClarionClient, type ClarionClientOptions } from "../src/client.js";
import { RestApi } from "../src/rest.js";
import type { Notification } from "../src/types.js";
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
    client.unarchive([99]);
    await settle();
    expect(errors).toEqual(["not_found"]);
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
    ]);
  });
});
