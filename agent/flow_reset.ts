/**
 * The agent's side of a refused TCP flow: egress drops its packets while
 * the sensors are attached, and the socket is destroyed so that TCP does
 * not send them again once they are gone.
 *
 * @module
 */

import type { NetworkEvent } from "../sensors/network.ts";
import { destroyTcpSocket } from "../sensors/sock_destroy.ts";

/** Refusals of a TCP flow the sensor made after connect() had passed. */
const FLOW_REFUSALS = new Set([
  "sni_not_allowed",
  "name_not_verified",
  "destination_changed",
]);

/**
 * Resets a TCP connection egress refused: it drops the flow's packets
 * while attached, but TCP would send what it holds again once the agent
 * stops; a destroyed socket sends nothing more.
 */
export function resetRefusedFlow(event: NetworkEvent): NetworkEvent {
  if (
    event.verdict === "deny" && event.protocol === "tcp" &&
    FLOW_REFUSALS.has(event.reason) && event.saddr && event.sport
  ) {
    destroyTcpSocket(event.pid, {
      family: event.family,
      saddr: event.saddr,
      sport: event.sport,
      daddr: event.daddr,
      dport: event.dport ?? 0,
    });
  }
  return event;
}
