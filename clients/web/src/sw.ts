/**
 * The service worker, served at /sw.js with scope "/" (built into static/clarion-ui/sw.js
 * under a stable name: a browser checks the same URL for updates, a hashed name would orphan it).
 *
 * `push`: the server (clarion.delivery.channels.push) sends a notification for a reader with no
 * tab open, encrypted for this browser; shown as a system notification, one per notification
 * id (its tag), so a repeat replaces instead of stacking.
 * `notificationclick`: brings the site forward on the item, and marks it read with the push's
 * signed read token (POST /api/push/read/): the worker has no sign-in, and needs none.
 */

// The page's sources are type checked together with the DOM library, which has no service
// worker scope: the few members used here are declared, under names of their own.
interface SwExtendableEvent extends Event {
  waitUntil(promise: Promise<unknown>): void;
}
interface SwPushEvent extends SwExtendableEvent {
  readonly data: { json(): unknown; text(): string } | null;
}
interface SwNotificationEvent extends SwExtendableEvent {
  readonly notification: Notification;
}
interface SwWindowClient {
  readonly url: string;
  focus(): Promise<SwWindowClient>;
  navigate(url: string): Promise<SwWindowClient | null>;
}
interface SwClients {
  matchAll(options: { type: "window"; includeUncontrolled: boolean }): Promise<SwWindowClient[]>;
  openWindow(url: string): Promise<SwWindowClient | null>;
  claim(): Promise<void>;
}
interface SwScope {
  readonly registration: ServiceWorkerRegistration;
  readonly clients: SwClients;
  readonly location: Location;
  skipWaiting(): Promise<void>;
  addEventListener(type: "install" | "activate", listener: (event: SwExtendableEvent) => void): void;
  addEventListener(type: "push", listener: (event: SwPushEvent) => void): void;
  addEventListener(type: "notificationclick", listener: (event: SwNotificationEvent) => void): void;
}

/** What the server puts in a push (clarion.delivery.channels.push.payload). */
export interface PushPayload {
  id: number;
  title: string;
  body: string;
  url: string;
  tag: string;
  read_token: string;
}

const scope = self as unknown as SwScope;

// A new version takes over at once: the handlers are all it holds, and the old one has no
// state to hand over.
scope.addEventListener("install", (event) => event.waitUntil(scope.skipWaiting()));
scope.addEventListener("activate", (event) => event.waitUntil(scope.clients.claim()));

scope.addEventListener("push", (event) => {
  event.waitUntil(showPush(event.data));
});

scope.addEventListener("notificationclick", (event) => {
  event.notification.close();
  event.waitUntil(openAndMarkRead(event.notification.data as Partial<PushPayload> | null));
});

function parsePayload(data: SwPushEvent["data"]): PushPayload | null {
  if (!data) return null;
  try {
    const value = data.json() as Partial<PushPayload> | null;
    if (!value || typeof value.title !== "string") return null;
    return {
      id: typeof value.id === "number" ? value.id : 0,
      title: value.title,
      body: typeof value.body === "string" ? value.body : "",
      url: typeof value.url === "string" ? value.url : "/",
      tag: typeof value.tag === "string" ? value.tag : "",
      read_token: typeof value.read_token === "string" ? value.read_token : "",
    };
  } catch {
    return null;
  }
}

async function showPush(data: SwPushEvent["data"]): Promise<void> {
  const payload = parsePayload(data);
  // A push must show something (browsers subscribe with userVisibleOnly): one this worker cannot
  // read still says that there is news, and opens the inbox.
  const shown = payload ?? { id: 0, title: "New notification", body: "", url: "/", tag: "clarion", read_token: "" };
  const options: NotificationOptions = {
    body: shown.body,
    data: { id: shown.id, url: shown.url, read_token: shown.read_token },
  };
  if (shown.tag) options.tag = shown.tag;
  await scope.registration.showNotification(shown.title, options);
}

/** Where a click goes: the item's link when it is on this site (or an http(s) link the server
 * made), else the inbox. */
function target(url: unknown): string {
  const origin = scope.location.origin;
  if (typeof url !== "string" || !url) return `${origin}/`;
  try {
    const resolved = new URL(url, origin);
    return resolved.protocol === "https:" || resolved.protocol === "http:" ? resolved.href : `${origin}/`;
  } catch {
    return `${origin}/`;
  }
}

async function openAndMarkRead(data: Partial<PushPayload> | null): Promise<void> {
  const url = target(data?.url);
  const token = typeof data?.read_token === "string" ? data.read_token : "";
  const reading = token
    ? fetch("/api/push/read/", {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        credentials: "omit",
        body: JSON.stringify({ token }),
      }).catch(() => undefined) // offline, or the item is gone: the inbox still shows it unread
    : Promise.resolve(undefined);
  await Promise.all([focusOrOpen(url), reading]);
}

async function focusOrOpen(url: string): Promise<void> {
  const origin = scope.location.origin;
  const tabs = await scope.clients.matchAll({ type: "window", includeUncontrolled: true });
  const exact = tabs.find((tab) => tab.url === url);
  if (exact) {
    await exact.focus();
    return;
  }
  const ofSite = tabs.find((tab) => new URL(tab.url).origin === origin);
  if (ofSite && new URL(url).origin === origin) {
    const focused = await ofSite.focus();
    try {
      // Only a tab this worker controls can be navigated; any other gets a tab of its own.
      if (await focused.navigate(url)) return;
    } catch {
      // fall through
    }
  }
  await scope.clients.openWindow(url);
}
