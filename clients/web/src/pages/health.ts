/**
 * `/admin/health/`: the live system-health dashboard (`/ws/system-health/`, administrators only):
 * figures of the whole cluster, five charts drawn in the browser, and one row per server process.
 */
import { type HealthSnapshot, type SystemHealthServerFrame, systemHealthStream } from "clarion-client";
import { LineChart } from "../chart.js";
import { closedMessage, notice, type Page, streamStatus } from "../context.js";
import { fill, h } from "../dom.js";

const CAPACITY = 60; // 2 minutes at the default 2 s interval

function ms(seconds: number): string {
  const v = seconds * 1000;
  return `${Number(v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2))} ms`;
}
function rate(v: number): string {
  return v >= 100 ? `${v.toFixed(0)}/s` : `${Number(v.toFixed(1))}/s`;
}
const MB = 1048576;
function mb(megabytes: number): string {
  return `${Number(megabytes.toFixed(megabytes < 10 ? 1 : 0))} MB`;
}
function count(v: number): string {
  return String(Math.round(v * 100) / 100);
}
function shortProcess(p: { host: string; pid: number }): string {
  return `${p.host}:${p.pid}`;
}

export const healthPage: Page = (ctx) => {
  const { client, main } = ctx;
  ctx.setTitle("System health");
  const stream = client.openStream<SystemHealthServerFrame>(systemHealthStream);
  ctx.onLeave(() => stream.disconnect());

  const tile = (id: string, label: string) => {
    const value = h("dd", { id: `tile-${id}` }, "–");
    return { value, el: h("div", { className: "tile card" }, h("dt", null, label), value) };
  };
  const tiles = {
    processes: tile("processes", "Server processes"),
    connections: tile("connections", "Open sockets"),
    rate: tile("rate", "Frames out"),
    latency: tile("latency", "Delivery latency (median)"),
    database: tile("database", "Database"),
    redis: tile("redis", "Redis"),
    logs: tile("logs", "Warnings / errors (1 min)"),
  };
  const charts = {
    connections: new LineChart({ id: "chart-connections", title: "Connections", format: count, minMax: 4, capacity: CAPACITY }),
    messages: new LineChart({ id: "chart-messages", title: "Messages per second", format: rate, minMax: 2, capacity: CAPACITY }),
    latency: new LineChart({ id: "chart-latency", title: "Delivery latency", format: ms, minMax: 0.002, capacity: CAPACITY }),
    cpu: new LineChart({ id: "chart-cpu", title: "CPU (% of one core)", format: (v) => `${Number(v.toFixed(1))}%`, minMax: 10, capacity: CAPACITY }),
    memory: new LineChart({ id: "chart-memory", title: "Memory (resident)", format: mb, minMax: 128, capacity: CAPACITY }),
  };
  const meta = h("p", { className: "muted", id: "health-meta" }, "Waiting for the first snapshot…");
  const problem = h("div");
  const rows = h("tbody");
  const table = h(
    "table",
    { className: "processes" },
    h("caption", null, "Server processes"),
    h("thead", null, h("tr", null, ["Process", "Sockets", "Frames in/out", "Latency", "CPU", "Memory", "Database", "Redis"].map((t) => h("th", { scope: "col" }, t)))),
    rows,
  );

  fill(
    main,
    h("div", { className: "page-head" }, h("h1", null, "System health"), streamStatus(stream)),
    meta,
    problem,
    h("dl", { className: "tiles" }, Object.values(tiles).map((t) => t.el)),
    h("div", { className: "charts" }, Object.values(charts).map((c) => c.el)),
    // Scrolls sideways on a phone: focusable and named, so the keyboard can scroll it too.
    h("div", { className: "table-wrap", tabindex: "0", role: "region", "aria-label": "Server processes, scrollable" }, table),
  );

  const show = (s: HealthSnapshot) => {
    meta.textContent = `${s.partial ? "Partial (the shared store did not answer): this process only. " : ""}Updated every ${s.interval} s; last at ${new Date(s.at).toLocaleTimeString()}.`;
    tiles.processes.value.textContent = String(s.process_count);
    tiles.connections.value.textContent = String(s.connections_total);
    tiles.rate.value.textContent = rate(s.rates.frames_out);
    tiles.latency.value.textContent = s.delivery_latency.median === null ? "–" : ms(s.delivery_latency.median);
    tiles.database.value.textContent = s.database.status + (s.database.rtt_max !== null ? ` (${ms(s.database.rtt_max)})` : "");
    tiles.database.value.dataset.status = s.database.status;
    tiles.redis.value.textContent = s.redis.status + (s.redis.rtt_max !== null ? ` (${ms(s.redis.rtt_max)})` : "");
    tiles.redis.value.dataset.status = s.redis.status;
    tiles.logs.value.textContent = `${s.warnings_last_minute} / ${s.errors_last_minute}`;

    charts.connections.push({ total: s.connections_total, notifications: s.connections.notifications ?? 0 }, { total: "all sockets", notifications: "notifications" });
    charts.messages.push(
      { out: s.rates.frames_out, in: s.rates.frames_in, deliveries: s.rates.deliveries },
      { out: "frames out", in: "frames in", deliveries: "hub deliveries" },
    );
    charts.latency.push({ median: s.delivery_latency.median, max: s.delivery_latency.max }, { median: "median", max: "max" });
    const names = Object.fromEntries(s.processes.map((p) => [p.id, shortProcess(p)]));
    charts.cpu.push(Object.fromEntries(s.processes.map((p) => [p.id, p.cpu_percent])), names);
    charts.memory.push(Object.fromEntries(s.processes.map((p) => [p.id, p.rss_bytes / MB])), names);

    fill(
      rows,
      s.processes.map((p) => {
        const sockets = Object.values(p.connections).reduce((a, b) => a + b, 0);
        return h(
          "tr",
          null,
          h("th", { scope: "row" }, shortProcess(p)),
          h("td", null, String(sockets)),
          h("td", null, `${rate(p.rates.frames_in)} / ${rate(p.rates.frames_out)}`),
          h("td", null, p.delivery_latency === null ? "–" : ms(p.delivery_latency)),
          h("td", null, `${p.cpu_percent.toFixed(1)}%`),
          h("td", null, mb(p.rss_bytes / MB)),
          h("td", { title: p.database.error ?? "" }, p.database.status),
          h("td", { title: p.redis.error ?? "" }, p.redis.status),
        );
      }),
    );
  };

  stream.on("health", show);
  stream.on("closed", ({ cause, code }) => {
    const message = code === 4403 ? "The system-health dashboard is for administrators only." : closedMessage(cause, code, "dashboard");
    if (message) fill(problem, notice(message));
  });
  stream.connect();
};
