/**
 * A small live line chart on a <canvas>: a fixed number of recent samples, one line per series,
 * a zero-based y axis with a few labelled grid lines. Series may come and go (one per server
 * process). The figure's caption and the canvas's label say the current values in words, for
 * those who cannot see the lines.
 */
import { h, fill } from "./dom.js";

export const COLORS = ["#1d5fd6", "#c2410c", "#047857", "#b91c1c", "#6d28d9", "#0e7490"];
const HEIGHT = 150;
const MARGIN = { right: 10, top: 10, bottom: 8 };

export interface ChartOptions {
  id: string;
  title: string;
  /** Formats a value for the axis and the caption (with its unit). */
  format: (value: number) => string;
  /** The y axis shows at least 0..minMax. */
  minMax: number;
  /** Samples kept. */
  capacity?: number;
}

interface Series {
  key: string;
  label: string;
  color: string;
}

export class LineChart {
  readonly el: HTMLElement;
  private readonly canvas: HTMLCanvasElement;
  private readonly legend: HTMLUListElement;
  private readonly summary: HTMLElement;
  private readonly series = new Map<string, Series>();
  private samples: Array<Map<string, number>> = [];
  private readonly capacity: number;

  constructor(private readonly options: ChartOptions) {
    this.capacity = options.capacity ?? 60;
    this.canvas = h("canvas", { role: "img", "aria-label": `${options.title}: no data yet` });
    this.legend = h("ul", { className: "legend" });
    this.summary = h("span", { className: "chart-now" }, "waiting for data");
    this.el = h(
      "figure",
      { className: "chart card", id: options.id, "data-points": "0" },
      h("figcaption", null, h("span", { className: "chart-title" }, options.title), this.summary),
      this.canvas,
      this.legend,
    );
    new ResizeObserver(() => this.draw()).observe(this.canvas);
  }

  /** Add one sample: a value per series key (a series missing from a sample has a gap there). */
  push(values: Record<string, number | null | undefined>, labels: Record<string, string> = {}): void {
    const sample = new Map<string, number>();
    for (const [key, value] of Object.entries(values)) {
      if (!this.series.has(key)) this.series.set(key, { key, label: labels[key] ?? key, color: COLORS[this.series.size % COLORS.length] as string });
      if (typeof value === "number" && Number.isFinite(value)) sample.set(key, value);
    }
    this.samples.push(sample);
    if (this.samples.length > this.capacity) this.samples = this.samples.slice(-this.capacity);
    // Forget series that left the window entirely (a process that stopped).
    for (const key of [...this.series.keys()]) if (!this.samples.some((s) => s.has(key))) this.series.delete(key);
    this.el.dataset.points = String(this.samples.length);
    this.describe();
    this.draw();
  }

  private describe(): void {
    const last = this.samples[this.samples.length - 1] ?? new Map<string, number>();
    const parts = [...this.series.values()].map((s) => {
      const value = last.get(s.key);
      return `${s.label} ${value === undefined ? "no data" : this.options.format(value)}`;
    });
    const text = parts.join(", ") || "no data";
    this.summary.textContent = `now: ${text}`;
    this.canvas.setAttribute("aria-label", `${this.options.title}, last ${this.samples.length} samples; now ${text}`);
    fill(
      this.legend,
      [...this.series.values()].map((s) => {
        const swatch = h("span", { className: "swatch", "aria-hidden": "true" });
        swatch.style.backgroundColor = s.color;
        return h("li", null, swatch, s.label);
      }),
    );
  }

  draw(): void {
    const width = this.canvas.clientWidth;
    if (width === 0) return;
    const ratio = window.devicePixelRatio || 1;
    if (this.canvas.width !== Math.round(width * ratio) || this.canvas.height !== Math.round(HEIGHT * ratio)) {
      this.canvas.width = Math.round(width * ratio);
      this.canvas.height = Math.round(HEIGHT * ratio);
    }
    const ctx = this.canvas.getContext("2d");
    if (!ctx) return;
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, width, HEIGHT);

    let max = this.options.minMax;
    for (const sample of this.samples) for (const v of sample.values()) max = Math.max(max, v);
    const step = niceStep(max / 4);
    const top = step * 4;
    ctx.font = "11px system-ui, sans-serif";
    const ticks = [0, 1, 2, 3, 4].map((k) => ({ value: step * k, text: this.options.format(step * k) }));
    const left = Math.ceil(Math.max(...ticks.map((t) => ctx.measureText(t.text).width))) + 10;
    const plotW = width - left - MARGIN.right;
    const plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
    const y = (v: number) => MARGIN.top + plotH - (v / top) * plotH;
    const x = (i: number) => left + (plotW * (i + this.capacity - this.samples.length)) / (this.capacity - 1);

    // Grid and y labels.
    ctx.textAlign = "right";
    ctx.textBaseline = "middle";
    for (const tick of ticks) {
      const gy = Math.round(y(tick.value)) + 0.5;
      ctx.strokeStyle = tick.value === 0 ? "#9aa3b2" : "#e3e7ee";
      ctx.lineWidth = 1;
      ctx.beginPath();
      ctx.moveTo(left, gy);
      ctx.lineTo(width - MARGIN.right, gy);
      ctx.stroke();
      ctx.fillStyle = "#5b6373";
      ctx.fillText(tick.text, left - 6, gy);
    }

    // One line per series, the first on top; a missing value breaks the line.
    ctx.lineWidth = 2;
    ctx.lineJoin = "round";
    for (const s of [...this.series.values()].reverse()) {
      ctx.strokeStyle = s.color;
      ctx.fillStyle = s.color;
      ctx.beginPath();
      let drawing = false;
      let last: { px: number; py: number } | null = null;
      for (let i = 0; i < this.samples.length; i++) {
        const v = this.samples[i]?.get(s.key);
        if (v === undefined) {
          drawing = false;
          continue;
        }
        const px = x(i);
        const py = y(v);
        if (drawing) ctx.lineTo(px, py);
        else ctx.moveTo(px, py);
        drawing = true;
        last = { px, py };
      }
      ctx.stroke();
      if (last) {
        ctx.beginPath();
        ctx.arc(last.px, last.py, 3, 0, Math.PI * 2);
        ctx.fill();
      }
    }
  }
}

/** A grid step for labels people read at a glance: 1, 2, 2.5 or 5 times a power of ten, at least `value`. */
function niceStep(value: number): number {
  if (!(value > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * power >= value * (1 - 1e-9)) return m * power;
  return 10 * power;
}
