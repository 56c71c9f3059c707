// kvstore member list|add|remove|promote and kvstore leader transfer.
import type { KvClient, MembersList } from '../client/rest-client.js';
import { EXIT_OK, reportError, table, type CliIo } from './cli-io.js';

export interface MemberAddFlags {
  readonly raftAddr: string | undefined;
  readonly httpAddr: string | undefined;
  readonly grpcAddr: string | undefined;
  readonly learner: boolean;
}

function printMembers(io: CliIo, list: MembersList): void {
  const rows = [['ID', 'ROLE', 'RAFT ADDR', 'HTTP ADDR', 'GRPC ADDR']];
  for (const m of list.members) rows.push([m.id === list.leaderId ? `${m.id} *` : m.id, m.role, m.raft_addr, m.http_addr, m.grpc_addr]);
  io.stdout.write(table(rows));
  io.stdout.write(`configuration at index ${list.configIndex}${list.committed ? '' : ' (not committed yet: a change is in flight)'}; * leads\n`);
}

/** `member list [--stale]`, `member add ID --raft-addr A --http-addr H --grpc-addr G [--learner]`, `member promote ID`, `member remove ID`. */
export async function memberCommand(client: KvClient, io: CliIo, args: readonly string[], stale: boolean, add: MemberAddFlags, usageError: (m: string) => number): Promise<number> {
  const [sub, id] = args;
  const addFlags = add.raftAddr !== undefined || add.httpAddr !== undefined || add.grpcAddr !== undefined || add.learner;
  if (addFlags && sub !== 'add') return usageError('--raft-addr, --http-addr, --grpc-addr and --learner go with member add');
  if (stale && sub !== 'list') return usageError('--stale goes with member list');
  if (sub === 'list') {
    if (id !== undefined) return usageError('member list takes no argument');
    const r = await client.members({ stale });
    if (!r.ok) return reportError(io, r);
    printMembers(io, r);
    return EXIT_OK;
  }
  if (id === undefined) return usageError(`member ${sub ?? ''} takes a member id`);
  switch (sub) {
    case 'add': {
      if (add.raftAddr === undefined || add.httpAddr === undefined || add.grpcAddr === undefined) return usageError('member add needs --raft-addr, --http-addr and --grpc-addr');
      const r = await client.addMember({ id, raft_addr: add.raftAddr, http_addr: add.httpAddr, grpc_addr: add.grpcAddr, learner: add.learner });
      if (!r.ok) return reportError(io, r);
      io.stdout.write(`added ${id} as a ${add.learner ? 'learner' : 'voter'} at index ${r.index}\n`);
      printMembers(io, r);
      return EXIT_OK;
    }
    case 'promote':
    case 'remove': {
      const r = sub === 'promote' ? await client.promoteMember(id) : await client.removeMember(id);
      if (!r.ok) return reportError(io, r);
      io.stdout.write(`${sub === 'promote' ? 'promoted' : 'removed'} ${id} at index ${r.index}\n`);
      printMembers(io, r);
      return EXIT_OK;
    }
    default:
      return usageError(`member knows list, add, promote and remove, got ${JSON.stringify(sub)}`);
  }
}

/** `leader transfer [ID]`. */
export async function leaderCommand(client: KvClient, io: CliIo, args: readonly string[], usageError: (m: string) => number): Promise<number> {
  const [sub, to] = args;
  if (sub !== 'transfer') return usageError(`leader knows one subcommand, transfer, got ${JSON.stringify(sub)}`);
  const r = await client.transferLeader(to);
  if (!r.ok) return reportError(io, r);
  io.stdout.write(`${r.leaderId} leads in term ${r.term}\n`);
  return EXIT_OK;
}
