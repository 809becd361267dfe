// Polls `check` until it holds, for tests that drive browsers and servers from Node: resolves to
// how long it took, or throws after `timeoutMs` naming what it waited for and, when given,
// what `describe` says of the state at that moment.
export async function until(what, check, timeoutMs = 10_000, describe = async () => '') {
  const started = Date.now();
  for (;;) {
    if (await check()) return Date.now() - started;
    if (Date.now() - started > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}\n${await describe()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
