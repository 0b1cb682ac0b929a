/**
 * `/admin/notifications/<id>/deliveries/`: who of a notification's audience received, saw and
 * read it, and what email and desktop push did for each (`GET /api/notifications/<id>/deliveries/`).
 * For administrators and the notification's sender; the server decides, this page says so.
 */
import type { ChannelDelivery, DeliveriesPage, DeliveryTotals, ReaderDelivery } from "clarion-client";
import { apiRequest, HttpError } from "../api.js";
import { notice, type Page } from "../context.js";
import { fill, h, timeAgo } from "../dom.js";

const PAGE_SIZE = 50;

const TOTALS: Array<[keyof DeliveryTotals, string]> = [
  ["audience", "Audience"],
  ["delivered", "Delivered"],
  ["seen", "Seen"],
  ["read", "Read"],
  ["emailed", "Emailed"],
  ["pushed", "Pushed"],
  ["pending", "Pending"],
  ["failed", "Failed"],
  ["skipped", "Skipped"],
];

/** Why nothing was sent, as a sender would say it. */
const REASONS: Record<string, string> = {
  read: "read in the app first",
  preference_off: "turned off in their settings",
  muted: "topic muted",
  no_address: "no email address",
  no_subscription: "no desktop subscription",
  online: "was online",
  snoozed: "snoozed",
  expired: "expired",
  gone: "subscription gone",
};

const absolute = new Intl.DateTimeFormat("en", { dateStyle: "medium", timeStyle: "short" });

function when(iso: string | null): Node | string {
  return iso ? timeAgo(iso) : "not yet";
}

function channelCell(delivery: ChannelDelivery | null): HTMLElement {
  if (!delivery) return h("td", { className: "channel-none" }, "none");
  const parts: Array<Node | string> = [h("span", { className: `delivery-status status-${delivery.status}` }, delivery.status)];
  if (delivery.status === "skipped" && delivery.reason) parts.push(`: ${REASONS[delivery.reason] ?? delivery.reason}`);
  if (delivery.error) parts.push(`: ${delivery.error}`);
  if (delivery.sent_at) parts.push(" ", timeAgo(delivery.sent_at));
  else if (delivery.status === "pending" || delivery.status === "sending") {
    const due = new Date(delivery.due_at);
    if (!Number.isNaN(due.getTime())) parts.push(`, due ${absolute.format(due)}`);
  }
  if (delivery.attempts > 1) parts.push(` (${delivery.attempts} attempts)`);
  return h("td", null, parts);
}

function row(reader: ReaderDelivery): HTMLTableRowElement {
  return h(
    "tr",
    { "data-user": reader.user.id },
    h("th", { scope: "row" }, reader.user.username),
    h("td", null, when(reader.delivered_at)),
    h("td", null, when(reader.seen_at)),
    h("td", null, when(reader.read_at)),
    channelCell(reader.channels.email),
    channelCell(reader.channels.push),
  );
}

function pageFromLocation(): number {
  const page = Number(new URLSearchParams(location.search).get("page"));
  return Number.isInteger(page) && page > 0 ? page : 1;
}

export const deliveriesPage: Page = async (ctx, params) => {
  const { main } = ctx;
  const id = Number(params.id);
  ctx.setTitle("Deliveries");
  const heading = h("h1", { id: "deliveries-heading" }, "Deliveries");
  const about = h("p", { className: "lead", id: "deliveries-about" });
  const summary = h("p", { className: "delivery-summary", id: "deliveries-summary" });
  const totals = h("dl", { className: "totals", id: "delivery-totals" });
  const table = h("table", { className: "deliveries", id: "deliveries" });
  // Scrolls sideways on a phone: focusable and named, so the keyboard can scroll it too.
  const wrap = h("div", { className: "table-wrap", tabindex: "0", role: "region", "aria-label": "Readers, scrollable" }, table);
  const status = h("p", { className: "form-status", id: "deliveries-status", role: "status" });
  const previous = h("button", { type: "button" }, "Previous page");
  const next = h("button", { type: "button" }, "Next page");
  const refresh = h("button", { type: "button", className: "link-button" }, "Refresh");
  const pager = h("nav", { className: "pager", "aria-label": "Pages of readers" }, previous, next);
  const body = h(
    "div",
    { className: "deliveries-body" },
    summary,
    h("h2", { id: "totals-heading" }, "Totals"),
    totals,
    h("h2", { id: "readers-heading" }, "Readers"),
    wrap,
    pager,
  );
  fill(
    main,
    h("p", { className: "crumbs" }, h("a", { href: "/admin/send/" }, "Send")),
    heading,
    about,
    h("div", { className: "actions" }, refresh, status),
    body,
  );
  body.hidden = true;
  refresh.hidden = true;

  let page = pageFromLocation();

  const show = (data: DeliveriesPage, focusTable: boolean) => {
    const n = data.notification;
    ctx.setTitle(`Deliveries: ${n.title}`);
    fill(heading, "Deliveries of “", n.title, "”");
    const to = n.recipient_type === "all" ? "everyone" : n.recipient_type === "role" ? `every ${n.recipient_id}` : `user ${n.recipient_id}`;
    fill(about, `Sent to ${to}, `, timeAgo(n.created_at), ` · category ${n.category}`);
    summary.textContent = data.summary;
    fill(totals, TOTALS.map(([key, label]) => h("div", { className: "total" }, h("dt", null, label), h("dd", null, String(data.totals[key])))));
    const pages = Math.max(1, Math.ceil(data.count / PAGE_SIZE));
    fill(
      table,
      h("caption", null, `Readers, page ${page} of ${pages}`),
      h(
        "thead",
        null,
        h("tr", null, ["Reader", "Delivered", "Seen", "Read", "Email", "Push"].map((label) => h("th", { scope: "col" }, label))),
      ),
      h(
        "tbody",
        null,
        data.results.length > 0 ? data.results.map(row) : h("tr", null, h("td", { colspan: 6, className: "empty" }, "No readers in this notification's audience.")),
      ),
    );
    previous.disabled = data.previous === null;
    next.disabled = data.next === null;
    pager.hidden = data.previous === null && data.next === null;
    body.hidden = false;
    refresh.hidden = false;
    if (focusTable) wrap.focus();
  };

  const load = async (focusTable = false): Promise<void> => {
    status.textContent = "Loading…";
    try {
      const data = await apiRequest<DeliveriesPage>("GET", `/api/notifications/${id}/deliveries/?page=${page}&page_size=${PAGE_SIZE}`);
      main.querySelector(".notice")?.remove();
      show(data, focusTable);
      status.textContent = focusTable ? `Page ${page} of ${Math.max(1, Math.ceil(data.count / PAGE_SIZE))}.` : "";
    } catch (error) {
      if (error instanceof HttpError && error.status === 404 && page > 1) {
        // A page past the end (readers left the audience since): the first page is still there.
        page = 1;
        history.replaceState(null, "", location.pathname);
        return load(focusTable);
      }
      status.textContent = "";
      body.hidden = true;
      let text: string;
      if (error instanceof HttpError && error.status === 403) text = "Only administrators and the sender can see deliveries.";
      else if (error instanceof HttpError && error.status === 404) text = `There is no notification ${id}.`;
      else text = error instanceof HttpError ? error.message : "The server cannot be reached. Try again.";
      main.querySelector(".notice")?.remove();
      main.append(notice(text));
      // Refusals stay refusals; a server error or an outage may pass.
      refresh.hidden = error instanceof HttpError && error.status < 500;
    }
  };

  const go = (to: number) => {
    page = to;
    history.replaceState(null, "", to > 1 ? `${location.pathname}?page=${to}` : location.pathname);
    void load(true);
  };
  previous.addEventListener("click", () => go(Math.max(1, page - 1)));
  next.addEventListener("click", () => go(page + 1));
  refresh.addEventListener("click", () => {
    main.querySelector(".notice")?.remove();
    void load();
  });

  await load();
};
