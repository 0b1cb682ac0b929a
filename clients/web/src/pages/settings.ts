/**
 * `/settings/`: what the reader wants. Categories × channels (a locked category cannot be turned
 * off), how email reaches them (digest, its hour, time zone, quiet hours), muted topics, and the
 * language notifications are written in. A channel, the language or an unmute is saved at once;
 * the delivery fields, which belong together (a digest hour means little without its zone), are
 * saved with one button, in one `PATCH /api/preferences/` of what changed. Other tabs follow
 * through the `preferences_changed` frame.
 */
import type { DigestMode, Mute, Preferences, PreferencesChanges, QuietHours } from "clarion-client";
import { apiRequest, HttpError } from "../api.js";
import { notice, type Page } from "../context.js";
import { fill, h } from "../dom.js";
import { desktopNotificationState, disableDesktopNotifications, enableDesktopNotifications, type DesktopNotificationState } from "../push.js";

const CHANNELS: Array<["in_app" | "email" | "push", string]> = [
  ["in_app", "In the app"],
  ["email", "Email"],
  ["push", "Desktop"],
];

export const LANGUAGES: Array<[string, string]> = [
  ["", "The site's language"],
  ["en", "English"],
  ["th", "ไทย (Thai)"],
];

export const settingsPage: Page = async (ctx) => {
  const { client, main } = ctx;
  ctx.setTitle("Settings");
  const status = h("p", { className: "form-status", role: "status", id: "settings-status" });
  const table = h("table", { className: "prefs", id: "preferences" });
  const mutes = h("ul", { className: "mutes", id: "mutes", "aria-labelledby": "mutes-heading" });
  const language = h("select", { id: "language", name: "language" },
    LANGUAGES.map(([code, label]) => h("option", { value: code }, label)));

  const delivery = deliverySection();

  const say = (text: string) => {
    status.textContent = text;
  };
  const failed = (e: unknown) => say(e instanceof HttpError ? e.message : "The server cannot be reached. Try again.");

  const drawPreferences = (prefs: Preferences) => {
    language.value = prefs.locale;
    fill(
      table,
      h("caption", null, "Which notifications reach you, and where"),
      h("thead", null, h("tr", null, h("th", { scope: "col" }, "Category"), CHANNELS.map(([, label]) => h("th", { scope: "col" }, label)))),
      h(
        "tbody",
        null,
        prefs.categories.map((category) =>
          h(
            "tr",
            { "data-category": category.key },
            h("th", { scope: "row" }, category.label, category.locked ? h("span", { className: "locked-note" }, "(always on)") : null),
            CHANNELS.map(([channel, label]) => {
              const box = h("input", {
                type: "checkbox",
                checked: category.channels[channel],
                disabled: category.locked,
                "aria-label": `${category.label}: ${label}`,
              });
              box.addEventListener("change", async () => {
                try {
                  drawPreferences(await apiRequest<Preferences>("PATCH", "/api/preferences/", { categories: { [category.key]: { [channel]: box.checked } } }));
                  say(`Saved: ${category.label} ${box.checked ? "on" : "off"} (${label.toLowerCase()}).`);
                } catch (e) {
                  box.checked = !box.checked;
                  failed(e);
                }
              });
              return h("td", { className: "channel" }, box);
            }),
          ),
        ),
      ),
    );
  };

  const drawMutes = (list: Mute[]) => {
    fill(
      mutes,
      list.length === 0
        ? h("li", { className: "empty" }, "Nothing muted. Mute a project from its page.")
        : list.map((m) =>
            h(
              "li",
              null,
              h("span", null, h("code", null, m.topic), m.until ? ` until ${new Date(m.until).toLocaleString()}` : ""),
              h("button", {
                type: "button",
                className: "link-button",
                "aria-label": `Unmute ${m.topic}`,
                onclick: async () => {
                  try {
                    await apiRequest("DELETE", `/api/mutes/${encodeURIComponent(m.topic)}/`);
                    drawMutes(await apiRequest<Mute[]>("GET", "/api/mutes/"));
                    say(`Unmuted ${m.topic}.`);
                  } catch (e) {
                    failed(e);
                  }
                },
              }, "Unmute"),
            ),
          ),
    );
  };

  language.addEventListener("change", async () => {
    try {
      drawPreferences(await apiRequest<Preferences>("PATCH", "/api/preferences/", { locale: language.value }));
      say("Saved: new notifications come in this language.");
    } catch (e) {
      failed(e);
    }
  });

  fill(
    main,
    h("h1", null, "Settings"),
    h("section", { "aria-labelledby": "channels-heading" }, h("h2", { id: "channels-heading" }, "Notifications"), table),
    delivery.section,
    h("section", { "aria-labelledby": "language-heading" },
      h("h2", { id: "language-heading" }, "Language"),
      h("div", { className: "field" }, h("label", { for: "language" }, "Notifications are written in"), language)),
    h("section", { "aria-labelledby": "mutes-heading" }, h("h2", { id: "mutes-heading" }, "Muted"), mutes),
    status,
  );
  try {
    const [prefs, muted] = await Promise.all([
      apiRequest<Preferences>("GET", "/api/preferences/"),
      apiRequest<Mute[]>("GET", "/api/mutes/"),
    ]);
    drawPreferences(prefs);
    delivery.draw(prefs);
    drawMutes(muted);
  } catch (e) {
    main.append(notice(e instanceof HttpError ? e.message : "The server cannot be reached."));
    return;
  }
  // Another tab changed them: show what is true now.
  ctx.onLeave(client.on("preferences_changed", (data) => {
    drawPreferences(data);
    delivery.follow(data);
    drawMutes(data.mutes);
  }));
};

const DIGESTS: Array<[DigestMode, string]> = [
  ["off", "Each notification"],
  ["hourly", "Hourly digest"],
  ["daily", "Daily digest"],
];

/** Offered in the time-zone list; any other IANA name can be typed (the server checks it). */
const COMMON_ZONES = [
  "UTC", "Europe/London", "Europe/Lisbon", "Europe/Paris", "Europe/Berlin", "Europe/Madrid", "Europe/Rome",
  "Europe/Amsterdam", "Europe/Stockholm", "Europe/Warsaw", "Europe/Athens", "Europe/Istanbul", "Europe/Moscow",
  "Africa/Cairo", "Africa/Lagos", "Africa/Nairobi", "Africa/Johannesburg", "Asia/Dubai", "Asia/Karachi",
  "Asia/Kolkata", "Asia/Dhaka", "Asia/Bangkok", "Asia/Ho_Chi_Minh", "Asia/Jakarta", "Asia/Singapore",
  "Asia/Kuala_Lumpur", "Asia/Manila", "Asia/Shanghai", "Asia/Hong_Kong", "Asia/Taipei", "Asia/Seoul", "Asia/Tokyo",
  "Australia/Perth", "Australia/Adelaide", "Australia/Sydney", "Pacific/Auckland", "Pacific/Honolulu",
  "America/Anchorage", "America/Los_Angeles", "America/Vancouver", "America/Denver", "America/Chicago",
  "America/Mexico_City", "America/New_York", "America/Toronto", "America/Bogota", "America/Lima",
  "America/Santiago", "America/Sao_Paulo", "America/Argentina/Buenos_Aires",
];

function browserZone(): string {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || "";
  } catch {
    return "";
  }
}

const hourText = (hour: number) => `${String(hour).padStart(2, "0")}:00`;

/** The server's field errors as flat names: `{"quiet_hours": {"from": [..]}}` (DRF) and
 * `{"quiet_hours.from": [..]}` (Clarion's own checks) both become `quiet_hours.from`. */
function fieldErrors(body: unknown, prefix = "", into = new Map<string, string>()): Map<string, string> {
  if (!body || typeof body !== "object" || Array.isArray(body)) return into;
  for (const [key, value] of Object.entries(body as Record<string, unknown>)) {
    const name = prefix ? `${prefix}.${key}` : key;
    if (Array.isArray(value)) into.set(name, value.map(String).join(" "));
    else if (typeof value === "string") into.set(name, value);
    else fieldErrors(value, name, into);
  }
  return into;
}

interface DeliveryChoice {
  digest: DigestMode;
  pushDigest: DigestMode;
  hour: number;
  zone: string;
  quiet: QuietHours | null;
}

/** The "Delivery" section: email digest, its hour, the time zone, quiet hours; saved together. */
function deliverySection(): { section: HTMLElement; draw: (prefs: Preferences) => void; follow: (prefs: Preferences) => void } {
  const described = (control: HTMLElement, id: string, hint: boolean) =>
    control.setAttribute("aria-describedby", hint ? `${id}-hint ${id}-error` : `${id}-error`);
  const errorOf = (id: string) => h("p", { className: "field-error", id: `${id}-error` });

  const digest = h("select", { id: "digest-email", name: "digest" }, DIGESTS.map(([value, label]) => h("option", { value }, label)));
  described(digest, "digest-email", true);
  const pushDigest = h("select", { id: "digest-push", name: "digest_push" }, DIGESTS.map(([value, label]) => h("option", { value }, label)));
  described(pushDigest, "digest-push", true);
  const hour = h("select", { id: "digest-hour", name: "digest_hour" },
    Array.from({ length: 24 }, (_, n) => h("option", { value: String(n) }, hourText(n))));
  described(hour, "digest-hour", false);
  const zones = h("datalist", { id: "time-zones" });
  const zone = h("input", { id: "time-zone", name: "time_zone", list: "time-zones", autocomplete: "off", spellcheck: "false", autocapitalize: "none" });
  described(zone, "time-zone", true);
  const here = browserZone();
  const useHere = h("button", { type: "button", className: "link-button", id: "use-browser-zone", hidden: true }, `Use this device's zone (${here})`);
  const quiet = h("input", { type: "checkbox", id: "quiet-hours", name: "quiet_hours" });
  described(quiet, "quiet-hours", true);
  const from = h("input", { type: "time", id: "quiet-from", name: "quiet_from", step: 60 });
  const to = h("input", { type: "time", id: "quiet-to", name: "quiet_to", step: 60 });
  // "from and to must differ" concerns both ends: each end names that message too.
  from.setAttribute("aria-describedby", "quiet-from-error quiet-hours-error");
  to.setAttribute("aria-describedby", "quiet-to-error quiet-hours-error");
  const save = h("button", { type: "submit", className: "primary" }, "Save delivery settings");
  const status = h("p", { className: "form-status", id: "delivery-status", role: "status" });

  const hourField = h("div", { className: "field", "data-field": "digest_hour" }, h("label", { for: "digest-hour" }, "Digest hour"), hour, errorOf("digest-hour"));
  const span = h("div", { className: "field-row quiet-span" },
    h("div", { className: "field" }, h("label", { for: "quiet-from" }, "Quiet from"), from, errorOf("quiet-from")),
    h("div", { className: "field" }, h("label", { for: "quiet-to" }, "Quiet until"), to, errorOf("quiet-to")));
  const form = h(
    "form",
    { className: "delivery", id: "delivery-form", novalidate: true, "aria-labelledby": "delivery-heading" },
    h("div", { className: "field" }, h("label", { for: "digest-email" }, "Email"),
      h("p", { className: "hint", id: "digest-email-hint" }, "Email goes out only for what you have not read in the app by then. A digest lists everything still unread in one message."),
      digest, errorOf("digest-email")),
    h("div", { className: "field" }, h("label", { for: "digest-push" }, "Desktop notifications"),
      h("p", { className: "hint", id: "digest-push-hint" }, "Sent to this browser when no tab of the site is open. A digest is one notification for everything still unread."),
      pushDigest, errorOf("digest-push")),
    hourField,
    h("div", { className: "field" }, h("label", { for: "time-zone" }, "Time zone"),
      h("p", { className: "hint", id: "time-zone-hint" }, "For the digest hour and quiet hours. A name such as Asia/Bangkok."),
      zone, zones, useHere, errorOf("time-zone")),
    h("div", { className: "field" },
      h("label", { className: "choice" }, quiet, "Quiet hours"),
      h("p", { className: "hint", id: "quiet-hours-hint" }, "Email and desktop notifications wait until they end (deadlines and other locked categories do not)."),
      span, errorOf("quiet-hours")),
    h("div", { className: "actions" }, save, status),
  );
  const section = h("section", { "aria-labelledby": "delivery-heading" }, h("h2", { id: "delivery-heading" }, "Delivery"), form, desktopControl());

  let current: DeliveryChoice | null = null;

  const showDependent = () => {
    hourField.hidden = digest.value !== "daily" && pushDigest.value !== "daily";
    span.hidden = !quiet.checked;
    useHere.hidden = !here || zone.value.trim() === here;
  };
  const chosen = (): DeliveryChoice => ({
    digest: digest.value as DigestMode,
    pushDigest: pushDigest.value as DigestMode,
    hour: Number(hour.value),
    zone: zone.value.trim(),
    quiet: quiet.checked ? { from: from.value, to: to.value } : null,
  });
  const changes = (): PreferencesChanges => {
    const now = chosen();
    const was = current;
    const patch: PreferencesChanges = {};
    if (!was || now.digest !== was.digest) patch.digest = { email: now.digest };
    if (!was || now.pushDigest !== was.pushDigest) patch.digest = { ...patch.digest, push: now.pushDigest };
    // The hour is only shown, and only means something, for a daily digest.
    const daily = now.digest === "daily" || now.pushDigest === "daily";
    if (daily && (!was || now.hour !== was.hour)) patch.digest_hour = now.hour;
    if (!was || now.zone !== was.zone) patch.time_zone = now.zone;
    if (!was || JSON.stringify(now.quiet) !== JSON.stringify(was.quiet)) patch.quiet_hours = now.quiet;
    return patch;
  };
  const clearErrors = () => {
    form.querySelectorAll(".field-error").forEach((el) => (el.textContent = ""));
    form.querySelectorAll("[aria-invalid]").forEach((el) => el.removeAttribute("aria-invalid"));
  };
  const controls: Record<string, [HTMLElement, string]> = {
    digest: [digest, "digest-email"],
    "digest.email": [digest, "digest-email"],
    "digest.push": [pushDigest, "digest-push"],
    digest_hour: [hour, "digest-hour"],
    time_zone: [zone, "time-zone"],
    quiet_hours: [quiet, "quiet-hours"],
    "quiet_hours.from": [from, "quiet-from"],
    "quiet_hours.to": [to, "quiet-to"],
  };
  /** Shows each error beside its field; returns what no field took. */
  const showErrors = (body: unknown): string[] => {
    const left: string[] = [];
    let first: HTMLElement | null = null;
    for (const [name, text] of fieldErrors(body)) {
      const found = controls[name];
      if (!found) {
        left.push(text);
        continue;
      }
      const [control, id] = found;
      const error = document.getElementById(`${id}-error`);
      if (error) error.textContent = error.textContent ? `${error.textContent} ${text}` : text;
      control.setAttribute("aria-invalid", "true");
      if (name === "quiet_hours") {
        from.setAttribute("aria-invalid", "true");
        to.setAttribute("aria-invalid", "true");
      }
      first ??= control;
    }
    first?.focus();
    return left;
  };

  const draw = (prefs: Preferences) => {
    const server = fromServer(prefs);
    current = server;
    digest.value = server.digest;
    pushDigest.value = server.pushDigest;
    hour.value = String(server.hour);
    // "" is the site's zone: this device's is the better guess of where the reader is (saved
    // with the next save, as a change).
    zone.value = server.zone || here;
    quiet.checked = server.quiet !== null;
    from.value = server.quiet?.from ?? "22:00";
    to.value = server.quiet?.to ?? "07:00";
    fill(zones, [...new Set([zone.value, here, ...COMMON_ZONES].filter(Boolean))].map((name) => h("option", { value: name })));
    showDependent();
  };

  form.addEventListener("change", showDependent);
  zone.addEventListener("input", showDependent);
  quiet.addEventListener("change", () => {
    if (quiet.checked) from.focus();
  });
  useHere.addEventListener("click", () => {
    zone.value = here;
    showDependent();
    zone.focus();
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors();
    const patch = changes();
    if (Object.keys(patch).length === 0) {
      status.textContent = "Nothing to save: these are your settings already.";
      return;
    }
    save.disabled = true;
    status.textContent = "Saving…";
    try {
      const prefs = await apiRequest<Preferences>("PATCH", "/api/preferences/", patch);
      draw(prefs);
      status.textContent = `Saved: ${describe(chosen())}.`;
    } catch (e) {
      if (e instanceof HttpError && e.status === 400) {
        const left = showErrors(e.body);
        status.textContent = `Not saved: ${left.length ? left.join(" ") : "see the fields marked above."}`;
      } else {
        status.textContent = `Not saved: ${e instanceof HttpError ? e.message : "the server cannot be reached. Try again."}`;
      }
    } finally {
      save.disabled = false;
    }
  });

  return {
    section,
    draw,
    // Another tab saved: follow it, unless this one holds edits not saved yet.
    follow: (prefs) => {
      if (Object.keys(changes()).length === 0) draw(prefs);
      else current = fromServer(prefs); // what a save sends is still what differs from the server
    },
  };
}

const DESKTOP_STATES: Record<DesktopNotificationState, string> = {
  unsupported: "This browser cannot show desktop notifications from this site.",
  denied: "Blocked: this browser does not let the site show notifications. Allow them in the browser's site settings, then reload this page.",
  off: "Off in this browser.",
  on: "On in this browser: what arrives while no tab of this site is open shows as a desktop notification.",
};

/**
 * Desktop notifications for this browser (push.ts): a subscription belongs to the browser, not
 * to the preferences, so it is its own control, saved at once.
 */
function desktopControl(): HTMLElement {
  const button = h("button", { type: "button", id: "desktop-toggle", disabled: true, "aria-describedby": "desktop-state" }, "Enable desktop notifications");
  const state = h("p", { id: "desktop-state", className: "hint", role: "status", tabindex: "-1" }, "Checking this browser…");
  let current: DesktopNotificationState = "unsupported";
  const show = (next: DesktopNotificationState, note = "") => {
    current = next;
    button.textContent = next === "on" ? "Disable desktop notifications" : "Enable desktop notifications";
    button.disabled = next === "unsupported" || next === "denied";
    state.textContent = note ? `${note} ${DESKTOP_STATES[next]}` : DESKTOP_STATES[next];
  };
  button.addEventListener("click", async () => {
    const turningOn = current !== "on";
    button.disabled = true;
    state.textContent = turningOn ? "Turning on…" : "Turning off…";
    try {
      const next = turningOn ? await enableDesktopNotifications(apiRequest) : await disableDesktopNotifications(apiRequest);
      show(next, turningOn && next === "off" ? "Not turned on: the permission was not given." : "");
    } catch (e) {
      const reason = e instanceof HttpError ? e.message : e instanceof Error ? e.message : String(e);
      show(await desktopNotificationState().catch(() => current), `Could not turn ${turningOn ? "on" : "off"}: ${reason}.`);
    }
    // A button disabled under focus (the permission was just refused) drops focus to the page's top.
    if (button.disabled) state.focus();
    else button.focus();
  });
  void desktopNotificationState().then((s) => show(s), () => show("unsupported"));
  return h("div", { className: "field desktop" },
    h("h3", { id: "desktop-heading" }, "Desktop notifications"),
    h("p", { className: "hint" }, "Which categories reach the desktop is set by the Desktop column above."),
    button, state);
}

function fromServer(prefs: Preferences): DeliveryChoice {
  return {
    digest: prefs.digest?.email ?? "off",
    pushDigest: prefs.digest?.push ?? "off",
    hour: prefs.digest_hour ?? 8,
    zone: prefs.time_zone ?? "",
    // Rebuilt in one key order: PostgreSQL's jsonb hands {"to", "from"} back, and the change
    // check compares the JSON text.
    quiet: prefs.quiet_hours ? { from: prefs.quiet_hours.from, to: prefs.quiet_hours.to } : null,
  };
}

function describe(choice: DeliveryChoice): string {
  const mail = choice.digest === "off" ? "an email per notification" : choice.digest === "hourly" ? "an hourly digest" : `a daily digest at ${hourText(choice.hour)}`;
  const desktop = choice.pushDigest === "off" ? "" : choice.pushDigest === "hourly" ? "; desktop: an hourly digest" : `; desktop: a daily digest at ${hourText(choice.hour)}`;
  const quiet = choice.quiet ? `, quiet from ${choice.quiet.from} until ${choice.quiet.to}` : ", no quiet hours";
  return `${mail}${desktop} (${choice.zone || "the site's time zone"})${quiet}`;
}

/** A button that mutes or unmutes one topic (a project's, a room's) for the signed-in reader. */
export function muteButton(topic: string, what: string): HTMLButtonElement {
  let muted = false;
  const button = h("button", { type: "button", className: "mute-button", "aria-pressed": "false" }, `Mute this ${what}`);
  const show = () => {
    button.textContent = muted ? `Unmute this ${what}` : `Mute this ${what}`;
    button.setAttribute("aria-pressed", String(muted));
  };
  void apiRequest<Mute[]>("GET", "/api/mutes/")
    .then((list) => {
      muted = list.some((m) => m.topic === topic);
      show();
    })
    .catch(() => undefined);
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      if (muted) await apiRequest("DELETE", `/api/mutes/${encodeURIComponent(topic)}/`);
      else await apiRequest("POST", "/api/mutes/", { topic });
      muted = !muted;
      show();
    } catch {
      // the state shown stays what the server has
    } finally {
      button.disabled = false;
    }
  });
  return button;
}
