/**
 * The notification center: the bell with its unread badge, the dropdown list, and toasts for
 * new notifications. Everything shown comes from the clarion-client's store (`client.snapshot`),
 * so every tab of a user agrees: the server tells each of them when something is read.
 */
import type { ClarionClient, GroupPage, Notification } from "clarion-client";
import { apiRequest } from "./api.js";
import { h, fill, icon, ICONS, safeHref, timeAgo } from "./dom.js";

const TOAST_MS = 8000;
const MAX_TOASTS = 4;

function audience(n: Notification): string {
  if (n.recipient_type === "all") return "to everyone";
  if (n.recipient_type === "role") return `to every ${n.recipient_id}`;
  return "to you";
}

export function deliveriesHref(id: number): string {
  return `/admin/notifications/${id}/deliveries/`;
}

export class NotificationCenter {
  readonly bell: HTMLButtonElement;
  readonly root: HTMLElement;
  private readonly badge: HTMLElement;
  /** How many arrived since the list was last opened (unseen): cleared by opening it. */
  private readonly fresh: HTMLElement;
  private readonly panel: HTMLElement;
  private readonly list: HTMLUListElement;
  private readonly empty: HTMLElement;
  private readonly markAll: HTMLButtonElement;
  private readonly toasts: HTMLElement;
  private readonly items = new Map<number, HTMLLIElement>();
  /** One header row per group of two or more items sharing a group_key, and which are open. */
  private readonly groupRows = new Map<string, HTMLLIElement>();
  private readonly expanded = new Set<string>();
  /** The server's summary of each group ("3 new comments on “Thesis”", in the reader's language). */
  private summaries = new Map<string, string>();
  /** Keys a summary was asked for already (a group the server does not list keeps its own wording). */
  private readonly asked = new Set<string>();
  private readonly toastTimers = new Map<number, { el: HTMLElement; timer: ReturnType<typeof setTimeout> | null }>();

  constructor(
    private readonly client: ClarionClient,
    toastRegion: HTMLElement,
    private readonly onUnread: (count: number) => void,
    /** Whether the reader may send notifications, and so see who received one (the server decides per notification). */
    private readonly deliveriesLinks = false,
  ) {
    this.toasts = toastRegion;
    this.badge = h("span", { className: "badge", hidden: true, "aria-hidden": "true" });
    this.fresh = h("span", { className: "badge-new", id: "bell-new", hidden: true });
    this.bell = h(
      "button",
      { type: "button", className: "bell", id: "bell", "aria-expanded": "false", "aria-controls": "notification-panel", "aria-label": "Notifications" },
      icon(ICONS.bell),
      this.badge,
    );
    this.markAll = h("button", { type: "button", className: "link-button", onclick: () => this.client.markAllAsRead() }, "Mark all as read");
    this.list = h("ul", { className: "notes", "aria-labelledby": "notification-heading" });
    this.empty = h("p", { className: "empty" }, "No notifications yet. New ones appear here as they arrive.");
    this.panel = h(
      "section",
      { className: "panel", id: "notification-panel", hidden: true, "aria-labelledby": "notification-heading", tabindex: "-1" },
      h("div", { className: "panel-head" }, h("h2", { id: "notification-heading" }, "Notifications"), this.markAll),
      this.list,
      this.empty,
    );
    // Beside the button, not in it: text inside the button would have to appear in its label
    // word for word, and a screen reader reads "2 new" right after the bell anyway.
    this.root = h("div", { className: "bell-wrap" }, this.bell, this.fresh, this.panel);

    this.bell.addEventListener("click", () => this.toggle());
    this.panel.addEventListener("keydown", (event) => {
      if (event.key === "Escape") {
        event.stopPropagation();
        this.close(true);
      }
    });
    document.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && this.isOpen) this.close(true);
    });
    document.addEventListener("click", (event) => {
      // A target no longer in the page was inside it: a group row redrawn by its own click.
      if (this.isOpen && event.target instanceof Node && event.target.isConnected && !this.root.contains(event.target)) {
        this.close(false);
      }
    });
    // A disclosure closes when the keyboard leaves it: tabbing past the last item must not leave
    // the panel open over the links that take focus next.
    this.root.addEventListener("focusout", (event) => {
      const next = event.relatedTarget;
      if (this.isOpen && next instanceof Node && !this.root.contains(next)) this.close(false);
    });

    client.on("change", () => this.render());
    client.on("notification", (n) => {
      if (!n.is_read) this.toast(n);
    });
    this.render();
  }

  get isOpen(): boolean {
    return !this.panel.hidden;
  }

  toggle(): void {
    if (this.isOpen) this.close(false);
    else this.open();
  }

  open(): void {
    this.panel.hidden = false;
    this.bell.setAttribute("aria-expanded", "true");
    this.panel.focus();
    // What the list shows is now seen: the "new" badge goes, in every tab (notifications_state).
    if (this.client.unseenCount > 0) this.client.markAllSeen();
    void this.loadSummaries();
  }

  close(returnFocus: boolean): void {
    if (!this.isOpen) return;
    this.panel.hidden = true;
    this.bell.setAttribute("aria-expanded", "false");
    if (returnFocus) this.bell.focus();
  }

  private render(): void {
    const { notifications, unreadCount, unseenCount } = this.client.snapshot;
    const markAllHadFocus = document.activeElement === this.markAll;
    this.badge.textContent = unreadCount > 99 ? "99+" : String(unreadCount);
    this.badge.hidden = unreadCount === 0;
    const fresh = Math.min(unseenCount, unreadCount);
    this.fresh.textContent = fresh > 99 ? "99+ new" : `${fresh} new`;
    this.fresh.hidden = fresh === 0;
    this.bell.setAttribute("aria-label", unreadCount === 0 ? "Notifications, none unread" : `Notifications, ${unreadCount} unread`);
    this.markAll.disabled = unreadCount === 0;
    // A disabled button drops focus to the page's top; keep it in the panel.
    if (markAllHadFocus && this.markAll.disabled) this.panel.focus();
    this.onUnread(unreadCount);

    // Items sharing a group key show as one row, at the place of the newest; its items follow it,
    // folded until the row is opened.
    const members = new Map<string, Notification[]>();
    for (const n of notifications) if (n.group_key) members.set(n.group_key, [...(members.get(n.group_key) ?? []), n]);
    const grouped = (n: Notification) => (n.group_key ? (members.get(n.group_key)?.length ?? 0) > 1 : false);

    // Keyed update: an item keeps its element (and its focus) across renders.
    const keep = new Set<number>();
    const keepGroups = new Set<string>();
    let previous: Element | null = null;
    const place = (li: HTMLLIElement) => {
      const expected: Element | null = previous ? previous.nextElementSibling : this.list.firstElementChild;
      if (expected !== li) this.list.insertBefore(li, expected);
      previous = li;
    };
    const drawItem = (n: Notification, inGroup: boolean) => {
      keep.add(n.id);
      let li = this.items.get(n.id);
      if (!li) {
        li = this.item(n);
        this.items.set(n.id, li);
      }
      this.setRead(li, n);
      li.classList.toggle("in-group", inGroup);
      li.hidden = inGroup && !this.expanded.has(n.group_key);
      place(li);
    };
    for (const n of notifications) {
      if (!grouped(n)) {
        drawItem(n, false);
        continue;
      }
      if (keepGroups.has(n.group_key)) continue; // drawn with the newest of its group
      keepGroups.add(n.group_key);
      const group = members.get(n.group_key) ?? [];
      place(this.groupRow(n.group_key, group));
      for (const member of group) drawItem(member, true);
    }
    for (const [id, li] of this.items) {
      if (!keep.has(id)) {
        li.remove();
        this.items.delete(id);
      }
    }
    for (const [key, li] of this.groupRows) {
      if (!keepGroups.has(key)) {
        li.remove();
        this.groupRows.delete(key);
      }
    }
    const unasked = [...keepGroups].filter((key) => !this.asked.has(key));
    if (unasked.length > 0 && this.isOpen) void this.loadSummaries();
    this.empty.hidden = notifications.length > 0;
    // Toasts of notifications read meanwhile (here or in another tab) go away.
    for (const n of notifications) if (n.is_read && this.toastTimers.has(n.id)) this.dismiss(n.id);
  }

  /** The header row of a group: its summary, how many, and the actions on all of them at once. */
  private groupRow(key: string, group: Notification[]): HTMLLIElement {
    const latest = group[0] as Notification;
    const unread = group.filter((n) => !n.is_read).length;
    let li = this.groupRows.get(key);
    if (!li) {
      li = h("li", { className: "note note-group", "data-group": key });
      this.groupRows.set(key, li);
    }
    const open = this.expanded.has(key);
    const summary = this.summaries.get(key) ?? `${latest.title} (+${group.length - 1} more)`;
    const toggle = h("button", {
      type: "button",
      className: "link-button group-toggle",
      "aria-expanded": String(open),
      "aria-label": `${open ? "Hide" : `Show ${group.length}`}: ${summary}`,
      onclick: () => {
        if (this.expanded.has(key)) this.expanded.delete(key);
        else this.expanded.add(key);
        this.render();
        this.groupRows.get(key)?.querySelector<HTMLButtonElement>("button.group-toggle")?.focus();
      },
    }, open ? "Hide" : `Show ${group.length}`);
    fill(
      li,
      h(
        "div",
        { className: "note-body" },
        h("p", { className: "note-title" }, summary),
        h("p", { className: "note-meta" }, timeAgo(latest.created_at), ` · ${group.length} notifications, ${unread} unread`),
      ),
      h(
        "div",
        { className: "note-actions" },
        toggle,
        unread > 0
          ? h("button", { type: "button", className: "link-button", "aria-label": `Mark all read: ${summary}`, onclick: () => this.client.markAsRead({ groupKey: key }) }, "Mark all read")
          : null,
        h("button", { type: "button", className: "link-button", "aria-label": `Archive all: ${summary}`, onclick: () => this.client.archive({ groupKey: key }) }, "Archive all"),
      ),
    );
    li.classList.toggle("unread", unread > 0);
    li.classList.toggle("read", unread === 0);
    return li;
  }

  /** Group summaries from the server, in the reader's language (`GET /api/notifications/?grouped=true`). */
  private async loadSummaries(): Promise<void> {
    for (const key of this.groupRows.keys()) this.asked.add(key);
    try {
      const page = await apiRequest<GroupPage>("GET", "/api/notifications/?grouped=true&page_size=100");
      const next = new Map<string, string>();
      for (const group of page.results) if (group.group_key && group.count > 1) next.set(group.group_key, group.summary);
      this.summaries = next;
      this.render();
    } catch {
      // the rows keep their own wording
    }
  }

  private item(n: Notification): HTMLLIElement {
    const href = safeHref(n.link);
    const title = h("p", { className: "note-title" }, n.title);
    return h(
      "li",
      { className: `note type-${n.notification_type}`, "data-id": n.id },
      h(
        "div",
        { className: "note-body" },
        title,
        n.message ? h("p", { className: "note-message" }, n.message) : null,
        h(
          "p",
          { className: "note-meta" },
          timeAgo(n.created_at),
          ` · ${audience(n)}`,
          href ? [" · ", h("a", { href }, "Open")] : null,
          // Not for a notification to this reader alone: its audience is the reader.
          this.deliveriesLinks && n.recipient_type !== "user"
            ? [" · ", h("a", { href: deliveriesHref(n.id), "aria-label": `Deliveries: ${n.title}` }, "Deliveries")]
            : null,
        ),
      ),
      h(
        "div",
        { className: "note-actions" },
        h("button", { type: "button", className: "mark", "aria-label": `Mark read: ${n.title}`, onclick: () => this.client.markAsRead(n.id) }, icon(ICONS.check), h("span", null, "Mark read")),
        h("button", { type: "button", className: "link-button unread-again", "aria-label": `Mark unread: ${n.title}`, onclick: () => this.client.markUnread(n.id) }, "Mark unread"),
        h("button", { type: "button", className: "link-button archive", "aria-label": `Archive: ${n.title}`, onclick: () => this.client.archive(n.id) }, "Archive"),
        h(
          "button",
          { type: "button", className: "link-button snooze", "aria-label": `Snooze 1 h: ${n.title}`, onclick: () => this.client.snooze(n.id, new Date(Date.now() + 3600_000)) },
          "Snooze 1 h",
        ),
      ),
    );
  }

  private setRead(li: HTMLLIElement, n: Notification): void {
    li.classList.toggle("unread", !n.is_read);
    li.classList.toggle("read", n.is_read);
    const button = li.querySelector<HTMLButtonElement>("button.mark");
    if (button) {
      if (n.is_read && document.activeElement === button) this.focusNearestUnread(li);
      button.hidden = n.is_read;
    }
    const again = li.querySelector<HTMLButtonElement>("button.unread-again");
    if (again) {
      if (!n.is_read && document.activeElement === again) button?.focus();
      again.hidden = !n.is_read;
    }
  }

  /** After an item is marked read, focus goes where the reader goes on: the next unread item's
   * button, else the previous one's, else the panel itself (not the top of the page). */
  private focusNearestUnread(li: HTMLLIElement): void {
    const visible = (el: Element | null) => el?.querySelector<HTMLButtonElement>("button.mark:not([hidden])") ?? null;
    for (let el = li.nextElementSibling; el; el = el.nextElementSibling) {
      const button = visible(el);
      if (button) return button.focus();
    }
    for (let el = li.previousElementSibling; el; el = el.previousElementSibling) {
      const button = visible(el);
      if (button) return button.focus();
    }
    this.panel.focus();
  }

  // -- toasts -------------------------------------------------------------------------------------

  private toast(n: Notification): void {
    if (this.toastTimers.has(n.id)) return;
    const el = h(
      "div",
      { className: `toast type-${n.notification_type}`, "data-id": n.id },
      h("div", { className: "toast-body" }, h("p", { className: "toast-title" }, n.title), n.message ? h("p", { className: "toast-message" }, n.message) : null),
      h(
        "div",
        { className: "toast-actions" },
        h("button", { type: "button", className: "link-button", "aria-label": `Mark read: ${n.title}`, onclick: () => this.client.markAsRead(n.id) }, "Mark read"),
        h("button", { type: "button", className: "icon-button", "aria-label": `Dismiss: ${n.title}`, onclick: () => this.dismiss(n.id) }, icon(ICONS.close)),
      ),
    );
    const entry: { el: HTMLElement; timer: ReturnType<typeof setTimeout> | null } = { el, timer: null };
    const arm = () => {
      if (entry.timer) clearTimeout(entry.timer);
      entry.timer = setTimeout(() => this.dismiss(n.id), TOAST_MS);
    };
    // Kept while the pointer or the keyboard is on it, so that it can be read and acted on.
    el.addEventListener("mouseenter", () => entry.timer && clearTimeout(entry.timer));
    el.addEventListener("focusin", () => entry.timer && clearTimeout(entry.timer));
    el.addEventListener("mouseleave", arm);
    el.addEventListener("focusout", arm);
    this.toastTimers.set(n.id, entry);
    this.toasts.appendChild(el);
    arm();
    while (this.toastTimers.size > MAX_TOASTS) {
      const oldest = this.toastTimers.keys().next().value as number;
      this.dismiss(oldest);
    }
  }

  private dismiss(id: number): void {
    const entry = this.toastTimers.get(id);
    if (!entry) return;
    if (entry.timer) clearTimeout(entry.timer);
    this.toastTimers.delete(id);
    const hadFocus = entry.el.contains(document.activeElement);
    entry.el.remove();
    if (hadFocus) this.bell.focus();
  }

  /** Drop every toast and item (sign-out). */
  reset(): void {
    for (const id of [...this.toastTimers.keys()]) this.dismiss(id);
    fill(this.list);
    this.items.clear();
  }
}
