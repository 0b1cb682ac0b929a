// @vitest-environment happy-dom
/** useNotifications(): state from the client, actions, toasts, cleanup. */
import { act, cleanup, render, renderHook } from "@testing-library/react";
import { StrictMode, createElement, type ReactNode } from "react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ClarionClient } from "../src/client.js";
import { useNotifications } from "../src/react.js";
import { FakeApi, FakeEnvironment, FakeWebSocket, notification, settle } from "./helpers.js";

function makeClient() {
  return new ClarionClient({
    url: "http://clarion.test",
    socketAuth: "token",
    environment: new FakeEnvironment(),
    fetch: new FakeApi().fetch,
    random: () => 0,
    fallback: false,
    // These tests compare the frames sent with the actions taken; receipts have their own (acks.test.ts).
    acknowledge: false,
  });
}

async function flush(): Promise<void> {
  await act(async () => {
    await settle();
  });
}

beforeEach(() => {
  vi.useFakeTimers();
  FakeWebSocket.reset();
});
afterEach(() => {
  cleanup();
  vi.useRealTimers();
});

describe("useNotifications", () => {
  it("connects with the token, and renders the list, the unread count and the state", async () => {
    const client = makeClient();
    const { result } = renderHook(() => useNotifications({ client, token: "good-token" }));
    expect(result.current.state).toBe("connecting");
    await flush();
    const ws = FakeWebSocket.last();
    expect(ws.query.get("token")).toBe("good-token");
    act(() => {
      ws.open().receive({ type: "recent_notifications", data: { notifications: [notification(2), notification(1)], unread_count: 2, cursor: "cur-2" } });
    });
    expect(result.current.state).toBe("open");
    expect(result.current.transport).toBe("websocket");
    expect(result.current.notifications.map((n) => n.id)).toEqual([2, 1]);
    expect(result.current.unreadCount).toBe(2);
    act(() => {
      ws.receive({ type: "notification", data: notification(3) });
    });
    expect(result.current.notifications.map((n) => n.id)).toEqual([3, 2, 1]);
    expect(result.current.unreadCount).toBe(3);
  });

  it("exposes the unseen count and the inbox actions, bound to the client", async () => {
    const client = makeClient();
    const { result } = renderHook(() => useNotifications({ client, token: "good-token" }));
    await flush();
    const ws = FakeWebSocket.last();
    act(() => {
      ws.open().receive({ type: "recent_notifications", data: { notifications: [notification(2), notification(1)], unread_count: 2, unseen_count: 1, cursor: "cur-2" } });
    });
    expect(result.current.unseenCount).toBe(1);
    act(() => {
      result.current.archive(2);
      result.current.snooze({ groupKey: "project:7:comment" }, "2030-01-01T00:00:00Z");
      result.current.markAllSeen();
      result.current.markSeen([1]);
      result.current.unarchive(2);
      result.current.markUnread(1);
      result.current.markAsRead({ groupKey: "project:7:comment" });
    });
    expect(ws.sent.map((t) => JSON.parse(t).type)).toEqual(["archive", "snooze", "mark_all_seen", "mark_seen", "unarchive", "mark_unread", "mark_as_read"]);
    expect(JSON.parse(ws.sent.at(-1) ?? "")).toEqual({ type: "mark_as_read", data: { group_key: "project:7:comment" } });
    act(() => {
      ws.receive({ type: "notifications_state", data: { ids: [2], state: "archived", unread_count: 1, unseen_count: 0 } });
    });
    expect(result.current.notifications.map((n) => n.id)).toEqual([1]);
    expect([result.current.unreadCount, result.current.unseenCount]).toEqual([1, 0]);
  });

  it("calls onNotification for new notifications only, always the latest callback", async () => {
    const client = makeClient();
    const first = vi.fn();
    const second = vi.fn();
    const { rerender } = renderHook(({ onNotification }) => useNotifications({ client, token: "good-token", onNotification }), {
      initialProps: { onNotification: first },
    });
    await flush();
    const ws = FakeWebSocket.last();
    act(() => {
      ws.open().receive({ type: "recent_notifications", data: { notifications: [notification(1)], unread_count: 1, cursor: "c1" } });
    });
    expect(first).not.toHaveBeenCalled(); // the snapshot is not news: no toast for it
    rerender({ onNotification: second });
    act(() => {
      ws.receive({ type: "notification", data: notification(2, { title: "Defense schedule" }) });
    });
    expect(first).not.toHaveBeenCalled();
    expect(second).toHaveBeenCalledWith(expect.objectContaining({ id: 2, title: "Defense schedule" }));
  });

  it("markAsRead and markAllAsRead send the frames; the state follows the server's answer", async () => {
    const client = makeClient();
    const { result } = renderHook(() => useNotifications({ client, token: "good-token" }));
    await flush();
    const ws = FakeWebSocket.last();
    act(() => {
      ws.open().receive({ type: "recent_notifications", data: { notifications: [notification(2), notification(1)], unread_count: 2, cursor: "c" } });
    });
    act(() => {
      result.current.markAsRead(2);
      result.current.markAllAsRead();
    });
    expect(ws.frames()).toEqual([{ type: "mark_as_read", data: { ids: [2] } }, { type: "mark_all_as_read" }]);
    act(() => {
      ws.receive({ type: "notifications_read", data: { ids: [2], unread_count: 1 } });
    });
    expect(result.current.unreadCount).toBe(1);
    expect(result.current.notifications.find((n) => n.id === 2)?.is_read).toBe(true);
  });

  it("disconnects and unsubscribes on unmount", async () => {
    const client = makeClient();
    const onNotification = vi.fn();
    const { unmount } = renderHook(() => useNotifications({ client, token: "good-token", onNotification }));
    await flush();
    const ws = FakeWebSocket.last();
    act(() => {
      ws.open().receive({ type: "recent_notifications", data: { notifications: [], unread_count: 0, cursor: "c" } });
    });
    unmount();
    expect(client.state).toBe("closed");
    expect(ws.closedWith?.code).toBe(1000);
    // Delivered by hand: nothing of the unmounted hook may run any more.
    (client as unknown as { stream: { deliver(f: unknown): void } }).stream.deliver({ type: "notification", data: notification(5) });
    expect(onNotification).not.toHaveBeenCalled();
  });

  it("keeps the connection while any hook that connected it is mounted", async () => {
    const client = makeClient();
    const a = renderHook(() => useNotifications({ client, token: "good-token" }));
    const b = renderHook(() => useNotifications({ client, token: "good-token" }));
    await flush();
    expect(FakeWebSocket.instances).toHaveLength(1);
    a.unmount();
    expect(client.state).not.toBe("closed");
    b.unmount();
    expect(client.state).toBe("closed");
  });

  it("leaves connecting to the application when no token is given", async () => {
    const client = makeClient();
    const { result, unmount } = renderHook(() => useNotifications({ client }));
    await flush();
    expect(FakeWebSocket.instances).toHaveLength(0);
    act(() => client.connect("good-token"));
    await flush();
    act(() => {
      FakeWebSocket.last().open().receive({ type: "recent_notifications", data: { notifications: [], unread_count: 4, cursor: "c" } });
    });
    expect(result.current.unreadCount).toBe(4);
    unmount();
    expect(client.state).toBe("open"); // not the hook's connection to close
  });

  it("hands a changed token to a client that the server refused, which then reconnects", async () => {
    const client = makeClient();
    const { rerender } = renderHook(({ token }) => useNotifications({ client, token }), { initialProps: { token: "old-token" } });
    await flush();
    act(() => {
      FakeWebSocket.last().open().serverClose(4401);
    });
    await flush();
    expect(client.state).toBe("closed");
    rerender({ token: "new-token" });
    await flush();
    expect(FakeWebSocket.instances).toHaveLength(2);
    expect(FakeWebSocket.last().query.get("token")).toBe("new-token");
  });

  it("works under StrictMode's double mount", async () => {
    const client = makeClient();
    function Badge(): ReactNode {
      const { unreadCount, state } = useNotifications({ client, token: "good-token" });
      return createElement("span", { "data-testid": "badge" }, `${state}:${unreadCount}`);
    }
    const view = render(createElement(StrictMode, null, createElement(Badge)));
    await flush();
    const ws = FakeWebSocket.last();
    act(() => {
      ws.open().receive({ type: "recent_notifications", data: { notifications: [notification(1)], unread_count: 1, cursor: "c" } });
    });
    expect(view.getByTestId("badge").textContent).toBe("open:1");
    expect(FakeWebSocket.instances.filter((w) => w.closedWith === null)).toHaveLength(1);
    view.unmount();
    expect(client.state).toBe("closed");
  });
});
