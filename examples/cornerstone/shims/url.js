// The browser's own URL classes for bundled code that requires Node's `url` at load time
// (xmlbuilder2, reached through vtk.js) and never uses it in a page.
export const URL = globalThis.URL;
export const URLSearchParams = globalThis.URLSearchParams;
export default { URL, URLSearchParams };
