/**
 * The panel's stylesheet. It lives inside the panel's shadow root, and `.sl-root` resets every
 * inherited property, so the panel neither leaks styles into the app nor inherits the app's.
 *
 * @module
 */

export const PANEL_CSS = `
.sl-root {
  all: initial;
  display: flex;
  flex-direction: column;
  gap: 8px;
  box-sizing: border-box;
  width: 100%;
  height: 100%;
  min-height: 0;
  overflow: auto;
  padding: 8px;
  font: 12px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  color: var(--sl-fg);
  background: var(--sl-bg);
  --sl-bg: #ffffff;
  --sl-fg: #1f2328;
  --sl-muted: #6e7781;
  --sl-border: #d0d7de;
  --sl-head: #f6f8fa;
  --sl-hover: #f3f6fa;
  --sl-accent: #0969da;
  --sl-ok: #1a7f37;
  --sl-warn: #9a6700;
  --sl-bad: #cf222e;
  --sl-badge: #eaeef2;
}
.sl-root.sl-theme-dark {
  --sl-bg: #202124; --sl-fg: #e3e3e3; --sl-muted: #9aa0a6; --sl-border: #3c4043; --sl-head: #292a2d;
  --sl-hover: #2f3134; --sl-accent: #8ab4f8; --sl-ok: #81c995; --sl-warn: #fdd663; --sl-bad: #f28b82; --sl-badge: #35363a;
}
@media (prefers-color-scheme: dark) {
  .sl-root.sl-theme-auto {
    --sl-bg: #202124; --sl-fg: #e3e3e3; --sl-muted: #9aa0a6; --sl-border: #3c4043; --sl-head: #292a2d;
    --sl-hover: #2f3134; --sl-accent: #8ab4f8; --sl-ok: #81c995; --sl-warn: #fdd663; --sl-bad: #f28b82; --sl-badge: #35363a;
  }
}
.sl-root *, .sl-root *::before, .sl-root *::after { box-sizing: border-box; }
.sl-root [hidden] { display: none !important; }
.sl-header { display: flex; align-items: center; gap: 8px; flex-wrap: wrap; }
.sl-title { font-weight: 600; font-size: 13px; }
.sl-engine-label { color: var(--sl-muted); font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
.sl-live { margin-left: auto; color: var(--sl-muted); }
.sl-live[data-state="error"] { color: var(--sl-bad); }
.sl-message { padding: 12px; color: var(--sl-muted); border: 1px dashed var(--sl-border); border-radius: 4px; }
.sl-error-line { color: var(--sl-bad); }
.sl-section { display: flex; flex-direction: column; gap: 4px; min-height: 0; }
.sl-section > h2 { all: unset; display: flex; gap: 8px; align-items: baseline; font-weight: 600; font-size: 12px; }
.sl-section > h2 .sl-sub { font-weight: 400; color: var(--sl-muted); }
.sl-facts { display: flex; flex-wrap: wrap; gap: 4px 16px; padding: 6px 8px; border: 1px solid var(--sl-border); border-radius: 4px; background: var(--sl-head); }
.sl-fact { display: inline-flex; gap: 4px; align-items: baseline; }
.sl-fact > .sl-k { color: var(--sl-muted); }
.sl-fact > .sl-v { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
.sl-state-idle, .sl-state-live, .sl-state-ok { color: var(--sl-ok); }
.sl-state-syncing, .sl-state-bootstrapping, .sl-state-rescanning, .sl-state-pending, .sl-state-inFlight { color: var(--sl-accent); }
.sl-state-blocked, .sl-state-expired, .sl-state-coldStart { color: var(--sl-warn); }
.sl-state-error, .sl-state-failed { color: var(--sl-bad); }
.sl-table-wrap { overflow: auto; max-height: 45vh; border: 1px solid var(--sl-border); border-radius: 4px; }
.sl-table-wrap.sl-short { max-height: 25vh; }
.sl-root table { border-collapse: collapse; width: 100%; font: inherit; color: inherit; }
.sl-root th, .sl-root td { padding: 2px 6px; text-align: left; vertical-align: top; border-bottom: 1px solid var(--sl-border); white-space: nowrap; }
.sl-root th { position: sticky; top: 0; background: var(--sl-head); font-weight: 600; z-index: 1; }
.sl-root tbody tr:hover { background: var(--sl-hover); }
.sl-root td.sl-num { text-align: right; font-variant-numeric: tabular-nums; }
.sl-root td.sl-mono, .sl-mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
.sl-root td.sl-wrap { white-space: normal; max-width: 40ch; overflow-wrap: anywhere; }
.sl-root td .sl-small { display: block; color: var(--sl-muted); font-size: 11px; }
.sl-badge { display: inline-block; padding: 0 6px; border-radius: 8px; background: var(--sl-badge); font-size: 11px; }
.sl-root button, .sl-root input, .sl-root select {
  font: inherit; color: inherit; background: var(--sl-bg); border: 1px solid var(--sl-border); border-radius: 3px; padding: 1px 6px; margin: 0;
}
.sl-root button { cursor: pointer; }
.sl-root button:hover:not(:disabled) { border-color: var(--sl-accent); }
.sl-root button:disabled { opacity: 0.5; cursor: default; }
.sl-root button[data-action="discard"] { color: var(--sl-bad); }
.sl-actions { display: inline-flex; gap: 4px; }
.sl-event-controls { display: flex; gap: 6px; align-items: center; flex-wrap: wrap; }
.sl-event-controls input[type="search"] { min-width: 16ch; flex: 1 1 16ch; }
.sl-events-wrap { overflow: auto; max-height: 40vh; border: 1px solid var(--sl-border); border-radius: 4px; }
.sl-events { list-style: none; margin: 0; padding: 0; font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
.sl-events li { display: flex; gap: 8px; padding: 1px 6px; border-bottom: 1px solid var(--sl-border); cursor: pointer; white-space: nowrap; overflow: hidden; }
.sl-events li:hover { background: var(--sl-hover); }
.sl-events li .sl-ev-time { color: var(--sl-muted); flex: none; }
.sl-events li .sl-ev-name { color: var(--sl-accent); flex: none; }
.sl-events li .sl-ev-payload { overflow: hidden; text-overflow: ellipsis; color: var(--sl-muted); }
.sl-events li.sl-expanded { white-space: pre-wrap; flex-wrap: wrap; }
.sl-events li.sl-expanded .sl-ev-payload { white-space: pre-wrap; overflow: visible; flex-basis: 100%; color: var(--sl-fg); }
.sl-events li[data-name^="sync.error"], .sl-events li[data-name$="failed"], .sl-events li[data-name$=":error"] { background: color-mix(in srgb, var(--sl-bad) 8%, transparent); }
.sl-root meter { width: 80px; height: 10px; vertical-align: middle; }
`;
