/**
 * Building DOM without markup strings. Every text, including everything the server sends, goes
 * in as a text node or an attribute value: nothing is ever parsed as HTML, so a notification
 * titled `<img src=x onerror=...>` shows those characters. Links that carry data go through
 * {@link safeHref}.
 */

export type Child = Node | string | number | null | undefined | false;
type AttrValue = string | number | boolean | null | undefined;
export type Attrs = Record<string, AttrValue | ((event: Event) => void)>;

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs?: Attrs | null,
  ...children: Array<Child | Child[]>
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  if (attrs) setAttrs(el, attrs);
  append(el, children);
  return el;
}

export function setAttrs(el: Element, attrs: Attrs): void {
  for (const [name, value] of Object.entries(attrs)) {
    if (typeof value === "function") {
      el.addEventListener(name.replace(/^on/, ""), value);
    } else if (value === false || value === null || value === undefined) {
      el.removeAttribute(name === "className" ? "class" : name);
    } else if (name === "className") {
      el.setAttribute("class", String(value));
    } else {
      el.setAttribute(name, value === true ? "" : String(value));
    }
  }
}

export function append(parent: Node, children: Array<Child | Child[]>): void {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    parent.appendChild(typeof child === "object" ? child : document.createTextNode(String(child)));
  }
}

/** Replace an element's content. */
export function fill(el: Element, ...children: Array<Child | Child[]>): void {
  el.replaceChildren();
  append(el, children);
}

const SVG = "http://www.w3.org/2000/svg";

/** A small inline icon from one path (24x24 viewBox), hidden from assistive technology. */
export function icon(path: string, className = "icon"): SVGSVGElement {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("class", className);
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  const p = document.createElementNS(SVG, "path");
  p.setAttribute("d", path);
  svg.appendChild(p);
  return svg;
}

export const ICONS = {
  bell: "M12 22a2.5 2.5 0 0 0 2.45-2h-4.9A2.5 2.5 0 0 0 12 22Zm7-6V11a7 7 0 0 0-5.5-6.84V3.5a1.5 1.5 0 0 0-3 0v.66A7 7 0 0 0 5 11v5l-2 2v1h18v-1l-2-2Z",
  check: "M9 16.2 4.8 12l-1.4 1.4L9 19 21 7l-1.4-1.4L9 16.2Z",
  close: "M19 6.4 17.6 5 12 10.6 6.4 5 5 6.4 10.6 12 5 17.6 6.4 19 12 13.4 17.6 19 19 17.6 13.4 12 19 6.4Z",
};

/**
 * A link target from data (a notification's `link`, a submission's `url`), or null when it is not
 * a plain http(s) URL or a path on this site: `javascript:` and `data:` URLs never become links.
 */
export function safeHref(raw: unknown): string | null {
  if (typeof raw !== "string" || !raw.trim()) return null;
  try {
    const url = new URL(raw.trim(), location.origin);
    return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
  } catch {
    return null;
  }
}

const relative = new Intl.RelativeTimeFormat("en", { numeric: "auto" });
const absolute = new Intl.DateTimeFormat("en", { dateStyle: "medium", timeStyle: "short" });

/** A `<time>` showing "3 minutes ago" (the full date in its title), refreshed by {@link refreshTimes}. */
export function timeAgo(iso: string): HTMLTimeElement {
  const el = h("time", { datetime: iso });
  renderTime(el);
  return el;
}

function renderTime(el: HTMLTimeElement): void {
  const when = new Date(el.dateTime);
  if (Number.isNaN(when.getTime())) return;
  const seconds = Math.round((when.getTime() - Date.now()) / 1000);
  const abs = Math.abs(seconds);
  let text: string;
  if (abs < 45) text = "just now";
  else if (abs < 3600) text = relative.format(Math.round(seconds / 60), "minute");
  else if (abs < 86_400) text = relative.format(Math.round(seconds / 3600), "hour");
  else text = relative.format(Math.round(seconds / 86_400), "day");
  el.textContent = text;
  el.title = absolute.format(when);
}

export function refreshTimes(root: ParentNode = document): void {
  root.querySelectorAll<HTMLTimeElement>("time[datetime]").forEach(renderTime);
}
