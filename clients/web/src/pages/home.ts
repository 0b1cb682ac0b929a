/** `/`: where to go from here: the user's projects and rooms, and for administrators their tools. */
import type { Project, Room } from "clarion-client";
import { apiRequest } from "../api.js";
import { notice, type Page } from "../context.js";
import { fill, h } from "../dom.js";
import { statusLabels } from "./project.js";

export const homePage: Page = async (ctx) => {
  const { me, main } = ctx;
  ctx.setTitle("Home");
  const projects = h("ul", { className: "cards", "aria-labelledby": "projects-heading" });
  const rooms = h("ul", { className: "plain", "aria-labelledby": "rooms-heading" });
  const roomsSection = h("section", { "aria-labelledby": "rooms-heading", hidden: true }, h("h2", { id: "rooms-heading" }, "Rooms"), rooms);
  fill(
    main,
    h("h1", null, `Hello, ${me.username}`),
    h(
      "p",
      { className: "lead" },
      "New notifications appear at once as a toast and under the bell at the top; they are marked read in every tab you have open.",
    ),
    h("section", { "aria-labelledby": "projects-heading" }, h("h2", { id: "projects-heading" }, "Your projects"), projects),
    roomsSection,
    me.can_send
      ? h(
          "section",
          { "aria-labelledby": "admin-heading" },
          h("h2", { id: "admin-heading" }, "Administration"),
          h(
            "ul",
            { className: "plain" },
            h("li", null, h("a", { href: "/admin/send/" }, "Send a notification"), " to a user, a role or everyone"),
            h("li", null, h("a", { href: "/admin/health/" }, "System health"), ": connections, message rates, latency, CPU and memory, live"),
          ),
        )
      : null,
  );

  try {
    const [list, labels] = await Promise.all([apiRequest<Project[]>("GET", "/api/projects/"), statusLabels()]);
    if (list.length === 0) fill(projects, h("li", { className: "empty" }, "You are not on any project yet."));
    else
      fill(
        projects,
        list.map((p) =>
          h(
            "li",
            { className: "card project-card" },
            h("h3", null, h("a", { href: `/projects/${p.id}/` }, p.title)),
            h("p", { className: "pill" }, labels.get(p.status) ?? p.status),
            p.description ? h("p", { className: "muted" }, p.description) : null,
            h("p", null, h("a", { href: `/projects/${p.id}/` }, "Activity"), " · ", h("a", { href: `/rooms/project-${p.id}/` }, "Room")),
          ),
        ),
      );
  } catch (error) {
    fill(projects, h("li", null, notice(`Projects could not be loaded: ${(error as Error).message}`)));
  }

  try {
    // Paginated, newest first: the home page lists the latest hundred.
    const page = await apiRequest<{ next: string | null; results: Room[] }>("GET", "/api/rooms/?page_size=100");
    const list = page.results.filter((r) => r.project === null);
    if (list.length > 0) {
      roomsSection.hidden = false;
      fill(rooms, list.map((r) => h("li", null, h("a", { href: `/rooms/${encodeURIComponent(r.key)}/` }, r.title || r.key))));
    }
  } catch {
    // Rooms are optional here; the projects' rooms are linked above.
  }
};
