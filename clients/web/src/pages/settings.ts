/**
 * `/settings/`: what the reader wants. Categories × channels (a locked category cannot be turned
 * off), muted topics, and the language notifications are written in. Each change is saved at
 * once (`PATCH /api/preferences/`, `DELETE /api/mutes/<topic>/`); other tabs follow through the
 * `preferences_changed` frame.
 */
import type { Mute, Preferences } from "clarion-client";
import { apiRequest, HttpError } from "../api.js";
import { notice, type Page } from "../context.js";
import { fill, h } from "../dom.js";

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
    h("section", { "aria-labelledby": "channels-heading" }, h("h2", { id: "channels-heading" }, "Notifications"), table,
      h("p", { className: "hint" }, "This server does not send email or desktop notifications yet; these choices are kept for when it does.")),
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
    drawMutes(muted);
  } catch (e) {
    main.append(notice(e instanceof HttpError ? e.message : "The server cannot be reached."));
    return;
  }
  // Another tab changed them: show what is true now.
  ctx.onLeave(client.on("preferences_changed", (data) => {
    drawPreferences(data);
    drawMutes(data.mutes);
  }));
};

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
