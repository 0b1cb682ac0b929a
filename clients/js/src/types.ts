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
  /** Seen in an opened list (read implies seen); `false` in a live push. The badge counts unseen. */
  is_seen: boolean;
  /** Archived by this reader; `false` in socket frames (archived items leave the inbox). */
  is_archived: boolean;
  /** Until when this reader snoozed it; `null` when not snoozed. */
  snoozed_until: string | null;
  link: string;
  data: Record<string, unknown>;
  /** What it is about: a key of the server's `CLARION["CATEGORIES"]` (`announcement` by default). */
  category: string;
  /** The thing it concerns, e.g. `project:7`; `""` for nothing in particular. */
  topic: string;
  /** Items with one key show as one group (`?grouped=true`); `""` for none. */
  group_key: string;
  /** When it stops mattering (then it leaves lists, counts and open tabs); `null`: never. */
  expires_at: string | null;
  /** Resume position; `null` only in REST answers, for a notification not yet published. */
  cursor: string | null;
}

export interface RecentNotificationsData {
  /** Newest unread first, at most RECENT_LIMIT; `[]` when `resumed`. */
  notifications: Notification[];
  unread_count: number;
  /** Unread and not yet seen: the badge. */
  unseen_count: number;
  cursor: string;
  /** Present only when the connect resumed from a cursor. */
  resumed?: true;
  /** Present only when a cursor was given and not resumed: why this is a fresh snapshot. */
  cursor_expired?: "retention" | "too_many_missed";
}

export interface NotificationsReadData {
  ids: number[];
  unread_count: number;
  /** Absent from a server before issue 13. */
  unseen_count?: number;
  /** Present only after a mark-all-as-read. */
  all?: true;
}

export type InboxState = "seen" | "all_seen" | "archived" | "unarchived" | "unread" | "snoozed" | "returned" | "expired";

export interface NotificationsStateData {
  /** The notifications concerned (`[]` for `all_seen`). */
  ids: number[];
  state: InboxState;
  /** For `snoozed`: when they come back. */
  until?: string;
  /** For `returned`: the notifications that came back, as new. */
  notifications?: Notification[];
  /** Absent for `expired` (it goes to a whole audience). */
  unread_count?: number;
  unseen_count?: number;
}

export type Channel = "in_app" | "email" | "push";

export interface CategoryPreference {
  key: string;
  label: string;
  /** A locked category cannot be turned off. */
  locked: boolean;
  channels: Record<Channel, boolean>;
}

/** `off`: one email per notification still unread; `hourly`/`daily`: one listing what is still unread. */
export type DigestMode = "off" | "hourly" | "daily";

/** Email and push of unlocked categories wait until `to`; times of day `"HH:MM"` in `time_zone`. */
export interface QuietHours {
  from: string;
  to: string;
}

export interface Preferences {
  /** `""`: the site's language. */
  locale: string;
  /** Per channel: one message per notification, or an hourly or daily digest. Absent from a server
   * before issue 14 (as are the three below); `push` from one before push digests. */
  digest?: { email: DigestMode; push?: DigestMode };
  /** The hour (0-23, in `time_zone`) a daily digest goes out. */
  digest_hour?: number;
  /** An IANA zone; `""` when the reader chose none (the site's zone applies). */
  time_zone?: string;
  /** `null`: none. */
  quiet_hours?: QuietHours | null;
  categories: CategoryPreference[];
}

/** `PATCH /api/preferences/`: only what changes. A 400 names each refused field (`quiet_hours.from`). */
export interface PreferencesChanges {
  locale?: string;
  /** `{comment: {in_app: false}}` */
  categories?: Record<string, Partial<Record<Channel | (string & {}), boolean>>>;
  digest?: { email?: DigestMode; push?: DigestMode };
  digest_hour?: number;
  /** `""`: the site's zone. */
  time_zone?: string;
  quiet_hours?: QuietHours | null;
}

export interface Mute {
  topic: string;
  /** `null`: until unmuted. */
  until: string | null;
}

export interface PreferencesChangedData extends Preferences {
  mutes: Mute[];
  unread_count: number;
  unseen_count: number;
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
  /** `not_found` and `forbidden`: the notification or message ids the refusal concerns
   * (`[]` when it concerns no item). Absent for other codes and from older servers. */
  ids?: number[];
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
export interface NotificationsStateFrame {
  type: "notifications_state";
  data: NotificationsStateData;
}
export interface PreferencesChangedFrame {
  type: "preferences_changed";
  data: PreferencesChangedData;
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
  | NotificationsStateFrame
  | PreferencesChangedFrame
  | PongFrame
  | ErrorFrame;

export interface PingFrame {
  type: "ping";
}
/** Which notifications an action takes: ids, or every one of a group (its newest 1,000). */
export type Targets = { ids: number[] } | { group_key: string };
export interface MarkAsReadFrame {
  type: "mark_as_read";
  data: Targets;
}
export interface MarkAllAsReadFrame {
  type: "mark_all_as_read";
}
export interface MarkSeenFrame {
  type: "mark_seen";
  data: Targets;
}
export interface MarkAllSeenFrame {
  type: "mark_all_seen";
}
export interface ArchiveFrame {
  type: "archive";
  data: Targets;
}
export interface UnarchiveFrame {
  type: "unarchive";
  data: Targets;
}
export interface MarkUnreadFrame {
  type: "mark_unread";
  data: Targets;
}
export interface SnoozeFrame {
  type: "snooze";
  data: Targets & { until: string };
}
/**
 * "I have received everything up to this cursor": a delivery receipt. The client sends it by
 * itself (option `acknowledge`); the server clamps it to what the socket was sent.
 */
export interface AckFrame {
  type: "ack";
  data: { cursor: string };
}
/** The inbox actions that take targets. */
export type InboxActionFrame = MarkSeenFrame | ArchiveFrame | UnarchiveFrame | MarkUnreadFrame | SnoozeFrame;

/** Every frame a client may send to `/ws/notifications/`. */
export type NotificationsClientFrame =
  | PingFrame
  | AckFrame
  | MarkAsReadFrame
  | MarkAllAsReadFrame
  | MarkAllSeenFrame
  | InboxActionFrame;

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

/** `POST /api/notifications/<id>/read/`, `/read/` and `/read-all/`. */
export interface ReadResult {
  ids: number[];
  unread_count: number;
  /** Absent from a server before issue 13. */
  unseen_count?: number;
  /** `POST /api/notifications/read/`: ids the caller cannot see, when some others were marked. */
  not_found?: number[];
}

/** The answer of the REST inbox actions (`POST /api/notifications/archive/`, ...). */
export interface StateResult {
  ids: number[];
  state: InboxState;
  until?: string;
  unread_count: number;
  unseen_count: number;
  /** Ids the caller cannot see, when some others were changed. */
  not_found?: number[];
}

/** `GET /api/notifications/unread-count/`. */
export interface Counts {
  unread_count: number;
  unseen_count: number;
}

/**
 * `GET /api/notifications/?after=<cursor>` (docs/protocol.md, "Polling resume"): what was published
 * after the cursor, oldest first, at most `limit`, with the cursor to ask from next. When the
 * cursor cannot be resumed (`cursor_expired`), `results` is empty and `snapshot` is the fresh
 * `recent_notifications` data the socket would have sent.
 */
export interface NotificationsResume extends Counts {
  results: Notification[];
  cursor: string;
  has_more: boolean;
  cursor_expired?: "retention" | "too_many_missed";
  snapshot?: RecentNotificationsData;
}

/** One row of `GET /api/notifications/?grouped=true`. */
export interface NotificationGroup {
  /** `null` for a single notification without a key. */
  group_key: string | null;
  count: number;
  unread_count: number;
  /** "3 new comments on “Thesis”", in the reader's language. */
  summary: string;
  latest: Notification;
  actors: { id: number; username: string }[];
}

/** A page of groups (page-number pagination). */
export interface GroupPage {
  count: number;
  next: string | null;
  previous: string | null;
  results: NotificationGroup[];
}

export type DeliveryStatus = "pending" | "sending" | "sent" | "skipped" | "failed";

/** Why a delivery was skipped; `""` when it was not. */
export type SkipReason =
  | "read"
  | "preference_off"
  | "muted"
  | "no_address"
  | "no_subscription"
  | "online"
  | "snoozed"
  | "expired"
  | "gone"
  | "";

/** One reader's email or push delivery of one notification. */
export interface ChannelDelivery {
  status: DeliveryStatus;
  /** Typed open so that a newer server's reasons still pass through. */
  reason: SkipReason | (string & {});
  /** What the last failed attempt got; `""` otherwise. */
  error: string;
  attempts: number;
  due_at: string;
  sent_at: string | null;
}

export interface ReaderDelivery {
  user: { id: number; username: string };
  /** When a client of the reader acknowledged it (`ack`), or `null`. */
  delivered_at: string | null;
  seen_at: string | null;
  read_at: string | null;
  /** `null`: no delivery on that channel (not due yet, or never planned). */
  channels: { email: ChannelDelivery | null; push: ChannelDelivery | null };
}

export interface DeliveryTotals {
  audience: number;
  delivered: number;
  seen: number;
  read: number;
  emailed: number;
  pushed: number;
  pending: number;
  failed: number;
  skipped: number;
}

/** `GET /api/notifications/<id>/deliveries/`: for administrators and the notification's sender. */
export interface DeliveriesPage {
  notification: Pick<Notification, "id" | "title" | "recipient_type" | "recipient_id" | "category" | "created_at">;
  totals: DeliveryTotals;
  /** "41 of 60 students read, 12 emailed, 3 failed" */
  summary: string;
  /** Readers in the audience (page-number pagination over them). */
  count: number;
  next: string | null;
  previous: string | null;
  results: ReaderDelivery[];
}

export interface TokenPair {
  access: string;
  refresh: string;
}

export interface Ticket {
  ticket: string;
  expires_in: number;
}
