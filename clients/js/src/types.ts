/**
 * The wire contract of docs/protocol.md as TypeScript types.
 *
 * Server frames are discriminated unions on `type`, so a `switch (frame.type)` narrows `data`.
 * Field names stay snake_case exactly as on the wire: the client passes payloads through
 * untouched, and a renamed copy would drift from the server's documentation.
 */

/** Every frame, both ways, is one JSON object with a string `type`; payloads sit under `data`. */
export interface Frame {
  type: string;
  data?: unknown;
}

export type NotificationType = "info" | "success" | "warning" | "error";
export type RecipientType = "user" | "role" | "all";

/** The notification payload: the same object on the socket and in the REST API. */
export interface Notification {
  id: number;
  title: string;
  message: string;
  notification_type: NotificationType;
  recipient_type: RecipientType;
  /** The user id as text for `user`, the role name for `role`, `""` for `all`. */
  recipient_id: string;
  /** ISO 8601 in UTC with microseconds and `Z`. */
  created_at: string;
  created_by: number | null;
  is_read: boolean;
  link: string;
  data: Record<string, unknown>;
  /** What it is about: a key of the server's `CLARION["CATEGORIES"]` (`announcement` by default). */
  category: string;
  /** The thing it concerns, e.g. `project:7`; `""` for nothing in particular. */
  topic: string;
  /** Resume position; `null` only in REST answers, for a notification not yet published. */
  cursor: string | null;
}

export interface RecentNotificationsData {
  /** Newest unread first, at most RECENT_LIMIT; `[]` when `resumed`. */
  notifications: Notification[];
  unread_count: number;
  cursor: string;
  /** Present only when the connect resumed from a cursor. */
  resumed?: true;
}

export interface NotificationsReadData {
  ids: number[];
  unread_count: number;
  /** Present only after a mark-all-as-read. */
  all?: true;
}

export type ErrorCode =
  | "invalid_json"
  | "invalid_frame"
  | "unknown_type"
  | "invalid_data"
  | "not_found"
  | "invalid_cursor"
  | "cursor_expired"
  | "internal_error"
  | "forbidden"
  | "rate_limited";

export interface ErrorData {
  /** One of {@link ErrorCode}; typed open so that a newer server's codes still reach handlers. */
  code: ErrorCode | (string & {});
  /** For logs, not for parsing. */
  message: string;
}

export interface RecentNotificationsFrame {
  type: "recent_notifications";
  data: RecentNotificationsData;
}
export interface NotificationFrame {
  type: "notification";
  data: Notification;
}
export interface NotificationsReadFrame {
  type: "notifications_read";
  data: NotificationsReadData;
}
export interface PongFrame {
  type: "pong";
  data?: undefined;
}
export interface ErrorFrame {
  type: "error";
  data: ErrorData;
}

/** Every frame `/ws/notifications/` sends. */
export type NotificationsServerFrame =
  | RecentNotificationsFrame
  | NotificationFrame
  | NotificationsReadFrame
  | PongFrame
  | ErrorFrame;

export interface PingFrame {
  type: "ping";
}
export interface MarkAsReadFrame {
  type: "mark_as_read";
  data: { ids: number[] };
}
export interface MarkAllAsReadFrame {
  type: "mark_all_as_read";
}

/** Every frame a client may send to `/ws/notifications/`. */
export type NotificationsClientFrame = PingFrame | MarkAsReadFrame | MarkAllAsReadFrame;

/** `data.ids` of one `mark_as_read` holds at most this many ids (server: MAX_IDS_PER_FRAME). */
export const MAX_IDS_PER_FRAME = 1000;

/** Close codes, mirroring `clarion.protocol.codes.CloseCode`. */
export const CloseCode = {
  NORMAL: 1000,
  GOING_AWAY: 1001,
  UNSUPPORTED_DATA: 1003,
  MESSAGE_TOO_BIG: 1009,
  INTERNAL_ERROR: 1011,
  SERVICE_RESTART: 1012,
  TRY_AGAIN_LATER: 1013,
  SLOW_CONSUMER: 4008,
  RATE_LIMITED: 4029,
  UNAUTHORIZED: 4401,
  FORBIDDEN: 4403,
  NOT_FOUND: 4404,
} as const;
export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode];

/** The close code this client uses when it gives up on a socket that stopped answering (IANA 3008 "Timeout"). */
export const HEARTBEAT_TIMEOUT_CODE = 3008;

/**
 * The server's reconnect policy (`should_reconnect` in codes.py): every code except the
 * terminal ones, including codes the table does not list such as 1006. 4401 is terminal only
 * for the credential that was refused; the connection layer retries it once a new one exists.
 */
export function shouldReconnect(code: number | null | undefined): boolean {
  if (code == null) return true;
  return code !== CloseCode.UNAUTHORIZED && code !== CloseCode.FORBIDDEN && code !== CloseCode.NOT_FOUND;
}

/** A page of `GET /api/notifications/` (DRF cursor pagination; `next`/`previous` are URLs). */
export interface NotificationPage {
  next: string | null;
  previous: string | null;
  results: Notification[];
}

/** `POST /api/notifications/<id>/read/` and `POST /api/notifications/read-all/`. */
export interface ReadResult {
  ids: number[];
  unread_count: number;
}

export interface TokenPair {
  access: string;
  refresh: string;
}

export interface Ticket {
  ticket: string;
  expires_in: number;
}
