/// <reference path="./undici-modules.d.ts" />
import type * as Undici from 'undici';

// undici's index loads all it offers (fetch, WebSocket, caches, mocks, interceptors): in a cold
// process here 2 to 2.5 times what the two modules the transport needs without a proxy cost, its
// Agent and request() (about 150 against 65 ms on an idle machine; bench/cases/undici-load.mjs,
// bench/results/undici-load.md). Those two are
// loaded by their paths inside the package, which are not undici's public API: if a version in
// our range moved them, the public index is used instead. test/undici-internals.test.ts checks
// that the installed undici still has them and that they are the very Agent and request() its
// index exports.

/** What the transport needs of undici. */
export interface UndiciCore {
  Agent: typeof Undici.Agent;
  /** `dispatcher.request(options)`. */
  request(
    dispatcher: Undici.Dispatcher,
    options: Undici.Dispatcher.RequestOptions,
  ): Promise<Undici.Dispatcher.ResponseData>;
  /** Which way it was loaded. */
  via: 'internal-modules' | 'index';
}

type RequestImpl = (
  this: Undici.Dispatcher,
  options: Undici.Dispatcher.RequestOptions,
) => Promise<Undici.Dispatcher.ResponseData>;

/** Agent and request() from their own modules; undefined when this undici has them elsewhere. */
export async function loadInternal(): Promise<UndiciCore | undefined> {
  try {
    const [req, agent] = await Promise.all([
      import('undici/lib/api/api-request.js'),
      import('undici/lib/dispatcher/agent.js'),
    ]);
    const requestImpl = req.default as RequestImpl;
    const Agent = agent.default as typeof Undici.Agent;
    if (typeof requestImpl !== 'function' || typeof Agent !== 'function') return undefined;
    return { Agent, request: (d, o) => requestImpl.call(d, o), via: 'internal-modules' };
  } catch {
    return undefined;
  }
}

/** Agent and request() from undici's public index. */
export async function loadIndex(): Promise<UndiciCore> {
  const { Agent } = await import('undici');
  return { Agent, request: (d, o) => d.request(o), via: 'index' };
}

let core: Promise<UndiciCore> | undefined;

/** undici's Agent and request(), loaded on first use (the internal modules if present, else the index). */
export function undiciCore(): Promise<UndiciCore> {
  core ??= loadInternal().then((c) => c ?? loadIndex());
  return core;
}
