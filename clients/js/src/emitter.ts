/** A small typed event emitter: `on` returns its own unsubscribe function. */

export type Handler<T> = (payload: T) => void;
export type Unsubscribe = () => void;

export class Emitter<Events extends object> {
  private readonly handlers = new Map<keyof Events, Set<Handler<never>>>();

  on<K extends keyof Events>(type: K, handler: Handler<Events[K]>): Unsubscribe {
    let set = this.handlers.get(type);
    if (!set) {
      set = new Set();
      this.handlers.set(type, set);
    }
    // Wrapping makes the same function subscribable twice with two independent unsubscribes.
    const entry: Handler<Events[K]> = (payload) => handler(payload);
    set.add(entry as Handler<never>);
    return () => {
      set.delete(entry as Handler<never>);
    };
  }

  emit<K extends keyof Events>(type: K, payload: Events[K]): void {
    const set = this.handlers.get(type);
    if (!set || set.size === 0) return;
    // A snapshot, so handlers that unsubscribe (or subscribe) while we dispatch do not skip others.
    for (const handler of [...set]) {
      try {
        (handler as Handler<Events[K]>)(payload);
      } catch (error) {
        // One application handler that throws must not break the connection's state machine
        // or starve the other handlers; the error is still surfaced where the host shows them.
        reportHandlerError(error);
      }
    }
  }

  listenerCount(type: keyof Events): number {
    return this.handlers.get(type)?.size ?? 0;
  }

  clear(): void {
    this.handlers.clear();
  }
}

function reportHandlerError(error: unknown): void {
  const g = globalThis as { reportError?: (e: unknown) => void };
  if (typeof g.reportError === "function") g.reportError(error);
  else console.error("clarion-client: an event handler threw", error);
}
