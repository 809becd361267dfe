// The functions with every caller let in and pages of at most 1 KiB of payloads, so a test can
// fill a page with a few records.
import { synclaneFunctions } from '../../../js/src/convex/server/index.js';

export const { push, pull, head, updateCursor, collectGarbage } = synclaneFunctions({
  authorize: () => true,
  limits: { maxPageBytes: 1024 },
});
