/**
 * Public surface of src/gateway: the web gateway (`vdc gateway serve`) and the tunnel
 * client library (`vdc tunnel`, and the node agent's `gateway` workload kind).
 */

export { ensureGatewayRegistered, type RunningGateway, startGateway } from './gateway-server.ts';
export { signTunnelGrant, signTunnelHello, type TunnelGrantTerms } from './tunnel-auth.ts';
export {
  certSpkiSha256,
  loadOrCreateTunnelCert,
  makeSelfSignedCert,
  type TunnelCert,
} from './tunnel-cert.ts';
export {
  isPermanentRefusal,
  type OpenTunnel,
  openTunnel,
  parseHostPort,
  type RunningTunnel,
  startTunnel,
  type TunnelOptions,
} from './tunnel-client.ts';
export type { HostPort, TunnelTarget } from './tunnel-forward.ts';
export { certSha256 } from './tunnel-tls.ts';
