/**
 * `synclane/conformance`: the provider conformance kit on its own entry point, for test files
 * of custom providers.
 *
 * @packageDocumentation
 */

export * from './conformance/index.js';
