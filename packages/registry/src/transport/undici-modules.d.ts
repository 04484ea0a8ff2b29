// The two undici modules the transport loads directly (see undici.ts). undici ships no types
// for its internal paths; undici.ts gives them the public types.
declare module 'undici/lib/dispatcher/agent.js' {
  const Agent: unknown;
  export default Agent;
}
declare module 'undici/lib/api/api-request.js' {
  const request: unknown;
  export default request;
}
