// The functions mounted without an `authorize`: every call must be refused.
import { synclaneFunctions } from '../../../js/src/convex/server/index.js';

export const { push, pull, head, updateCursor, collectGarbage } = synclaneFunctions();
