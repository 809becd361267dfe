// The functions with every caller let in, under the limits and retention of the golden vectors
// (tests/vectors/server-rules.json), which the vector tests replay through them.
import { synclaneFunctions } from '../../../js/src/convex/server/index.js';
import vectors from '../../vectors/server-rules.json';

const { config } = vectors;

export const { push, pull, head, updateCursor, collectGarbage } = synclaneFunctions({
  authorize: () => true,
  limits: {
    maxBatchLen: config.maxBatchLen,
    maxPayloadBytes: config.maxPayloadBytes,
    maxKeyBytes: config.maxKeyBytes,
    maxIdBytes: config.maxIdBytes,
    rejectFutureMs: config.rejectFutureMs,
    maxPullLimit: config.maxPullLimit,
  },
  retention: { tombstoneRetentionMs: config.tombstoneRetentionMs, deviceTtlMs: config.deviceTtlMs },
});
