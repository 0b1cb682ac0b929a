/** The reconnect decision (`decide`): one pure function of how a connection ended and where the stream stands. */
import { describe, expect, it } from "vitest";
import { decide, type Ending, type StreamStanding } from "../src/reconnect.js";
import { CloseCode } from "../src/types.js";

const standing = (overrides: Partial<StreamStanding> = {}): StreamStanding => ({
  attempts: 0,
  maxAttempts: Infinity,
  transportFailures: 1,
  fallback: { afterFailures: 3 },
  once: false,
  ...overrides,
});
const ending = (overrides: Partial<Ending> = {}): Ending => ({ transportOpened: false, blocked: false, wasOpen: false, ...overrides });

describe("decide", () => {
  it("renews the credential on 4401, whatever else holds", () => {
    for (const wasOpen of [true, false]) {
      expect(decide(ending({ code: CloseCode.UNAUTHORIZED, transportOpened: true, wasOpen }), standing({ once: true }))).toEqual({ action: "renew" });
    }
  });

  it("stops for good on the terminal codes, and only on them", () => {
    for (const code of [CloseCode.FORBIDDEN, CloseCode.NOT_FOUND]) {
      expect(decide(ending({ code, transportOpened: true }), standing())).toEqual({ action: "stop", cause: "terminal" });
    }
    for (const code of [undefined, 1000, 1001, 1006, 1011, 1012, 1013, 3008, 4008, 4029, 4999]) {
      expect(decide(ending({ code, transportOpened: true, wasOpen: true }), standing()).action).toBe("retry");
    }
  });

  it("falls back at once when the transport is blocked, and after N failed handshakes otherwise", () => {
    expect(decide(ending({ blocked: true }), standing({ transportFailures: 1 }))).toEqual({ action: "fallback" });
    expect(decide(ending({ code: 1006 }), standing({ transportFailures: 2 }))).toEqual({ action: "retry" });
    expect(decide(ending({ code: 1006 }), standing({ transportFailures: 3 }))).toEqual({ action: "fallback" });
  });

  it("never falls back for a transport that worked, or when there is nothing to fall back to", () => {
    // a socket whose handshake completed (then closed: a server restart, a slow reader) is retried
    expect(decide(ending({ code: 1012, transportOpened: true, wasOpen: true }), standing({ transportFailures: 9 }))).toEqual({ action: "retry" });
    expect(decide(ending({ code: 1006 }), standing({ transportFailures: 9, fallback: null }))).toEqual({ action: "retry" });
    expect(decide(ending({ blocked: true }), standing({ fallback: null }))).toEqual({ action: "retry" });
  });

  it("stops a single attempt that failed before opening, and gives up after maxAttempts", () => {
    expect(decide(ending({ code: 1006 }), standing({ once: true }))).toEqual({ action: "stop", cause: "probe_failed" });
    expect(decide(ending({ code: 1006, transportOpened: true, wasOpen: true }), standing({ once: true }))).toEqual({ action: "retry" });
    expect(decide(ending({ code: 1006, transportOpened: true }), standing({ attempts: 5, maxAttempts: 5 }))).toEqual({ action: "stop", cause: "max_attempts" });
    // falling back is not giving up: the next transport starts its own attempts
    expect(decide(ending({ code: 1006 }), standing({ attempts: 5, maxAttempts: 5, transportFailures: 3 }))).toEqual({ action: "fallback" });
  });
});
