/**
 * The web UI of the standalone Clarion server. One script for every page: the server sends the
 * same shell for `/`, `/projects/<id>/`, `/rooms/<key>/`, `/admin/send/`, `/admin/health/`,
 * `/admin/notifications/<id>/deliveries/` and `/settings/`,
 * and this draws the page the path names. Built by `npm run build` (scripts/build.mjs).
 */
import "./app.css";
import { ClarionClient, type Preferences } from "clarion-client";
import { apiRequest, HttpError, type Me, onSignedOut, signIn, signOut, tokenProvider } from "./api.js";
import { disableDesktopNotifications } from "./push.js";
import type { Page, PageContext } from "./context.js";
import { fill, h, refreshTimes } from "./dom.js";
import { NotificationCenter } from "./notifications.js";
import { composePage } from "./pages/compose.js";
import { deliveriesPage } from "./pages/deliveries.js";
import { healthPage } from "./pages/health.js";
import { homePage } from "./pages/home.js";
import { projectPage } from "./pages/project.js";
import { roomPage } from "./pages/room.js";
import { LANGUAGES, settingsPage } from "./pages/settings.js";

interface Config {
  debug: boolean;
  /** Whether the page was served to a signed-in session. */
  signedIn: boolean;
}

const config: Config = (() => {
  try {
    return JSON.parse(document.getElementById("clarion-config")?.textContent ?? "{}") as Config;
  } catch {
    return { debug: false, signedIn: true };
  }
})();

const app = document.getElementById("app") as HTMLElement;

// Tabs of the same browser share the session cookie: signing in or out in one tells the others.
const tabs = typeof BroadcastChannel === "function" ? new BroadcastChannel("clarion-ui") : null;

interface Route {
  page: Page;
  params: Record<string, string>;
  nav: string;
}

function route(path: string): Route | null {
  if (path === "/") return { page: homePage, params: {}, nav: "/" };
  let m = path.match(/^\/projects\/(\d+)\/$/);
  if (m) return { page: projectPage, params: { id: m[1] as string }, nav: "/" };
  m = path.match(/^\/rooms\/([A-Za-z0-9_-]{1,64})\/$/);
  if (m) return { page: roomPage, params: { key: m[1] as string }, nav: "/" };
  if (path === "/admin/send/") return { page: composePage, params: {}, nav: "/admin/send/" };
  if (path === "/admin/health/") return { page: healthPage, params: {}, nav: "/admin/health/" };
  m = path.match(/^\/admin\/notifications\/(\d+)\/deliveries\/$/);
  if (m) return { page: deliveriesPage, params: { id: m[1] as string }, nav: "/admin/send/" };
  if (path === "/settings/") return { page: settingsPage, params: {}, nav: "/settings/" };
  return null;
}

// -- signed out -----------------------------------------------------------------------------------

function showLogin(message?: string): void {
  document.title = "Sign in · Clarion";
  const username = h("input", { id: "username", name: "username", autocomplete: "username", required: true, autocapitalize: "none", spellcheck: "false" });
  const password = h("input", { id: "password", name: "password", type: "password", autocomplete: "current-password", required: true });
  const error = h("p", { className: "form-error", id: "login-error", role: "alert" }, message ?? "");
  const button = h("button", { type: "submit", className: "primary" }, "Sign in");
  const form = h(
    "form",
    { className: "card login-form", "aria-labelledby": "login-heading" },
    h("h1", { id: "login-heading" }, "Sign in to Clarion"),
    h("div", { className: "field" }, h("label", { for: "username" }, "Username"), username),
    h("div", { className: "field" }, h("label", { for: "password" }, "Password"), password),
    button,
    error,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    button.disabled = true;
    error.textContent = "";
    try {
      await signIn(username.value, password.value);
      tabs?.postMessage("signed-in");
      await start();
    } catch (e) {
      error.textContent = e instanceof HttpError ? e.message : "The server cannot be reached. Try again in a moment.";
      button.disabled = false;
      password.select();
    }
  });
  const demo = config.debug
    ? h(
        "aside",
        { className: "card demo", "aria-labelledby": "demo-heading" },
        h("h2", { id: "demo-heading" }, "Demo users"),
        h("p", null, "Password ", h("code", null, "demo-password"), " for each:"),
        h(
          "ul",
          null,
          h("li", null, h("code", null, "alice"), ", ", h("code", null, "bob"), ": students"),
          h("li", null, h("code", null, "carol"), ": advisor"),
          h("li", null, h("code", null, "dave"), ": admin"),
        ),
      )
    : null;
  fill(
    app,
    h(
      "main",
      { id: "main", className: "login", tabindex: "-1" },
      h("p", { className: "brand brand-large" }, "Clarion"),
      h("p", { className: "tagline" }, "Real-time notifications, project feeds and rooms."),
      form,
      demo,
    ),
  );
  app.removeAttribute("aria-busy");
  username.focus();
}

// -- signed in ------------------------------------------------------------------------------------

let client: ClarionClient | null = null;
let leaving: Array<() => void> = [];

function stopEverything(): void {
  for (const cleanup of leaving) cleanup();
  leaving = [];
  client?.disconnect({ forget: true });
  client = null;
}

function connectionLabel(c: ClarionClient): { text: string; state: string } {
  const { state, transport } = c.snapshot;
  if (state === "open") return { text: transport === "polling" ? "Live (polling)" : "Live", state: transport === "polling" ? "polling" : "live" };
  if (state === "connecting") return { text: "Connecting…", state };
  if (state === "reconnecting") return { text: "Reconnecting…", state };
  return { text: "Offline", state: "offline" };
}

function shell(me: Me, c: ClarionClient, nav: string): { main: HTMLElement; setTitle: (t: string) => void } {
  const toastRegion = h("div", { className: "toasts", "aria-live": "polite", "aria-relevant": "additions", "aria-label": "New notifications", role: "region" });
  let title = "Clarion";
  let unread = 0;
  const applyTitle = () => {
    document.title = (unread > 0 ? `(${unread}) ` : "") + title;
  };
  const center = new NotificationCenter(c, toastRegion, (count) => {
    unread = count;
    applyTitle();
  }, me.can_send);

  const status = h("span", { className: "conn", id: "connection", role: "status" });
  const showStatus = () => {
    const { text, state } = connectionLabel(c);
    status.textContent = text;
    status.dataset.state = state;
  };
  c.on("change", showStatus);
  showStatus();

  const link = (href: string, text: string) => h("a", { href, "aria-current": nav === href ? "page" : false }, text);
  const links = [link("/", "Home")];
  if (me.can_send) links.push(link("/admin/send/", "Send"), link("/admin/health/", "Health"));
  links.push(link("/settings/", "Settings"));

  // Thai or English: the language notifications are written in (the reader's preference).
  const language = h("select", { id: "ui-language", className: "language", "aria-label": "Language of notifications" },
    LANGUAGES.filter(([code]) => code !== "").map(([code, label]) => h("option", { value: code }, label)));
  void apiRequest<Preferences>("GET", "/api/preferences/").then((p) => {
    language.value = p.locale || "en";
  }).catch(() => undefined);
  language.addEventListener("change", () => {
    void apiRequest("PATCH", "/api/preferences/", { locale: language.value }).catch(() => undefined);
  });
  c.on("preferences_changed", (p) => {
    language.value = p.locale || "en";
  });

  const signOutButton = h("button", { type: "button", className: "link-button" }, "Sign out");
  signOutButton.addEventListener("click", async () => {
    signOutButton.disabled = true;
    // Stop and tell the other tabs first: the sign-out closes every socket of this session (4401),
    // and a tab that saw its socket close before this message would report "You were signed out."
    tabs?.postMessage("signed-out");
    center.reset();
    stopEverything();
    try {
      // This browser stops getting this reader's pushes: the next person on a shared computer
      // must not see them. Done while the session still authenticates the DELETE.
      await disableDesktopNotifications(apiRequest);
    } catch {
      // No subscription, or the server is away: the subscription is deleted at the next 404/410.
    }
    try {
      await signOut();
    } catch {
      // Signed out locally regardless; the session expires on its own.
    }
    showLogin();
  });

  const main = h("main", { id: "main", tabindex: "-1" });
  fill(
    app,
    h(
      "header",
      { className: "topbar" },
      h("a", { className: "brand", href: "/" }, "Clarion"),
      h("nav", { "aria-label": "Main" }, links),
      h("div", { className: "topbar-end" }, status, language, center.root, h("span", { className: "who" }, h("span", { className: "who-name" }, me.username), me.role ? h("span", { className: "who-role" }, me.role) : null), signOutButton),
    ),
    main,
    toastRegion,
  );
  app.removeAttribute("aria-busy");
  return {
    main,
    setTitle: (t) => {
      title = `${t} · Clarion`;
      applyTitle();
    },
  };
}

let firstStart = true;

async function start(): Promise<void> {
  stopEverything();
  if (firstStart && !config.signedIn) {
    firstStart = false;
    showLogin();
    return;
  }
  firstStart = false;
  let token: string | null | undefined;
  try {
    token = await tokenProvider({ reason: "connect" });
  } catch {
    fill(app, h("main", { id: "main", className: "login" }, h("p", { className: "notice notice-error", role: "alert" }, "The server cannot be reached. Retrying…")));
    setTimeout(() => void start(), 3000);
    return;
  }
  if (!token) {
    showLogin();
    return;
  }
  let me: Me;
  try {
    me = await apiRequest<Me>("GET", "/api/me/");
  } catch {
    showLogin();
    return;
  }
  const c = new ClarionClient({
    // A restarted server is found within seconds, not after a 30 s backoff.
    reconnect: { maxDelay: 10_000 },
    // When WebSockets are blocked, poll often enough that the page still feels live, and try
    // the socket again soon: a path that dropped it (a network change) often lets it back.
    fallback: { pollInterval: 5_000, retryInterval: 15_000 },
  });
  client = c;
  const found = route(location.pathname);
  const { main, setTitle } = shell(me, c, found?.nav ?? "");
  c.connect(tokenProvider);
  const ctx: PageContext = { me, client: c, main, setTitle, onLeave: (cleanup) => leaving.push(cleanup) };
  if (!found) {
    setTitle("Not found");
    fill(main, h("h1", null, "Page not found"), h("p", null, h("a", { href: "/" }, "Go to the home page")));
    return;
  }
  await found.page(ctx, found.params);
}

onSignedOut(() => {
  if (client) {
    stopEverything();
    showLogin("You were signed out.");
  }
});

tabs?.addEventListener("message", (event) => {
  if (event.data === "signed-out" && client) {
    stopEverything();
    showLogin("You signed out in another tab.");
  } else if (event.data === "signed-in" && !client) {
    void start();
  }
});

setInterval(() => refreshTimes(app), 30_000);
void start();
