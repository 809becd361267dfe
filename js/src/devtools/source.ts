/**
 * Sources for the panel: in the page (over the page's registry, for one engine or all of
 * them) and in the Chrome DevTools extension (over `chrome.devtools.inspectedWindow.eval`,
 * which cannot await a promise: a request is started in the page and its result polled for).
 *
 * @module
 */

import { createDevtoolsRegistry, DEVTOOLS_GLOBAL, DevtoolsError, getDevtoolsRegistry } from './hook.js';
import type { DevtoolsEventsPage, DevtoolsMethod, DevtoolsResponse, DevtoolsSource, EngineInspection, EngineSummary, InspectableEngine } from './types.js';

/**
 * A source over the page's own engines: every registered engine, or only `engine` (which it
 * registers). Works when the page turned the global registry off, with a private one.
 */
export function createPageSource(engine?: InspectableEngine): DevtoolsSource {
  const registry = getDevtoolsRegistry(true) ?? createDevtoolsRegistry();
  if (!engine) return registry;
  const id = registry.register(engine);
  return {
    engines: async () => (await registry.engines()).filter((e) => e.id === id),
    inspect: (engineId, options) => registry.inspect(engineId, options),
    events: (engineId, afterSeq) => registry.events(engineId, afterSeq),
    retryOp: (engineId, opId) => registry.retryOp(engineId, opId),
    discardOp: (engineId, opId) => registry.discardOp(engineId, opId),
  };
}

/** Evaluates an expression in the inspected page and resolves to its (JSON) value. */
export type InspectedEval = (expression: string) => Promise<unknown>;

/** The part of `chrome.devtools.inspectedWindow` that {@link chromeInspectedEval} uses. */
export interface ChromeInspectedWindow {
  eval(
    expression: string,
    options: Record<string, unknown>,
    callback: (result: unknown, exceptionInfo?: { isError?: boolean; isException?: boolean; description?: string; value?: unknown; code?: string }) => void,
  ): void;
}

/** `chrome.devtools.inspectedWindow.eval` as an {@link InspectedEval}; exceptions reject. */
export function chromeInspectedEval(inspectedWindow: ChromeInspectedWindow): InspectedEval {
  return (expression) =>
    new Promise((resolve, reject) => {
      inspectedWindow.eval(expression, {}, (result, exceptionInfo) => {
        if (exceptionInfo && (exceptionInfo.isError || exceptionInfo.isException)) {
          const detail = exceptionInfo.description ?? (exceptionInfo.value !== undefined ? String(exceptionInfo.value) : exceptionInfo.code ?? 'eval failed');
          reject(new DevtoolsError('eval_failed', detail));
        } else {
          resolve(result);
        }
      });
    });
}

/** Options of {@link createEvalSource}. */
export interface EvalSourceOptions {
  /** Longest wait between two polls of a pending request (default 50 ms). */
  maxPollMs?: number;
  /** A request not settled after this long fails with `timeout` (default 20 s). */
  timeoutMs?: number;
}

/**
 * A source over another page's registry (`globalThis.__SYNCLANE_DEVTOOLS__`), reached through
 * `evaluate`: the DevTools extension passes `chromeInspectedEval(chrome.devtools.inspectedWindow)`.
 * `engines` and `events` are answered in one evaluation; the others start a request in the
 * page and poll for its result.
 */
export function createEvalSource(evaluate: InspectedEval, options: EvalSourceOptions = {}): DevtoolsSource {
  const maxPollMs = options.maxPollMs ?? 50;
  const timeoutMs = options.timeoutMs ?? 20_000;
  const prefix = `sl-${Math.random().toString(36).slice(2, 10)}`;
  let counter = 0;
  const registry = `globalThis[${JSON.stringify(DEVTOOLS_GLOBAL)}]`;
  // Evaluates `body` with `r` bound to the page's registry, or answers `missing` without one.
  const withRegistry = (body: string, missing: string): string =>
    `(function (r) { return r && typeof r === 'object' && typeof r.request === 'function' ? (${body}) : ${missing}; })(${registry})`;

  const syncCall = async (method: 'engines' | 'events', args: unknown[]): Promise<unknown> => {
    const call = `r.call(${JSON.stringify(method)}, ${JSON.stringify(args)})`;
    const answer = (await evaluate(
      withRegistry(
        `typeof r.call !== 'function' ? { noCall: true } : (function () { try { return { ok: ${call} }; } catch (e) { return { error: { code: String((e && e.code) || 'error'), message: String((e && e.message) || e) } }; } })()`,
        '{ missing: true }',
      ),
    )) as { ok?: unknown; missing?: boolean; noCall?: boolean; error?: { code: string; message: string } } | undefined;
    if (!answer || answer.missing) return undefined;
    if (answer.noCall) return request(method, args);
    if (answer.error) throw new DevtoolsError(answer.error.code, answer.error.message);
    return answer.ok;
  };

  const request = async (method: DevtoolsMethod, args: unknown[]): Promise<unknown> => {
    counter += 1;
    const id = `${prefix}-${counter}`;
    const started = await evaluate(withRegistry(`r.request(${JSON.stringify(id)}, ${JSON.stringify(method)}, ${JSON.stringify(args)})`, 'false'));
    if (started !== true) throw new DevtoolsError('no_registry', 'the inspected page has no synclane engine (no __SYNCLANE_DEVTOOLS__)');
    const deadline = Date.now() + timeoutMs;
    let wait = 4;
    for (;;) {
      await new Promise((r) => setTimeout(r, wait));
      wait = Math.min(maxPollMs, wait * 2);
      const response = (await evaluate(withRegistry(`r.take(${JSON.stringify(id)})`, `{ state: 'unknown' }`))) as DevtoolsResponse | undefined;
      if (!response || response.state === 'unknown') throw new DevtoolsError('lost', 'the request was lost (the page reloaded?)');
      if (response.state === 'done') {
        if (response.ok) return response.value;
        throw new DevtoolsError(response.error.code, response.error.message);
      }
      if (Date.now() > deadline) throw new DevtoolsError('timeout', `${method} did not answer within ${timeoutMs} ms`);
    }
  };

  return {
    engines: async () => ((await syncCall('engines', [])) as EngineSummary[] | undefined) ?? [],
    events: async (engineId, afterSeq) => {
      const page = (await syncCall('events', [engineId, afterSeq])) as DevtoolsEventsPage | undefined;
      if (!page) throw new DevtoolsError('no_registry', 'the inspected page has no synclane engine');
      return page;
    },
    inspect: async (engineId, inspectOptions) => (await request('inspect', [engineId, inspectOptions])) as EngineInspection,
    retryOp: async (engineId, opId) => {
      await request('retryOp', [engineId, opId]);
    },
    discardOp: async (engineId, opId) => {
      await request('discardOp', [engineId, opId]);
    },
  };
}
