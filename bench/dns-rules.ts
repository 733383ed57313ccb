/** One of the seed's NOTRACK rules for a busy DNS server. */
export interface DnsRule {
  name: string;
  chain: "PREROUTING" | "OUTPUT";
  protocol: "tcp" | "udp";
  sourcePort?: number;
  destinationPort?: number;
}

/**
 * The seed's eight rules: port 53 over TCP and UDP, arriving and leaving, as a server and as a
 * recursive client.
 */
export const DNS_RULES: readonly DnsRule[] = (["tcp", "udp"] as const).flatMap((protocol) => [
  { name: `pre-${protocol}-dport53`, chain: "PREROUTING" as const, protocol, destinationPort: 53 },
  { name: `pre-${protocol}-sport53`, chain: "PREROUTING" as const, protocol, sourcePort: 53 },
  { name: `out-${protocol}-sport53`, chain: "OUTPUT" as const, protocol, sourcePort: 53 },
  { name: `out-${protocol}-dport53`, chain: "OUTPUT" as const, protocol, destinationPort: 53 },
]);
