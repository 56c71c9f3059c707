// The binary form of a cluster configuration: the data of a configuration log
// entry, and the configuration a snapshot records (on disk and on the wire), so a
// configuration survives restarts and reaches members that catch up by snapshot.
//
// Layout (varint = canonical unsigned LEB128; str = varint length + UTF-8):
//
//   u8 version (1) ‖ varint memberCount ‖ memberCount × (u8 role (0 voter, 1 learner) ‖
//   str id ‖ str raftAddr ‖ str httpAddr ‖ str grpcAddr)
//
// Members are in strictly increasing id order, so every configuration has exactly
// one encoding; a decoder refuses anything else, and trailing bytes.

import { ByteReader, ByteWriter, CorruptBytes, readUtf8, readVarint, utf8Bytes } from '../kv/bytes.js';
import type { Configuration, Member, MemberRole } from './membership.js';
import { compareIds, configuration } from './membership.js';
import { nodeId } from './types.js';

const version = 1;
/** Bounds on what a configuration may hold, so a corrupt length cannot make a decoder allocate without limit. */
export const membersMax = 255;
export const memberIdBytesMax = 64;
export const memberAddrBytesMax = 300;

const roleCodes: readonly MemberRole[] = ['voter', 'learner'];

export function encodeConfiguration(c: Configuration): Uint8Array {
  if (c.members.length > membersMax) throw new Error(`encodeConfiguration: ${c.members.length} members, more than ${membersMax}`);
  const w = new ByteWriter(64 + c.members.length * 64);
  w.u8(version);
  w.varint(c.members.length);
  const str = (s: string, bytesMax: number, what: string): void => {
    const b = utf8Bytes(s);
    if (b.length > bytesMax) throw new Error(`encodeConfiguration: ${what} of ${b.length} bytes`);
    w.varint(b.length);
    w.bytes(b);
  };
  for (const m of c.members) {
    w.u8(roleCodes.indexOf(m.role));
    str(m.id, memberIdBytesMax, 'an id');
    str(m.addrs.raftAddr, memberAddrBytesMax, 'an address');
    str(m.addrs.httpAddr, memberAddrBytesMax, 'an address');
    str(m.addrs.grpcAddr, memberAddrBytesMax, 'an address');
  }
  return w.take(w.length);
}

export type DecodedConfiguration = { readonly ok: true; readonly config: Configuration } | { readonly ok: false; readonly reason: string };

export function decodeConfiguration(bytes: Uint8Array): DecodedConfiguration {
  try {
    const r = new ByteReader(bytes);
    const v = r.u8();
    if (v !== version) throw new CorruptBytes(`unknown configuration version ${v}`);
    const count = readVarint(r);
    if (count > membersMax) throw new CorruptBytes(`${count} members, more than ${membersMax}`);
    const members: Member[] = [];
    for (let k = 0; k < count; k++) {
      const roleCode = r.u8();
      const role = roleCodes[roleCode];
      if (role === undefined) throw new CorruptBytes(`unknown member role ${roleCode}`);
      const id = readUtf8(r, memberIdBytesMax, 'a member id');
      if (id === '') throw new CorruptBytes('an empty member id');
      const raftAddr = readUtf8(r, memberAddrBytesMax, 'a raft address');
      const httpAddr = readUtf8(r, memberAddrBytesMax, 'an http address');
      const grpcAddr = readUtf8(r, memberAddrBytesMax, 'a grpc address');
      const prev = members[members.length - 1];
      if (prev !== undefined && compareIds(prev.id, nodeId(id)) >= 0) throw new CorruptBytes('members not in strictly increasing id order');
      members.push({ id: nodeId(id), role, addrs: { raftAddr, httpAddr, grpcAddr } });
    }
    if (r.remaining !== 0) throw new CorruptBytes('trailing bytes');
    return { ok: true, config: configuration(members) };
  } catch (e) {
    if (e instanceof CorruptBytes) return { ok: false, reason: e.message };
    throw e;
  }
}
