// Authorization: without an `authorize` every call is refused; with the app's rule, a caller
// reads and writes only the workspaces it may, and a refusal writes nothing and tells nothing.
import { describe, expect, test } from 'vitest';
import { api, backend, dump, errorOf, put, stampOf } from './setup.js';

type Backend = ReturnType<typeof backend>;

async function member(t: Backend, user: string, workspaceId: string, role: 'writer' | 'reader' = 'writer') {
  await t.run((ctx) => ctx.db.insert('members', { user, workspaceId, role }));
}

const ops = (pk: string) => [put('notes', pk, { id: pk }, stampOf(1, 'laptop', `${pk}-op`))];

/** Calls every function of a mount on `workspaceId`; returns the error code of each. */
async function codes(caller: ReturnType<Backend['withIdentity']> | Backend, functions: typeof api.synclane, workspaceId: string) {
  return {
    push: (await errorOf(caller.mutation(functions.push, { workspaceId, deviceId: 'laptop', ops: ops('x') }))).code,
    pull: (await errorOf(caller.query(functions.pull, { workspaceId, cursor: 0, limit: 10 }))).code,
    head: (await errorOf(caller.query(functions.head, { workspaceId }))).code,
    updateCursor: (await errorOf(caller.mutation(functions.updateCursor, { workspaceId, deviceId: 'laptop', version: 0 }))).code,
  };
}

describe('authorization', () => {
  test('without authorize, every call is refused: unauthorized anonymous, forbidden signed in', async () => {
    const t = backend();
    const all = (code: string) => ({ push: code, pull: code, head: code, updateCursor: code });
    expect(await codes(t, api.closed, 'acme')).toEqual(all('unauthorized'));
    expect(await codes(t.withIdentity({ subject: 'alice' }), api.closed, 'acme')).toEqual(all('forbidden'));
    expect(Object.values(await dump(t)).flat()).toEqual([]);
  });

  test('a member of A reads and writes A, and can neither read nor write B', async () => {
    const t = backend();
    await member(t, 'alice', 'A');
    await member(t, 'bob', 'B');
    const alice = t.withIdentity({ subject: 'alice' });
    const bob = t.withIdentity({ subject: 'bob' });
    await bob.mutation(api.synclane.push, { workspaceId: 'B', deviceId: 'phone', ops: ops('secret') });
    const pushed = await alice.mutation(api.synclane.push, { workspaceId: 'A', deviceId: 'laptop', ops: ops('mine') });
    expect(pushed.results[0]?.status).toBe('applied');
    expect((await alice.query(api.synclane.pull, { workspaceId: 'A', cursor: 0, limit: 10 })).changes.map((c) => c.pk)).toEqual(['mine']);
    expect(await alice.query(api.synclane.head, { workspaceId: 'A' })).toMatchObject({ version: 1 });
    expect(await alice.mutation(api.synclane.updateCursor, { workspaceId: 'A', deviceId: 'laptop', version: 1 })).toBeNull();

    const before = await dump(t);
    const forbidden = { push: 'forbidden', pull: 'forbidden', head: 'forbidden', updateCursor: 'forbidden' };
    expect(await codes(alice, api.synclane, 'B')).toEqual(forbidden);
    // The refusal is the same for a workspace that does not exist: it reveals nothing.
    expect(await codes(alice, api.synclane, 'nobody')).toEqual(forbidden);
    expect(await errorOf(alice.query(api.synclane.pull, { workspaceId: 'B', cursor: 99, limit: 10 }))).toEqual({
      code: 'forbidden',
      message: 'this caller may not use workspace "B"',
    });
    expect(await dump(t)).toEqual(before);
    // B's records are B's alone.
    expect((await bob.query(api.synclane.pull, { workspaceId: 'B', cursor: 0, limit: 10 })).changes.map((c) => c.pk)).toEqual(['secret']);
    expect(await codes(t, api.synclane, 'A')).toEqual({ push: 'unauthorized', pull: 'unauthorized', head: 'unauthorized', updateCursor: 'unauthorized' });
  });

  test('authorize is told whether the call writes: a reader pulls but cannot push', async () => {
    const t = backend();
    await member(t, 'alice', 'A');
    await member(t, 'carol', 'A', 'reader');
    const alice = t.withIdentity({ subject: 'alice' });
    const carol = t.withIdentity({ subject: 'carol' });
    await alice.mutation(api.synclane.push, { workspaceId: 'A', deviceId: 'laptop', ops: ops('n1') });
    expect((await carol.query(api.synclane.pull, { workspaceId: 'A', cursor: 0, limit: 10 })).changes).toHaveLength(1);
    expect(await carol.mutation(api.synclane.updateCursor, { workspaceId: 'A', deviceId: 'tablet', version: 1 })).toBeNull();
    const before = await dump(t);
    expect((await errorOf(carol.mutation(api.synclane.push, { workspaceId: 'A', deviceId: 'tablet', ops: ops('n2') }))).code).toBe('forbidden');
    expect(await dump(t)).toEqual(before);
  });

  test('a batch of bad shape is refused as such before authorization; its content only after', async () => {
    // As the reference server parses the body, then authorizes, then validates.
    const t = backend();
    const anonymous = (opsArg: unknown[]) => errorOf(t.mutation(api.synclane.push, { workspaceId: 'A', deviceId: 'd', ops: opsArg as never }));
    expect((await anonymous([{ tableName: 'notes' }])).code).toBe('invalid_change');
    expect((await anonymous([{ ...ops('x')[0], payload: '[1]' }])).code).toBe('unauthorized');
  });
});
