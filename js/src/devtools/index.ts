/**
 * The devtools: a panel showing an engine's status, cursor, outbox, conflicts and events, for
 * the page (`<synclane-devtools>`, `mountDevtoolsPanel`) and the Chrome DevTools extension
 * (the same panel over `createEvalSource`), and the page-side registry that feeds them
 * (`installDevtoolsHook`).
 *
 * @module
 */

export {
  createDevtoolsRegistry,
  DEVTOOLS_EVENT_CAPACITY,
  DEVTOOLS_GLOBAL,
  DevtoolsError,
  getDevtoolsRegistry,
  installDevtoolsHook,
} from './hook.js';
export { errorSummary, summarize, type ErrorSummary, type SummaryLimits, type TruncatedArray } from './summary.js';
export {
  chromeInspectedEval,
  createEvalSource,
  createPageSource,
  type ChromeInspectedWindow,
  type EvalSourceOptions,
  type InspectedEval,
} from './source.js';
export { mountDevtoolsPanel, type DevtoolsCycleStats, type DevtoolsPanelHandle, type DevtoolsPanelOptions } from './panel.js';
export { defineDevtoolsElement, type SynclaneDevtoolsElement } from './element.js';
export type {
  ConflictRecord,
  DevtoolsEvent,
  DevtoolsEventsPage,
  DevtoolsInspectOptions,
  DevtoolsMethod,
  DevtoolsRegistry,
  DevtoolsResponse,
  DevtoolsSource,
  EngineInspection,
  EngineSummary,
  InspectableEngine,
  OutboxEntry,
} from './types.js';
