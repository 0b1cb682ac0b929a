import { describe, expect, it } from "vitest";
import { backoffCeiling, backoffDelay, DEFAULT_BACKOFF } from "../src/backoff.js";

const options = { initialDelay: 1000, maxDelay: 30_000, factor: 2 };

describe("backoff", () => {
  it("doubles the ceiling per attempt up to the cap", () => {
    expect([0, 1, 2, 3, 4, 5, 6].map((a) => backoffCeiling(a, options))).toEqual([1000, 2000, 4000, 8000, 16_000, 30_000, 30_000]);
  });

  it("never exceeds the cap, even for absurd attempt counts", () => {
    for (const attempt of [50, 1024, 1e6, Number.MAX_SAFE_INTEGER]) {
      expect(backoffCeiling(attempt, options)).toBe(30_000);
      expect(backoffDelay(attempt, options, () => 0.999999)).toBeLessThan(30_000);
    }
  });

  it("is full jitter: anywhere in [0, ceiling)", () => {
    expect(backoffDelay(3, options, () => 0)).toBe(0);
    expect(backoffDelay(3, options, () => 0.5)).toBe(4000);
    expect(backoffDelay(3, options, () => 0.999999)).toBe(7999);
    // A misbehaving random source (returning 1) still stays below the ceiling.
    expect(backoffDelay(3, options, () => 1)).toBeLessThan(8000);
  });

  it("stays within bounds for many random draws", () => {
    for (let attempt = 0; attempt < 40; attempt++) {
      const ceiling = backoffCeiling(attempt, DEFAULT_BACKOFF);
      for (let i = 0; i < 50; i++) {
        const delay = backoffDelay(attempt, DEFAULT_BACKOFF);
        expect(delay).toBeGreaterThanOrEqual(0);
        expect(delay).toBeLessThan(ceiling);
        expect(Number.isInteger(delay)).toBe(true);
      }
    }
  });

  it("has defaults of 1 s initial and a 30 s cap", () => {
    expect(DEFAULT_BACKOFF).toEqual({ initialDelay: 1000, maxDelay: 30_000, factor: 2 });
  });
});
