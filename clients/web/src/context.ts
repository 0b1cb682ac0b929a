/** What every page gets: the signed-in user, the shared client, and the place to draw. */
import type { ClarionClient, CloseCause, StreamConnection } from "clarion-client";
import type { Me } from "./api.js";
import { h } from "./dom.js";

export interface PageContext {
  me: Me;
  client: ClarionClient;
  main: HTMLElement;
  /** Set the document title (the unread count is prefixed by the shell). */
  setTitle(title: string): void;
  /** Called when the page is left (sign-out): close its streams. */
  onLeave(cleanup: () => void): void;
}

export type Page = (ctx: PageContext, params: Record<string, string>) => void | Promise<void>;

/**
 * A "live" indicator for one stream, updated from its state. Terminal closes (4403, 4404) are
 * reported by the page itself, which knows what they mean there.
 */
export function streamStatus(stream: StreamConnection): HTMLElement {
  const el = h("span", { className: "stream-status", role: "status", "data-state": stream.state });
  const show = (state: string) => {
    el.dataset.state = state;
    el.textContent = state === "open" ? "Live" : state === "closed" ? "Offline" : state === "connecting" ? "Connecting…" : "Reconnecting…";
  };
  show(stream.state);
  stream.on("state", ({ state }) => show(state));
  return el;
}

export function closedMessage(cause: CloseCause, code: number | undefined, what: string): string | null {
  if (cause !== "terminal") return cause === "unauthorized" ? "You are signed out." : null;
  if (code === 4403) return `You do not have access to this ${what}.`;
  if (code === 4404) return `There is no such ${what}.`;
  return `The server closed this ${what}'s stream.`;
}

export function notice(text: string, kind: "error" | "info" = "error"): HTMLElement {
  return h("p", { className: `notice notice-${kind}`, role: kind === "error" ? "alert" : "status" }, text);
}
