import type { NodeId } from '../raft/types.js';

export interface AdmissionLimits {
  /** Unauthenticated upgraded connections, in total, outside the reserved room. */
  readonly pendingMax: number;
  /** The same, per remote address. */
  readonly pendingPerAddressMax: number;
  /** Places in the reserved room per configured peer. */
  readonly reservedPerPeerMax: number;
}

/** A pending connection's place; release() is idempotent. */
export interface PendingSlot {
  release(): void;
}

/**
 * Places for connections that upgraded but have not finished the peer handshake.
 *
 * Strangers share a general room bounded per remote address and in total, and are
 * refused when it is full. A dialer whose upgrade request carries a valid admission
 * token (src/transport/peer-auth.ts) goes to a room reserved for its node id
 * instead, so that no flood of strangers, not even from the peer's own address,
 * keeps a configured peer out. Each peer's room is tiny and the newest entrant
 * wins: a peer redials only when its previous attempt is dead, so the oldest place
 * is the stale one (evicted: its socket is destroyed).
 */
export class InboundAdmission {
  private generalTotal = 0;
  private readonly generalByAddress = new Map<string, number>();
  private readonly reserved = new Map<NodeId, { slot: PendingSlot; evict: () => void }[]>();

  constructor(private readonly limits: AdmissionLimits) {}

  /** Unauthenticated connections holding a place now, reserved ones included. */
  get pending(): number {
    let n = this.generalTotal;
    for (const room of this.reserved.values()) n += room.length;
    return n;
  }

  /**
   * A place for a connection from `remote`, in `peer`'s reserved room when its token
   * named one, or null when the general room is full. `evict` is called if a newer
   * attempt of the same peer takes the place.
   */
  admit(remote: string, peer: NodeId | null, evict: () => void): PendingSlot | null {
    return peer === null ? this.admitGeneral(remote) : this.admitReserved(peer, evict);
  }

  private admitGeneral(remote: string): PendingSlot | null {
    const fromAddress = this.generalByAddress.get(remote) ?? 0;
    if (this.generalTotal >= this.limits.pendingMax || fromAddress >= this.limits.pendingPerAddressMax) return null;
    this.generalTotal++;
    this.generalByAddress.set(remote, fromAddress + 1);
    let held = true;
    return {
      release: () => {
        if (!held) return;
        held = false;
        this.generalTotal--;
        const left = (this.generalByAddress.get(remote) ?? 1) - 1;
        if (left === 0) this.generalByAddress.delete(remote);
        else this.generalByAddress.set(remote, left);
      },
    };
  }

  private admitReserved(peer: NodeId, evict: () => void): PendingSlot {
    let room = this.reserved.get(peer);
    if (room === undefined) {
      room = [];
      this.reserved.set(peer, room);
    }
    const entry = {
      slot: {
        release: () => {
          const r = this.reserved.get(peer);
          const at = r?.indexOf(entry) ?? -1;
          if (r === undefined || at < 0) return;
          r.splice(at, 1);
          if (r.length === 0) this.reserved.delete(peer);
        },
      },
      evict,
    };
    while (room.length >= this.limits.reservedPerPeerMax) {
      const oldest = room.shift();
      oldest?.evict();
    }
    room.push(entry);
    return entry.slot;
  }
}
