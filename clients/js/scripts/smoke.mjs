// End-to-end check of the built browser bundle against a running Clarion server (not part of
// `npm test`): live push, resume after a dropped socket, dedupe, read sync, 4401, and the
// polling fallback and the way back. Needs the demo data (`clarion seed-demo`).
//
//   npm run build && node scripts/smoke.mjs http://127.0.0.1:8765
import { WebSocket as NodeWebSocket } from "ws";
import {
  ClarionClient,
  collaborationStream,
  obtainTokenPair,
  projectStream,
  refreshingToken,
  systemHealthStream,
} from "../dist/clarion-client.js";

const base = (process.argv[2] ?? "http://127.0.0.1:8765").replace(/\/+$/, "");

/** Node's `ws`, sending the Origin a browser on the server's own page would send. */
class PageWebSocket extends NodeWebSocket {
  constructor(url) {
    super(url, { origin: base });
  }
}

let failures = 0;
function check(label, ok, detail = "") {
  console.log(`${ok ? "ok  " : "FAIL"} ${label}${detail ? `: ${detail}` : ""}`);
  if (!ok) failures++;
}

function frame(stream, type, predicate = () => true, timeout = 5000) {
  return next(stream, type, predicate, timeout);
}

function next(client, type, predicate = () => true, timeout = 5000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`no ${type} within ${timeout} ms`));
    }, timeout);
    const off = client.on(type, (payload) => {
      if (!predicate(payload)) return;
      clearTimeout(timer);
      off();
      resolve(payload);
    });
  });
}

async function send(adminAccess, title) {
  const response = await fetch(`${base}/api/notifications/`, {
    method: "POST",
    headers: { "Content-Type": "application/json", Authorization: `Bearer ${adminAccess}` },
    body: JSON.stringify({ title, recipient_type: "role", recipient_id: "student" }),
  });
  if (response.status !== 201) throw new Error(`create answered ${response.status}: ${await response.text()}`);
  return (await response.json()).id;
}

const alice = await obtainTokenPair(base, "alice", "demo-password");
const dave = await obtainTokenPair(base, "dave", "demo-password");
const common = { url: base, WebSocket: PageWebSocket, heartbeat: { interval: 2000, timeout: 1000 } };

// 1. Ticket auth, snapshot, live push.
const client = new ClarionClient({ ...common, random: () => 0.99, reconnect: { initialDelay: 1500 } });
const snapshot = next(client, "recent_notifications");
client.connect(refreshingToken({ baseUrl: base, refresh: alice.refresh, access: alice.access }));
const first = await snapshot;
check("snapshot over a ticket-authenticated socket", client.state === "open" && typeof first.cursor === "string", `${first.notifications.length} unread, cursor ${first.cursor}`);
// Listen first: the push can arrive before the POST that caused it has answered.
const livePush = next(client, "notification", (n) => n.title === "smoke: live");
await send(dave.access, "smoke: live");
const live = await livePush;
check("live notification", live.title === "smoke: live" && client.cursor === live.cursor);

// 2. Resume: drop the socket, publish two while away, expect both once, oldest first.
const received = [];
const offReceived = client.on("notification", (n) => received.push(n.id));
const resumed = next(client, "recent_notifications", (d) => d.resumed === true, 8000);
client["stream"]["ws"].terminate(); // the network drops, no close handshake
await new Promise((r) => setTimeout(r, 100));
const missed = [await send(dave.access, "smoke: missed 1"), await send(dave.access, "smoke: missed 2")];
const resumedFrame = await resumed;
await new Promise((r) => setTimeout(r, 500));
check("resumed connect", resumedFrame.notifications.length === 0);
check("missed notifications replayed once, oldest first", JSON.stringify(received) === JSON.stringify(missed), `got [${received}] want [${missed}]`);
offReceived();

// 3. Read sync over the socket; the count agrees with REST.
const read = next(client, "notifications_read", (d) => d.ids.includes(missed[0]));
client.markAsRead(missed[0]);
const readFrame = await read;
const restCount = await client.api.unreadCount();
check("mark_as_read answered by notifications_read", readFrame.ids.includes(missed[0]) && client.unreadCount === restCount, `client ${client.unreadCount}, REST ${restCount}`);

// 4. A refused token: closed, not retried.
const refused = new ClarionClient({ ...common, socketAuth: "token" });
const closed = next(refused, "closed");
refused.connect("not-a-valid-token");
const closedEvent = await closed;
await new Promise((r) => setTimeout(r, 1500));
check("4401 closes without retrying", closedEvent.cause === "unauthorized" && closedEvent.code === 4401 && refused.state === "closed");

// 5. Fallback: WebSockets blocked, REST polling emits the same events; then back to WebSocket.
let blocked = true;
class FlakyWebSocket extends PageWebSocket {
  constructor(url) {
    super(blocked ? url.replace(/^ws:\/\/[^/]+/, "ws://127.0.0.1:9") : url); // port 9: nothing listens
  }
}
const polling = new ClarionClient({
  ...common,
  WebSocket: FlakyWebSocket,
  random: () => 0,
  fallback: { afterFailures: 3, pollInterval: 500, retryInterval: 2000 },
});
const pollSnapshot = next(polling, "recent_notifications");
polling.connect(alice.access);
await pollSnapshot;
check("falls back to polling after failed handshakes", polling.transport === "polling" && polling.state === "open");
const polledPush = next(polling, "notification", (n) => n.title === "smoke: polled");
const polledId = await send(dave.access, "smoke: polled");
const polled = await polledPush;
check("polling delivers new notifications", polled.title === "smoke: polled");
const polledRead = next(polling, "notifications_read", (d) => d.ids.includes(polledId));
polling.markAsRead(polledId);
await polledRead;
check("actions go over REST while polling", polling.notifications.find((n) => n.id === polledId)?.is_read === true);
blocked = false;
await next(polling, "transport", (t) => t.transport === "websocket", 5000);
const afterPush = next(polling, "notification", (n) => n.title === "smoke: back on the socket");
await send(dave.access, "smoke: back on the socket");
await afterPush;
check("back on the WebSocket", polling.transport === "websocket" && polling.state === "open");

// 6. Other streams through the same client and credential. Skipped where the server has none.
const projects = await fetch(`${base}/api/projects/`, { headers: { Authorization: `Bearer ${alice.access}` } });
if (projects.ok) {
  const list = await projects.json();
  const projectId = (Array.isArray(list) ? list : list.results)[0]?.id;
  const project = client.openStream(projectStream(projectId));
  const projectSnapshot = frame(project, "project_snapshot");
  project.connect();
  const ps = await projectSnapshot;
  check("project stream snapshot", ps.project.id === projectId && project.cursor === ps.cursor, `project ${projectId}, ${ps.events.length} events`);

  const room = client.openStream(collaborationStream(`project-${projectId}`));
  const roomSnapshot = frame(room, "room_snapshot");
  const presence = frame(room, "presence", (p) => p.event === "state");
  room.connect();
  await roomSnapshot;
  await presence;
  const echoed = frame(room, "chat_message", (m) => m.client_id === "smoke-1");
  room.send({ type: "send_message", data: { body: "smoke: hello room", client_id: "smoke-1" } });
  const message = await echoed;
  check("chat message round trip", message.body === "smoke: hello room" && room.cursor === message.cursor);
  project.disconnect();
  room.disconnect();
} else {
  console.log(`skip projects/collaboration: GET /api/projects/ answered ${projects.status}`);
}
const admin = new ClarionClient({ ...common, socketAuth: "token" });
const health = admin.openStream(systemHealthStream);
const healthFrame = frame(health, "health", () => true, 8000);
admin.setToken(dave.access);
health.connect();
const h = await healthFrame;
check("system health for an administrator", h.process_count >= 1 && Array.isArray(h.processes));
health.disconnect();
const notAdmin = client.openStream(systemHealthStream);
const refusedHealth = frame(notAdmin, "closed");
notAdmin.connect();
const rh = await refusedHealth;
check("system health refused to a student with 4403", rh.cause === "terminal" && rh.code === 4403);

client.disconnect();
refused.disconnect();
polling.disconnect();
console.log(failures === 0 ? "smoke: all checks passed" : `smoke: ${failures} check(s) failed`);
process.exit(failures === 0 ? 0 : 1);
