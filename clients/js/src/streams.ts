/**
 * The server's other streams (docs/protocol.md): typed frames and a {@link StreamSpec} for each,
 * to pass to `client.openStream(...)`. They follow the notifications stream's conventions (same
 * credentials, a snapshot first, `?cursor=` resume), so only what differs is described here:
 * which frames carry a cursor and what counts as a duplicate.
 */
import type { StreamSpec } from "./stream.js";
import type { ErrorFrame, PongFrame } from "./types.js";

export interface UserRef {
  id: number;
  username: string;
}

// -- /ws/projects/{id}/ ---------------------------------------------------------------------------

/** As `GET /api/projects/{id}/` returns it. */
export interface Project {
  id: number;
  title: string;
  description: string;
  status: string;
  advisor: number | null;
  members: number[];
  created_at: string;
  updated_at: string;
  [field: string]: unknown;
}

export type ProjectEventKind =
  | "created"
  | "updated"
  | "status_changed"
  | "member_added"
  | "member_removed"
  | "comment"
  | "submission"
  | "milestone";

export interface ProjectEvent {
  id: number;
  project: number;
  /** One of {@link ProjectEventKind}, or a kind of the host site's own. */
  kind: ProjectEventKind | (string & {});
  actor: UserRef | null;
  data: Record<string, unknown>;
  created_at: string;
  cursor: string | null;
}

export interface ProjectSnapshotFrame {
  type: "project_snapshot";
  /** `events` oldest first; `[]` with `resumed: true`, the missed ones follow as `project_event`. */
  data: { project: Project; events: ProjectEvent[]; cursor: string; resumed?: true };
}
export interface ProjectEventFrame {
  type: "project_event";
  data: ProjectEvent;
}
export type ProjectServerFrame = ProjectSnapshotFrame | ProjectEventFrame | PongFrame | ErrorFrame;

export function projectStream(projectId: number): StreamSpec<ProjectServerFrame> {
  return {
    path: `/ws/projects/${projectId}/`,
    cursorOf: (f) => (f.type === "project_snapshot" || f.type === "project_event" ? f.data.cursor : undefined),
    dedupeKey: (f) => (f.type === "project_event" ? f.data.id : undefined),
    knownKeys: (f) => (f.type === "project_snapshot" ? f.data.events.map((e) => e.id) : []),
  };
}

// -- /ws/collaboration/{room}/ ---------------------------------------------------------------------

export interface Room {
  key: string;
  title: string;
  project: number | null;
  members: number[];
  created_by: number | null;
  [field: string]: unknown;
}

export interface ChatMessage {
  id: number;
  room: string;
  /** The latest change: a message is sent again, same id, when edited or deleted. */
  event: "created" | "edited" | "deleted";
  author: UserRef | null;
  body: string;
  client_id: string;
  created_at: string;
  edited_at: string | null;
  deleted: boolean;
  cursor: string | null;
}

export interface RoomSnapshotFrame {
  type: "room_snapshot";
  data: { room: Room; messages: ChatMessage[]; cursor: string; resumed?: true };
}
export interface ChatMessageFrame {
  type: "chat_message";
  data: ChatMessage;
}
export interface PresenceFrame {
  type: "presence";
  /** `user` is null for `state`; `online` is the list after the change. */
  data: { event: "state" | "join" | "leave"; user: UserRef | null; online: UserRef[] };
}
export interface TypingFrame {
  type: "typing";
  data: { user: UserRef; active: boolean };
}
export interface CursorFrame {
  type: "cursor";
  /** `position` is whatever the other client sent. */
  data: { user: UserRef; position: Record<string, unknown> };
}
export type CollaborationServerFrame =
  | RoomSnapshotFrame
  | ChatMessageFrame
  | PresenceFrame
  | TypingFrame
  | CursorFrame
  | PongFrame
  | ErrorFrame;

export type CollaborationClientFrame =
  | { type: "ping" }
  | { type: "send_message"; data: { body: string; client_id?: string } }
  | { type: "edit_message"; data: { id: number; body: string } }
  | { type: "delete_message"; data: { id: number } }
  /** Ephemeral: send with `{ queue: false }`, a stale typing state is worse than none. */
  | { type: "typing"; data: { active: boolean } }
  /** Ephemeral: send with `{ queue: false }`. At most 512 bytes of JSON. */
  | { type: "cursor"; data: { position: Record<string, unknown> } };

/**
 * A chat message's identity is its state, not its id: clients upsert by id, and an edit or
 * delete arrives with the same id, so deduping by id would drop every edit.
 */
function chatKey(m: ChatMessage): string {
  return `${m.id}:${m.event}:${m.edited_at ?? ""}:${m.deleted ? 1 : 0}`;
}

export function collaborationStream(room: string): StreamSpec<CollaborationServerFrame> {
  return {
    path: `/ws/collaboration/${encodeURIComponent(room)}/`,
    cursorOf: (f) => (f.type === "room_snapshot" || f.type === "chat_message" ? f.data.cursor : undefined),
    dedupeKey: (f) => (f.type === "chat_message" ? chatKey(f.data) : undefined),
    knownKeys: (f) => (f.type === "room_snapshot" ? f.data.messages.map(chatKey) : []),
  };
}

// -- /ws/system-health/ ----------------------------------------------------------------------------

export type DependencyStatus = "up" | "down" | "degraded" | "unknown" | "not used";

export interface ProcessHealth {
  id: string;
  host: string;
  pid: number;
  started_at: string;
  reported_at: string;
  connections: Record<string, number>;
  rates: { frames_in: number; frames_out: number; deliveries: number };
  delivery_latency: number | null;
  database: { status: "up" | "down" | "unknown"; rtt: number | null; error?: string };
  redis: { status: "up" | "down" | "unknown" | "not used"; rtt: number | null; error?: string };
  cpu_percent: number;
  rss_bytes: number;
  warnings_last_minute: number;
  errors_last_minute: number;
  parked_rows: number | null;
}

export interface HealthSnapshot {
  at: string;
  interval: number;
  expiry: number;
  partial: boolean;
  process_count: number;
  connections: Record<string, number>;
  connections_total: number;
  rates: { frames_in: number; frames_out: number; deliveries: number };
  delivery_latency: { max: number | null; median: number | null; processes_measured: number };
  database: { status: DependencyStatus; rtt_max: number | null; processes_down: number };
  redis: { status: DependencyStatus; rtt_max: number | null; processes_down: number };
  warnings_last_minute: number;
  errors_last_minute: number;
  parked_rows: number | null;
  processes: ProcessHealth[];
}

export interface HealthFrame {
  type: "health";
  data: HealthSnapshot;
}
export type SystemHealthServerFrame = HealthFrame | PongFrame | ErrorFrame;

/** Administrators only (others are closed with 4403). Snapshots are not resumable: no cursor, no dedupe. */
export const systemHealthStream: StreamSpec<SystemHealthServerFrame> = { path: "/ws/system-health/" };
