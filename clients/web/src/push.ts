/**
 * Desktop notifications (Web Push) for this browser: the Settings page's control calls these.
 *
 * Enabling registers the service worker (/sw.js, scope "/"), asks the reader's permission,
 * subscribes with the server's VAPID public key and hands the subscription to the server
 * (POST /api/push/subscriptions/); from then on a notification published while no tab of theirs
 * is open arrives as a system notification (docs/delivery-push.md). Disabling unsubscribes the
 * browser and deletes the subscription on the server.
 */
import type { apiRequest } from "./api";

/** The token-authenticated REST helper of the web UI ({@link apiRequest}). */
export type ApiRequest = typeof apiRequest;

/**
 * "unsupported": this browser has no service workers, Push API or notifications (or the page is
 * not a secure context); "denied": the reader blocked notifications for the site (only they can
 * undo it, in the browser's site settings); "off": allowed or not asked yet, not subscribed;
 * "on": subscribed.
 */
export type DesktopNotificationState = "unsupported" | "denied" | "off" | "on";

const WORKER_URL = "/sw.js";

function supported(): boolean {
  return (
    typeof window !== "undefined" &&
    window.isSecureContext &&
    "serviceWorker" in navigator &&
    "PushManager" in window &&
    "Notification" in window
  );
}

async function existingSubscription(): Promise<PushSubscription | null> {
  const registration = await navigator.serviceWorker.getRegistration("/");
  return registration ? registration.pushManager.getSubscription() : null;
}

export async function desktopNotificationState(): Promise<DesktopNotificationState> {
  if (!supported()) return "unsupported";
  if (Notification.permission === "denied") return "denied";
  if (Notification.permission !== "granted") return "off";
  return (await existingSubscription()) ? "on" : "off";
}

/** The server's key as the bytes PushManager.subscribe wants (it is base64url text). */
function keyBytes(base64url: string): Uint8Array<ArrayBuffer> {
  const padded = base64url.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - (base64url.length % 4)) % 4);
  const text = atob(padded);
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
  return bytes;
}

function sameKey(current: ArrayBuffer | null, wanted: Uint8Array): boolean {
  if (!current) return false;
  const bytes = new Uint8Array(current);
  return bytes.length === wanted.length && bytes.every((byte, i) => byte === wanted[i]);
}

/**
 * Turn desktop notifications on for this browser; resolves to the state afterwards ("denied" when
 * the reader refused the permission prompt). Rejects with the server's HttpError, or the
 * browser's error when it has no push service to subscribe with.
 */
export async function enableDesktopNotifications(request: ApiRequest): Promise<DesktopNotificationState> {
  if (!supported()) return "unsupported";
  const permission = Notification.permission === "granted" ? "granted" : await Notification.requestPermission();
  if (permission !== "granted") return permission === "denied" ? "denied" : "off";
  await navigator.serviceWorker.register(WORKER_URL, { scope: "/" });
  const registration = await navigator.serviceWorker.ready;
  const { public_key } = await request<{ public_key: string }>("GET", "/api/push/vapid-public-key/");
  const key = keyBytes(public_key);
  let subscription = await registration.pushManager.getSubscription();
  if (subscription && !sameKey(subscription.options.applicationServerKey, key)) {
    // Subscribed under another server key (the keys were replaced): pushes signed with the new
    // one would be refused, so subscribe again.
    await subscription.unsubscribe();
    subscription = null;
  }
  subscription ??= await registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: key });
  await request("POST", "/api/push/subscriptions/", subscription.toJSON());
  return "on";
}

/** Turn them off for this browser: unsubscribe here and forget the subscription on the server. */
export async function disableDesktopNotifications(request: ApiRequest): Promise<DesktopNotificationState> {
  if (!supported()) return "unsupported";
  const subscription = await existingSubscription();
  if (subscription) {
    const endpoint = subscription.endpoint;
    await subscription.unsubscribe();
    try {
      await request("DELETE", "/api/push/subscriptions/", { endpoint });
    } catch (error) {
      // Already gone on the server (a 410 from the push service deleted it): nothing to undo.
      if (!(error && typeof error === "object" && "status" in error && (error as { status: number }).status === 404))
        throw error;
    }
  }
  return Notification.permission === "denied" ? "denied" : "off";
}
