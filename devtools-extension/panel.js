// The synclane DevTools panel: the package's panel (./devtools/, the same code as the
// <synclane-devtools> element) fed from the inspected page's registry
// (globalThis.__SYNCLANE_DEVTOOLS__) through chrome.devtools.inspectedWindow.eval.
import { chromeInspectedEval, createEvalSource, mountDevtoolsPanel } from './devtools/index.js';

const devtools = globalThis.chrome?.devtools;
const app = document.getElementById('app');

if (!devtools?.inspectedWindow) {
  app.textContent = 'This page runs inside Chrome DevTools (the "synclane" panel).';
} else {
  const theme = devtools.panels?.themeName === 'dark' ? 'dark' : 'light';
  document.body.classList.toggle('theme-dark', theme === 'dark');
  let shown = true;
  const source = createEvalSource(chromeInspectedEval(devtools.inspectedWindow));
  // Polls the inspected page only while the panel is shown (and the DevTools window visible).
  const panel = mountDevtoolsPanel(app, source, { theme, isActive: () => shown });
  // devtools.js calls this when the panel is shown or hidden.
  window.synclanePanelShown = (visible) => {
    shown = visible;
    if (visible) void panel.refresh();
  };
  // A navigation replaces the page's engines: look for the new ones at once.
  devtools.network?.onNavigated?.addListener(() => void panel.refresh());
  window.synclanePanel = panel;
}
