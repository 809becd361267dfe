// The functions with every caller let in and the default limits, each wrapped so that its
// `ctx.db` counts what it reads and writes: the cost test (../cost.test.ts) and the benchmark's
// Convex cost table read the counts. Nothing of this is in the package: the wrapper takes the
// registered functions' handlers and runs them on a counting proxy of the database.
import { internalMutationGeneric, mutationGeneric, queryGeneric } from 'convex/server';
import { collectGarbageArgs, headArgs, pullArgs, pushArgs, updateCursorArgs } from '../../../js/src/convex/server/args.js';
import { synclaneFunctions } from '../../../js/src/convex/server/index.js';

/** What one function call did to the database. */
export type CallCost = {
  name: string;
  kind: 'query' | 'mutation';
  /** Index ranges and `get`s issued (each `query(...)` chain that was run, each `get`). */
  dbQueries: number;
  documentsRead: number;
  documentsWritten: number;
  /** Written documents by table (insert, patch, replace, delete). */
  writtenByTable: Record<string, number>;
  readByTable: Record<string, number>;
};

type Log = { calls: CallCost[] };
const KEY = '__synclaneConvexCost';
/** Every call made since the last {@link resetCosts}, in order (shared through globalThis). */
export function costLog(): Log {
  const g = globalThis as unknown as Record<string, Log | undefined>;
  return (g[KEY] ??= { calls: [] });
}
export function resetCosts(): void {
  costLog().calls = [];
}

const TERMINALS = new Set(['collect', 'take', 'first', 'unique', 'paginate']);

/** A proxy of a query chain: chaining stays counted, terminals count the documents they return. */
function countedQuery(inner: any, table: string, cost: CallCost, tableOfId: Map<string, string>): any {
  const read = (doc: any) => {
    if (doc === null || doc === undefined) return;
    cost.documentsRead += 1;
    cost.readByTable[table] = (cost.readByTable[table] ?? 0) + 1;
    if (typeof doc._id === 'string') tableOfId.set(doc._id, table);
  };
  return new Proxy(inner, {
    get(target, prop) {
      if (prop === Symbol.asyncIterator) {
        return () => {
          cost.dbQueries += 1;
          const it = target[Symbol.asyncIterator]();
          return {
            async next() {
              const step = await it.next();
              if (!step.done) read(step.value);
              return step;
            },
            async return(value?: unknown) {
              return it.return ? it.return(value) : { done: true, value };
            },
          };
        };
      }
      const value = target[prop];
      if (typeof value !== 'function') return value;
      if (typeof prop === 'string' && TERMINALS.has(prop)) {
        return async (...args: unknown[]) => {
          cost.dbQueries += 1;
          const result = await value.apply(target, args);
          if (Array.isArray(result)) result.forEach(read);
          else if (prop === 'paginate') (result as { page: unknown[] }).page.forEach(read);
          else read(result);
          return result;
        };
      }
      return (...args: unknown[]) => countedQuery(value.apply(target, args), table, cost, tableOfId);
    },
  });
}

/** A proxy of `ctx.db` that counts into `cost`. */
function countedDb(db: any, cost: CallCost): any {
  const tableOfId = new Map<string, string>();
  const wrote = (table: string) => {
    cost.documentsWritten += 1;
    cost.writtenByTable[table] = (cost.writtenByTable[table] ?? 0) + 1;
  };
  // patch/replace/delete take (id, ...) or (table, id, ...); the table of an id comes from the read that found it.
  const tableOf = (args: unknown[]) => {
    const id = args.length > 0 && typeof args[1] === 'string' && tableOfId.has(args[1]) ? args[1] : (args[0] as string);
    return tableOfId.get(id) ?? 'unknown';
  };
  return new Proxy(db, {
    get(target, prop) {
      const value = target[prop];
      if (typeof value !== 'function') return value;
      switch (prop) {
        case 'query':
          return (table: string) => countedQuery(value.call(target, table), table, cost, tableOfId);
        case 'get':
          return async (...args: unknown[]) => {
            cost.dbQueries += 1;
            const doc = await value.apply(target, args);
            if (doc !== null) {
              cost.documentsRead += 1;
              const table = typeof args[1] === 'string' ? String(args[0]) : 'unknown';
              cost.readByTable[table] = (cost.readByTable[table] ?? 0) + 1;
            }
            return doc;
          };
        case 'insert':
          return async (table: string, doc: unknown) => {
            wrote(table);
            const id = await value.call(target, table, doc);
            tableOfId.set(id, table);
            return id;
          };
        case 'patch':
        case 'replace':
        case 'delete':
          return (...args: unknown[]) => {
            wrote(tableOf(args));
            return value.apply(target, args);
          };
        default:
          return value.bind(target);
      }
    },
  });
}

const real = synclaneFunctions({ authorize: () => true });

function wrap(name: string, kind: 'query' | 'mutation', fn: unknown) {
  const handler = (fn as { _handler: (ctx: any, args: any) => Promise<any> })._handler;
  return async (ctx: any, args: any) => {
    const cost: CallCost = { name, kind, dbQueries: 0, documentsRead: 0, documentsWritten: 0, writtenByTable: {}, readByTable: {} };
    costLog().calls.push(cost);
    return handler({ ...ctx, db: countedDb(ctx.db, cost) }, args);
  };
}

export const push = mutationGeneric({ args: pushArgs, handler: wrap('push', 'mutation', real.push) });
export const pull = queryGeneric({ args: pullArgs, handler: wrap('pull', 'query', real.pull) });
export const head = queryGeneric({ args: headArgs, handler: wrap('head', 'query', real.head) });
export const updateCursor = mutationGeneric({ args: updateCursorArgs, handler: wrap('updateCursor', 'mutation', real.updateCursor) });
export const collectGarbage = internalMutationGeneric({
  args: collectGarbageArgs,
  handler: wrap('collectGarbage', 'mutation', real.collectGarbage),
});
