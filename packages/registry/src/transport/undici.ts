/// <reference path="./undici-modules.d.ts" />
import type * as Undici from 'undici';
import requestModule from 'undici/lib/api/api-request.js';
import AgentModule from 'undici/lib/dispatcher/agent.js';

// undici's index loads all it offers (fetch, WebSocket, caches, mocks, interceptors): about
// 135 ms of a CLI's start-up here. Without a proxy the transport needs the Agent and request(),
// which load in a third of that. undici is pinned to one version in the workspace catalog,
// because these paths are not its public API; every transport test goes through both.

export const Agent = AgentModule as typeof Undici.Agent;

const requestImpl = requestModule as (
  this: Undici.Dispatcher,
  options: Undici.Dispatcher.RequestOptions,
) => Promise<Undici.Dispatcher.ResponseData>;

/** `dispatcher.request(options)`: the index adds it to Dispatcher's prototype; we call it directly. */
export function request(
  dispatcher: Undici.Dispatcher,
  options: Undici.Dispatcher.RequestOptions,
): Promise<Undici.Dispatcher.ResponseData> {
  return requestImpl.call(dispatcher, options);
}
