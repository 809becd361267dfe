/**
 * What calls the loop back later: timers, its interval, an idle callback, and the page's
 * online, offline and visibility events. One start of the loop sets them; its stop() cancels
 * every one at once, so nothing of a stopped loop runs afterwards.
 *
 * @module
 */

type IdleScope = { requestIdleCallback?: (cb: () => void) => number; cancelIdleCallback?: (handle: number) => void };

/** The pending callbacks of one loop. */
export interface Wakeups {
  /** Runs `work` after `ms`. */
  later(work: () => void, ms: number): void;
  /** Runs `work` every `ms` (one interval per loop). */
  every(work: () => void, ms: number): void;
  /** Runs `work` once the page is idle (soon, where there are no idle callbacks); replaces the one waiting. */
  idle(work: () => void): void;
  /** Listens to the page's connectivity and visibility (in a browser window). */
  onPage(online: () => void, offline: () => void, visible: () => void): void;
  /** Cancels every timer, the interval, the idle callback, and the page listeners. */
  cancelAll(): void;
}

// A closure rather than a class: its state needs no `this.` in the shipped code.
export function wakeups(): Wakeups {
  const timers = new Set<ReturnType<typeof setTimeout>>();
  let interval: ReturnType<typeof setInterval> | undefined;
  let cancelIdle: (() => void) | undefined;
  let detach: Array<() => void> = [];
  return {
    later(work, ms) {
      const timer = setTimeout(() => {
        timers.delete(timer);
        work();
      }, ms);
      timers.add(timer);
    },
    every(work, ms) {
      interval = setInterval(work, ms);
    },
    idle(work) {
      const go = () => {
        cancelIdle = undefined;
        work();
      };
      const scope = globalThis as IdleScope;
      cancelIdle?.();
      if (scope.requestIdleCallback) {
        const handle = scope.requestIdleCallback(go);
        cancelIdle = () => scope.cancelIdleCallback?.(handle);
      } else {
        const timer = setTimeout(go, 0);
        cancelIdle = () => clearTimeout(timer);
      }
    },
    onPage(online, offline, visible) {
      if (typeof window === 'undefined') return;
      const shown = () => {
        if (document.visibilityState === 'visible') visible();
      };
      window.addEventListener('online', online);
      window.addEventListener('offline', offline);
      document.addEventListener('visibilitychange', shown);
      detach.push(
        () => window.removeEventListener('online', online),
        () => window.removeEventListener('offline', offline),
        () => document.removeEventListener('visibilitychange', shown),
      );
    },
    cancelAll() {
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      clearInterval(interval);
      interval = undefined;
      cancelIdle?.();
      cancelIdle = undefined;
      for (const off of detach) off();
      detach = [];
    },
  };
}
