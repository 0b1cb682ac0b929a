/** `/projects/<id>/`: the project and its live event feed (`/ws/projects/<id>/`), with a comment box. */
import { type Project, type ProjectEvent, type ProjectServerFrame, projectStream } from "clarion-client";
import { apiRequest, HttpError } from "../api.js";
import { closedMessage, notice, type Page, streamStatus } from "../context.js";
import { fill, h, safeHref, timeAgo } from "../dom.js";
import { muteButton } from "./settings.js";

let labels: Promise<Map<string, string>> | null = null;

/** Status slug -> label, from `GET /api/project-statuses/` (once per page load). */
export function statusLabels(): Promise<Map<string, string>> {
  labels ??= apiRequest<Array<{ slug: string; label: string }>>("GET", "/api/project-statuses/")
    .then((list) => new Map(list.map((s) => [s.slug, s.label])))
    .catch(() => new Map());
  return labels;
}

function text(value: unknown): string {
  return typeof value === "string" ? value : value === undefined || value === null ? "" : JSON.stringify(value);
}

/** One event as a sentence: who did what. */
function describe(e: ProjectEvent, label: (slug: string) => string): Array<Node | string> {
  const who = e.actor?.username ?? "Clarion";
  const d = e.data;
  switch (e.kind) {
    case "created":
      return [`${who} created the project`];
    case "updated":
      return [`${who} updated the project`];
    case "status_changed":
      return [`${who} changed the status from ${label(text(d.from))} to ${label(text(d.to))}`];
    case "member_added":
      return [`${who} added ${text(d.username) || "a member"}`];
    case "member_removed":
      return [`${who} removed ${text(d.username) || "a member"}`];
    case "comment":
      return [`${who} commented`, h("blockquote", null, text(d.text))];
    case "submission":
    case "milestone": {
      const href = safeHref(d.url);
      const title = text(d.title) || e.kind;
      return [
        `${who} ${e.kind === "submission" ? "submitted" : "reached the milestone"} `,
        href ? h("a", { href }, title) : h("q", null, title),
        d.note ? h("blockquote", null, text(d.note)) : "",
      ];
    }
    default:
      return [`${who}: ${e.kind}`];
  }
}

export const projectPage: Page = async (ctx, params) => {
  const id = Number(params.id);
  const { client, main } = ctx;
  ctx.setTitle("Project");
  const labelMap = await statusLabels();
  const label = (slug: string) => labelMap.get(slug) ?? slug;

  const title = h("h1", null, "Project");
  const status = h("p", { className: "pill", id: "project-status" });
  const description = h("p", { className: "muted" });
  const feed = h("ol", { className: "feed", id: "project-feed", "aria-labelledby": "feed-heading" });
  const problem = h("div");
  const stream = client.openStream<ProjectServerFrame>(projectStream(id));
  ctx.onLeave(() => stream.disconnect());

  const comment = h("textarea", { id: "comment", name: "comment", rows: 2, maxlength: 4000, required: true });
  const post = h("button", { type: "submit" }, "Post comment");
  const formError = h("p", { className: "form-error", role: "alert" });
  const form = h(
    "form",
    { className: "inline-form" },
    h("div", { className: "field" }, h("label", { for: "comment" }, "Comment"), comment),
    post,
    formError,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!comment.value.trim()) return;
    post.disabled = true;
    formError.textContent = "";
    try {
      await apiRequest("POST", `/api/projects/${id}/comments/`, { text: comment.value });
      comment.value = ""; // the comment arrives on the stream like everyone else's
    } catch (error) {
      formError.textContent = error instanceof HttpError ? error.message : "Not sent: the server cannot be reached.";
    } finally {
      post.disabled = false;
    }
  });

  fill(
    main,
    h("nav", { className: "crumbs", "aria-label": "Breadcrumb" }, h("a", { href: "/" }, "Home"), " / Project"),
    h("div", { className: "page-head" }, title, streamStatus(stream), muteButton(`project:${id}`, "project")),
    status,
    description,
    h("p", null, h("a", { href: `/rooms/project-${id}/` }, "Open the project room"), " to chat with the team."),
    problem,
    h("section", { "aria-labelledby": "feed-heading" }, h("h2", { id: "feed-heading" }, "Activity"), form, feed),
  );

  const showProject = (p: Project) => {
    title.textContent = p.title;
    ctx.setTitle(p.title);
    status.textContent = label(p.status);
    description.textContent = p.description;
  };
  const seen = new Set<number>();
  const add = (e: ProjectEvent, live: boolean) => {
    if (seen.has(e.id)) return;
    seen.add(e.id);
    const item = h("li", { className: `event kind-${e.kind}${live ? " fresh" : ""}`, "data-id": e.id }, h("div", null, describe(e, label)), timeAgo(e.created_at));
    feed.prepend(item); // newest first
    if (e.kind === "status_changed" && typeof e.data.to === "string") status.textContent = label(e.data.to);
  };

  stream.on("project_snapshot", (data) => {
    showProject(data.project);
    if (!data.resumed) {
      fill(feed);
      seen.clear();
    }
    for (const e of data.events) add(e, false);
  });
  stream.on("project_event", (e) => add(e, true));
  stream.on("closed", ({ cause, code }) => {
    const message = closedMessage(cause, code, "project");
    if (message) fill(problem, notice(message));
  });
  stream.connect();
};
