/**
 * `synclane/devtools`: the devtools panel (`<synclane-devtools>`, `mountDevtoolsPanel`), the
 * page-side registry that feeds it (`installDevtoolsHook`) and the sources it reads from (the
 * page itself, or another page through `chrome.devtools.inspectedWindow.eval`).
 *
 * @packageDocumentation
 */

export * from './devtools/index.js';
