/**
 * `useNotifications()`: the notification list, unread count and connection state of a
 * {@link ClarionClient} as React state, with the actions bound.
 */
import { useCallback, useEffect, useRef, useSyncExternalStore } from "react";
import type { TokenContext, TokenSource } from "./auth.js";
import { type ClarionClient, type ClientSnapshot, getWebSocketClient } from "./client.js";
import type { ActionTargets } from "./rest.js";
import type { SendResult } from "./stream.js";
import type { Notification } from "./types.js";

export interface UseNotificationsOptions {
  /** The client to use. Default: {@link getWebSocketClient}(). */
  client?: ClarionClient;
  /**
   * When given, the hook connects the client while it is mounted: the first mounted hook of a
   * client connects it, the last one to unmount disconnects it. Without it, connecting is left
   * to the application (`client.connect(token)`). A changed string token is handed to the
   * client, which reconnects if the server had refused the old one.
   */
  token?: TokenSource | null;
  /** Called for every new notification (not for the first snapshot): the place for toasts. */
  onNotification?: (notification: Notification) => void;
}

export interface UseNotificationsResult extends ClientSnapshot {
  /** An id, ids, or `{groupKey}`; answered in every tab by `notifications_read`. */
  markAsRead: (targets: number | ActionTargets) => SendResult;
  markAllAsRead: () => SendResult;
  /** The inbox actions (ids, or `{groupKey}`); answered in every tab by `notifications_state`. */
  markSeen: (targets: number | ActionTargets) => SendResult;
  markAllSeen: () => SendResult;
  archive: (targets: number | ActionTargets) => SendResult;
  unarchive: (targets: number | ActionTargets) => SendResult;
  markUnread: (targets: number | ActionTargets) => SendResult;
  snooze: (targets: number | ActionTargets, until: Date | string) => SendResult;
  client: ClarionClient;
}

/** How many mounted hooks hold each client's connection. */
const holders = new WeakMap<ClarionClient, number>();

export function useNotifications(options: UseNotificationsOptions = {}): UseNotificationsResult {
  const client = options.client ?? getWebSocketClient();

  const subscribe = useCallback((onChange: () => void) => client.on("change", onChange), [client]);
  const snapshot = useSyncExternalStore(subscribe, () => client.snapshot, () => client.snapshot);

  // Latest callback and token in refs, so that inline functions do not resubscribe or reconnect.
  const onNotification = useRef(options.onNotification);
  const token = useRef(options.token);
  useEffect(() => {
    onNotification.current = options.onNotification;
    token.current = options.token;
  });

  useEffect(() => client.on("notification", (n) => onNotification.current?.(n)), [client]);

  const wantsConnection = options.token != null;
  useEffect(() => {
    if (!wantsConnection) return;
    const count = (holders.get(client) ?? 0) + 1;
    holders.set(client, count);
    if (count === 1) client.connect(tokenFromRef(token));
    return () => {
      const left = (holders.get(client) ?? 1) - 1;
      if (left > 0) {
        holders.set(client, left);
        return;
      }
      holders.delete(client);
      client.disconnect();
    };
  }, [client, wantsConnection]);

  const currentToken = typeof options.token === "string" ? options.token : null;
  const appliedToken = useRef(currentToken);
  useEffect(() => {
    if (currentToken === null || currentToken === appliedToken.current) return;
    appliedToken.current = currentToken;
    if ((holders.get(client) ?? 0) > 0) client.setToken(tokenFromRef(token));
  }, [client, currentToken]);

  const markAsRead = useCallback((targets: number | ActionTargets) => client.markAsRead(targets), [client]);
  const markAllAsRead = useCallback(() => client.markAllAsRead(), [client]);
  const markSeen = useCallback((targets: number | ActionTargets) => client.markSeen(targets), [client]);
  const markAllSeen = useCallback(() => client.markAllSeen(), [client]);
  const archive = useCallback((targets: number | ActionTargets) => client.archive(targets), [client]);
  const unarchive = useCallback((targets: number | ActionTargets) => client.unarchive(targets), [client]);
  const markUnread = useCallback((targets: number | ActionTargets) => client.markUnread(targets), [client]);
  const snooze = useCallback((targets: number | ActionTargets, until: Date | string) => client.snooze(targets, until),
    [client]);

  return { ...snapshot, markAsRead, markAllAsRead, markSeen, markAllSeen, archive, unarchive, markUnread, snooze, client };
}

/** A provider that always reads the hook's latest token, whatever its form. */
function tokenFromRef(ref: { current: TokenSource | null | undefined }): TokenSource {
  return (context: TokenContext) => {
    const value = ref.current;
    return typeof value === "function" ? value(context) : (value ?? null);
  };
}
