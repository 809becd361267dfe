// The functions with every caller let in and the default limits and retention.
import { synclaneFunctions } from '../../../js/src/convex/server/index.js';

export const { push, pull, head, updateCursor, collectGarbage } = synclaneFunctions({ authorize: () => true });
