import { describe, expect, it, vi } from "vitest";
import { RecentKeys } from "../src/dedupe.js";
import { Emitter } from "../src/emitter.js";
import { BoundedQueue } from "../src/queue.js";
import { shouldReconnect } from "../src/types.js";

describe("RecentKeys", () => {
  it("reports duplicates and forgets the oldest beyond its capacity", () => {
    const keys = new RecentKeys<number>(3);
    expect([1, 2, 3].map((k) => keys.add(k))).toEqual([true, true, true]);
    expect(keys.add(2)).toBe(false);
    expect(keys.add(4)).toBe(true); // evicts 1
    expect(keys.size).toBe(3);
    expect(keys.has(1)).toBe(false);
    expect(keys.has(4)).toBe(true);
  });

  it("keeps memory bounded over a long run", () => {
    const keys = new RecentKeys<number>(100);
    for (let i = 0; i < 10_000; i++) keys.add(i);
    expect(keys.size).toBe(100);
    expect(keys.has(9_999)).toBe(true);
    expect(keys.has(9_899)).toBe(false);
  });
});

describe("BoundedQueue", () => {
  it("drops the oldest item when full and drains in order", () => {
    const queue = new BoundedQueue<string>(2);
    expect(queue.push("a")).toEqual({});
    expect(queue.push("b")).toEqual({});
    expect(queue.push("c")).toEqual({ dropped: "a" });
    expect(queue.drain()).toEqual(["b", "c"]);
    expect(queue.size).toBe(0);
  });
});

describe("Emitter", () => {
  it("on() returns an unsubscribe function", () => {
    const emitter = new Emitter<{ ping: number }>();
    const seen: number[] = [];
    const off = emitter.on("ping", (n) => seen.push(n));
    emitter.emit("ping", 1);
    off();
    emitter.emit("ping", 2);
    expect(seen).toEqual([1]);
    expect(emitter.listenerCount("ping")).toBe(0);
  });

  it("keeps dispatching when a handler throws", () => {
    const reportError = vi.fn();
    vi.stubGlobal("reportError", reportError);
    const emitter = new Emitter<{ ping: number }>();
    const seen: number[] = [];
    emitter.on("ping", () => {
      throw new Error("handler bug");
    });
    emitter.on("ping", (n) => seen.push(n));
    emitter.emit("ping", 7);
    expect(seen).toEqual([7]);
    expect(reportError).toHaveBeenCalledOnce();
    vi.unstubAllGlobals();
  });
});

describe("shouldReconnect (mirrors clarion.protocol.codes)", () => {
  it("retries everything except 4401, 4403 and 4404", () => {
    for (const code of [1000, 1001, 1003, 1006, 1009, 1011, 1012, 1013, 4008, 4029, 4000, null]) {
      expect(shouldReconnect(code)).toBe(true);
    }
    for (const code of [4401, 4403, 4404]) expect(shouldReconnect(code)).toBe(false);
  });
});
