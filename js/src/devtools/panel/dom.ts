/**
 * DOM helpers of the panel's views: elements, the stylesheet in a shadow root, and the small
 * conversions every view uses.
 *
 * @module
 */

import { PANEL_CSS } from '../styles.js';

/** A `<tag>` with `attrs` (`class` as the class name) and `children`. */
export function el<K extends keyof HTMLElementTagNameMap>(doc: Document, tag: K, attrs: Record<string, string>, ...children: Array<Node | string>): HTMLElementTagNameMap[K] {
  const node = doc.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (name === 'class') node.className = value;
    else node.setAttribute(name, value);
  }
  if (children.length) node.append(...children);
  return node;
}

/** A table head of one row of `labels`. */
export function headRow(doc: Document, labels: string[]): HTMLTableSectionElement {
  return el(doc, 'thead', {}, el(doc, 'tr', {}, ...labels.map((l) => el(doc, 'th', {}, l))));
}

/** A section of the panel: a heading with a count beside it, then its content. */
export function section(doc: Document, attrs: Record<string, string>, title: string, count: HTMLElement, ...content: Node[]): HTMLElement {
  return el(doc, 'section', attrs, el(doc, 'h2', {}, title, count), ...content);
}

/** Sets `node`'s text unless it already reads so (a write would restart selections and layout). */
export function setText(node: Node, text: string): void {
  if (node.textContent !== text) node.textContent = text;
}

/** An error's `code` and `message`, whatever was thrown. */
export function describe(error: unknown): { code: string; message: string } {
  const e = error as { code?: unknown; message?: unknown } | null;
  return { code: typeof e?.code === 'string' ? e.code : 'error', message: typeof e?.message === 'string' ? e.message : String(error) };
}

/** JSON of any value, never throwing. */
export function safeJson(value: unknown, indent?: number): string {
  try {
    return JSON.stringify(value, null, indent) ?? 'undefined';
  } catch {
    return String(value);
  }
}

export function isShadowRoot(node: HTMLElement | ShadowRoot): node is ShadowRoot {
  return node.nodeType === 11 && 'host' in node;
}

/** Milliseconds, as precise as the platform gives them. */
export function now(): number {
  return typeof performance !== 'undefined' ? performance.now() : Date.now();
}

const sheets = new WeakMap<Document, CSSStyleSheet>();

/**
 * Puts the stylesheet in the shadow root: adopted when the browser can (constructed sheets are
 * not subject to the page's style CSP), else a `<style>`. Returns the function removing it.
 */
export function adoptStyles(doc: Document, shadow: ShadowRoot): () => void {
  const view = doc.defaultView as (Window & typeof globalThis) | null;
  if (view && 'adoptedStyleSheets' in shadow && typeof view.CSSStyleSheet?.prototype?.replaceSync === 'function') {
    let sheet = sheets.get(doc);
    if (!sheet) {
      sheet = new view.CSSStyleSheet();
      sheet.replaceSync(PANEL_CSS);
      sheets.set(doc, sheet);
    }
    const adopted = sheet;
    if (!shadow.adoptedStyleSheets.includes(adopted)) shadow.adoptedStyleSheets = [...shadow.adoptedStyleSheets, adopted];
    return () => {
      shadow.adoptedStyleSheets = shadow.adoptedStyleSheets.filter((s) => s !== adopted);
    };
  }
  const style = doc.createElement('style');
  style.textContent = PANEL_CSS;
  shadow.append(style);
  return () => style.remove();
}
