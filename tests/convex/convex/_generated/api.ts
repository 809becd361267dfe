// Written by hand the way `npx convex codegen` writes convex/_generated/api.{js,d.ts}: codegen
// needs a configured deployment, which the tests do not have. Typed references to the test
// app's functions; at run time they are Convex's `anyApi`, which names a function by its path.
// convex-test also finds the root of the app's modules by this `_generated` folder.
import { anyApi } from 'convex/server';
import type { ApiFromModules, FilterApi, FunctionReference } from 'convex/server';
import type * as closed from '../closed.js';
import type * as counted from '../counted.js';
import type * as open from '../open.js';
import type * as smallPages from '../smallPages.js';
import type * as synclane from '../synclane.js';
import type * as synclaneDefaults from '../synclaneDefaults.js';

declare const fullApi: ApiFromModules<{
  closed: typeof closed;
  counted: typeof counted;
  open: typeof open;
  smallPages: typeof smallPages;
  synclane: typeof synclane;
  synclaneDefaults: typeof synclaneDefaults;
}>;

/** The public functions of the test app. */
export const api = anyApi as unknown as FilterApi<typeof fullApi, FunctionReference<any, 'public'>>;
/** The internal functions of the test app. */
export const internal = anyApi as unknown as FilterApi<typeof fullApi, FunctionReference<any, 'internal'>>;
