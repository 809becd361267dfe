/**
 * `<synclane-devtools>`: the panel as a custom element. `element.engine = engine` shows that
 * engine (read directly in the page); without an engine it lists the page's registered
 * engines; `element.source = source` feeds it from any {@link DevtoolsSource}.
 *
 * @module
 */

import { mountDevtoolsPanel, type DevtoolsCycleStats, type DevtoolsPanelHandle, type DevtoolsPanelOptions } from './panel.js';
import { createPageSource } from './source.js';
import type { DevtoolsSource, InspectableEngine } from './types.js';

/** The `<synclane-devtools>` element. */
export interface SynclaneDevtoolsElement extends HTMLElement {
  /** The engine to show; `undefined` lists every engine registered in the page. */
  engine: InspectableEngine | undefined;
  /** Another source (e.g. a remote page); takes precedence over `engine`. */
  source: DevtoolsSource | undefined;
  /** Panel options (limits, intervals, theme); the `theme` attribute also sets the theme. */
  options: DevtoolsPanelOptions;
  /** Refreshes now and resolves with the measurements (rejects when not connected). */
  refresh(): Promise<DevtoolsCycleStats>;
  /** Reads new events now. */
  pollEvents(): Promise<void>;
  /** The last refresh's measurements. */
  readonly lastCycle: DevtoolsCycleStats | undefined;
}

declare global {
  // So that `document.querySelector('synclane-devtools')` and
  // `document.createElement('synclane-devtools')` are typed as the element, and
  // `panel.engine = engine` type-checks. Only the default tag: another tag given to
  // `defineDevtoolsElement` needs a cast.
  interface HTMLElementTagNameMap {
    'synclane-devtools': SynclaneDevtoolsElement;
  }
}

const HOST_CSS = ':host { display: block; contain: content; } :host([hidden]) { display: none; }';

/**
 * Defines the custom element (once: a second call, or a tag some other copy of synclane already
 * defined, returns the existing definition).
 */
export function defineDevtoolsElement(tagName = 'synclane-devtools'): CustomElementConstructor {
  const existing = customElements.get(tagName);
  if (existing) return existing;

  class SynclaneDevtools extends HTMLElement implements SynclaneDevtoolsElement {
    #engine: InspectableEngine | undefined;
    #source: DevtoolsSource | undefined;
    #options: DevtoolsPanelOptions = {};
    #handle: DevtoolsPanelHandle | undefined;
    readonly #shadow: ShadowRoot;

    constructor() {
      super();
      this.#shadow = this.attachShadow({ mode: 'open' });
      const view = this.ownerDocument.defaultView as (Window & typeof globalThis) | null;
      if (view && typeof view.CSSStyleSheet?.prototype?.replaceSync === 'function') {
        const sheet = new view.CSSStyleSheet();
        sheet.replaceSync(HOST_CSS);
        this.#shadow.adoptedStyleSheets = [sheet];
      } else {
        const style = this.ownerDocument.createElement('style');
        style.textContent = HOST_CSS;
        this.#shadow.append(style);
      }
    }

    get engine(): InspectableEngine | undefined {
      return this.#engine;
    }

    set engine(engine: InspectableEngine | undefined) {
      if (engine === this.#engine) return;
      this.#engine = engine;
      this.#remount();
    }

    get source(): DevtoolsSource | undefined {
      return this.#source;
    }

    set source(source: DevtoolsSource | undefined) {
      if (source === this.#source) return;
      this.#source = source;
      this.#remount();
    }

    get options(): DevtoolsPanelOptions {
      return this.#options;
    }

    set options(options: DevtoolsPanelOptions) {
      this.#options = { ...options };
      this.#remount();
    }

    get lastCycle(): DevtoolsCycleStats | undefined {
      return this.#handle?.lastCycle;
    }

    refresh(): Promise<DevtoolsCycleStats> {
      return this.#handle ? this.#handle.refresh() : Promise.reject(new Error('<synclane-devtools> is not connected'));
    }

    pollEvents(): Promise<void> {
      return this.#handle ? this.#handle.pollEvents() : Promise.reject(new Error('<synclane-devtools> is not connected'));
    }

    connectedCallback(): void {
      // Properties set before the element was upgraded sit on the instance: pass them through.
      for (const name of ['engine', 'source', 'options'] as const) {
        if (Object.prototype.hasOwnProperty.call(this, name)) {
          const value = (this as Record<string, unknown>)[name];
          delete (this as Record<string, unknown>)[name];
          (this as Record<string, unknown>)[name] = value;
        }
      }
      if (!this.#handle) this.#remount();
    }

    disconnectedCallback(): void {
      this.#handle?.();
      this.#handle = undefined;
    }

    #remount(): void {
      this.#handle?.();
      this.#handle = undefined;
      if (!this.isConnected) return;
      const theme = this.getAttribute('theme');
      const source = this.#source ?? createPageSource(this.#engine);
      this.#handle = mountDevtoolsPanel(this.#shadow, source, {
        ...(theme === 'light' || theme === 'dark' || theme === 'auto' ? { theme } : {}),
        ...this.#options,
      });
    }
  }

  customElements.define(tagName, SynclaneDevtools);
  return SynclaneDevtools;
}
