/**
 * `/rooms/<key>/`: a collaboration room (`/ws/collaboration/<key>/`): chat, who is online, and
 * who is typing.
 */
import { type ChatMessage, type CollaborationClientFrame, type CollaborationServerFrame, collaborationStream, type UserRef } from "clarion-client";
import { closedMessage, notice, type Page, streamStatus } from "../context.js";
import { fill, h, timeAgo } from "../dom.js";
import { muteButton } from "./settings.js";

/** Stop showing "typing" this long after the last sign of it (a lost "stopped typing" frame). */
const TYPING_STALE_MS = 6000;
/** Say "stopped typing" after this long without a keystroke. */
const TYPING_IDLE_MS = 2500;

export const roomPage: Page = (ctx, params) => {
  const key = params.key as string;
  const { client, main, me } = ctx;
  ctx.setTitle(`Room ${key}`);
  const stream = client.openStream<CollaborationServerFrame, CollaborationClientFrame>(collaborationStream(key));
  ctx.onLeave(() => stream.disconnect());

  const title = h("h1", null, `Room ${key}`);
  const onlineHeading = h("h2", { id: "online-heading" }, "Online");
  const online = h("ul", { className: "presence", id: "presence", "aria-labelledby": "online-heading" });
  const messages = h("ol", { className: "messages", id: "messages", "aria-label": "Chat history", "aria-live": "polite", "aria-relevant": "additions" });
  const noMessages = h("p", { className: "empty no-messages" }, "No messages yet. Say hello!");
  const projectLink = h("p", { hidden: true });
  const typing = h("p", { className: "typing", id: "typing", "aria-live": "polite" });
  const problem = h("div");
  const input = h("textarea", { id: "message", name: "message", rows: 2, maxlength: 4000, required: true, autocomplete: "off" });
  const send = h("button", { type: "submit", className: "primary" }, "Send");
  const formError = h("p", { className: "form-error", role: "alert" });
  const form = h(
    "form",
    { className: "composer" },
    h("div", { className: "field" }, h("label", { for: "message" }, "Message"), input),
    send,
    formError,
  );

  fill(
    main,
    h("nav", { className: "crumbs", "aria-label": "Breadcrumb" }, h("a", { href: "/" }, "Home"), " / Room"),
    h("div", { className: "page-head" }, title, streamStatus(stream), muteButton(`room:${key}`, "room")),
    projectLink,
    problem,
    h(
      "div",
      { className: "room" },
      h("section", { className: "chat", "aria-label": "Chat" }, h("div", { className: "messages-wrap" }, messages, noMessages), typing, form),
      h("aside", { className: "card presence-card", "aria-labelledby": "online-heading" }, onlineHeading, online),
    ),
  );

  // -- messages -----------------------------------------------------------------------------------

  const shown = new Map<number, HTMLLIElement>();
  const pending = new Map<string, HTMLLIElement>();
  const nearBottom = () => messages.scrollHeight - messages.scrollTop - messages.clientHeight < 80;

  const messageItem = (m: Pick<ChatMessage, "author" | "body" | "created_at" | "edited_at">, extra: string) =>
    h(
      "li",
      { className: `message${m.author?.id === me.id ? " mine" : ""}${extra}` },
      h("p", { className: "message-meta" }, h("span", { className: "author" }, m.author?.username ?? "someone"), " ", timeAgo(m.created_at), m.edited_at ? " (edited)" : ""),
      h("p", { className: "message-body" }, m.body),
    );

  const upsert = (m: ChatMessage) => {
    const stick = nearBottom();
    const old = shown.get(m.id) ?? (m.client_id ? pending.get(m.client_id) : undefined);
    if (m.client_id) pending.delete(m.client_id);
    if (m.deleted) {
      old?.remove();
      shown.delete(m.id);
      updateEmpty();
      return;
    }
    const li = messageItem(m, "");
    li.dataset.id = String(m.id);
    if (old) old.replaceWith(li);
    else messages.appendChild(li);
    shown.set(m.id, li);
    if (stick) messages.scrollTop = messages.scrollHeight;
    noMessages.hidden = true;
  };
  const updateEmpty = () => {
    noMessages.hidden = messages.childElementCount > 0;
  };

  stream.on("room_snapshot", (data) => {
    title.textContent = data.room.title || `Room ${key}`;
    ctx.setTitle(title.textContent);
    if (data.room.project !== null) {
      fill(projectLink, "The room of the project ", h("a", { href: `/projects/${data.room.project}/` }, data.room.title || "this project"), ".");
      projectLink.hidden = false;
    }
    if (!data.resumed) {
      fill(messages);
      shown.clear();
    }
    for (const m of data.messages) upsert(m);
    // Messages sent while the socket was down are still queued and go out now; keep them shown.
    for (const li of pending.values()) messages.appendChild(li);
    messages.scrollTop = messages.scrollHeight;
    updateEmpty();
  });
  stream.on("chat_message", upsert);
  stream.on("error", ({ code, message }) => {
    formError.textContent = code === "rate_limited" ? `Slow down: ${message}` : message;
  });

  let sequence = 0;
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const body = input.value.trim();
    if (!body) return;
    formError.textContent = "";
    const clientId = `${Date.now().toString(36)}-${(sequence++).toString(36)}`;
    const li = messageItem({ author: { id: me.id, username: me.username }, body, created_at: new Date().toISOString(), edited_at: null }, " sending");
    pending.set(clientId, li);
    messages.appendChild(li);
    noMessages.hidden = true;
    messages.scrollTop = messages.scrollHeight;
    stream.send({ type: "send_message", data: { body, client_id: clientId } });
    input.value = "";
    setTyping(false);
    input.focus();
  });
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit();
    }
  });

  // -- typing -------------------------------------------------------------------------------------

  let typingNow = false;
  let idle: ReturnType<typeof setTimeout> | null = null;
  const setTyping = (active: boolean) => {
    if (idle) clearTimeout(idle);
    idle = null;
    if (active) idle = setTimeout(() => setTyping(false), TYPING_IDLE_MS);
    if (active === typingNow) return;
    typingNow = active;
    // Ephemeral: a stale "typing" state delivered later is worse than none, so never queued.
    stream.send({ type: "typing", data: { active } }, { queue: false });
  };
  input.addEventListener("input", () => setTyping(input.value.length > 0));
  input.addEventListener("blur", () => setTyping(false));

  const typists = new Map<number, { name: string; timer: ReturnType<typeof setTimeout> }>();
  const showTyping = () => {
    const names = [...typists.values()].map((t) => t.name);
    typing.textContent =
      names.length === 0 ? "" : names.length === 1 ? `${names[0]} is typing…` : names.length === 2 ? `${names[0]} and ${names[1]} are typing…` : "Several people are typing…";
  };
  const stopTyping = (id: number) => {
    const entry = typists.get(id);
    if (entry) clearTimeout(entry.timer);
    typists.delete(id);
    showTyping();
  };
  stream.on("typing", ({ user, active }) => {
    if (user.id === me.id) return;
    stopTyping(user.id);
    if (active) {
      typists.set(user.id, { name: user.username, timer: setTimeout(() => stopTyping(user.id), TYPING_STALE_MS) });
      showTyping();
    }
  });
  stream.on("chat_message", (m) => {
    if (m.author && m.event === "created") stopTyping(m.author.id);
  });

  // -- presence -----------------------------------------------------------------------------------

  stream.on("presence", ({ online: people }) => {
    const sorted = [...people].sort((a: UserRef, b: UserRef) => a.username.localeCompare(b.username));
    onlineHeading.textContent = `Online (${sorted.length})`;
    fill(
      online,
      sorted.map((u) => h("li", { "data-user": u.id }, h("span", { className: "dot", "aria-hidden": "true" }), u.username || "someone", u.id === me.id ? h("span", { className: "muted" }, " (you)") : null)),
    );
    for (const id of [...typists.keys()]) if (!people.some((u) => u.id === id)) stopTyping(id);
  });

  stream.on("closed", ({ cause, code }) => {
    const message = closedMessage(cause, code, "room");
    if (message) fill(problem, notice(message));
  });
  stream.on("state", ({ state }) => {
    send.disabled = state === "closed";
    if (state !== "open") {
      // Presence is only known while connected.
      onlineHeading.textContent = "Online";
      fill(online);
    }
  });
  stream.connect();
};
