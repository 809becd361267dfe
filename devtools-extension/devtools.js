// Runs in the extension's DevTools page: adds the "synclane" panel and tells it when it is
// shown or hidden, so that it polls the inspected page only while someone looks at it.
chrome.devtools.panels.create('synclane', 'icons/icon-32.png', 'panel.html', (panel) => {
  let panelWindow;
  panel.onShown.addListener((win) => {
    panelWindow = win;
    win.synclanePanelShown?.(true);
  });
  panel.onHidden.addListener(() => {
    panelWindow?.synclanePanelShown?.(false);
  });
});
