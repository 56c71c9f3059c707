import type { Consistency } from '../client/common.js';
import { KvClient, type NodeStatus } from '../client/rest-client.js';
import { newToken, roles, tokenHash } from '../auth/tokens.js';
import { EXIT_FAILED, EXIT_OK, EXIT_USAGE, reportError, table, type CliIo } from './cli-io.js';
import { leaseCommand, listCommand, snapshotRestoreCommand, snapshotSaveCommand, watchCommand } from './coordination-commands.js';
import { lockCommand } from './lock-command.js';
import { txnCommand } from './txn-command.js';
import { leaderCommand, memberCommand } from './member-commands.js';

export const DEFAULT_ENDPOINTS = 'http://127.0.0.1:8081,http://127.0.0.1:8082,http://127.0.0.1:8083';

/**
 * The `kvstore` command line, etcdctl style, on the same binary as the node:
 * `kvstore -cfg_path node.yml` runs a node; anything else is a client command.
 */

const GLOBAL_HELP = `Usage: kvstore [global flags] <command> [args] [flags]
       kvstore -cfg_path <node.yml>      run a node; every config key is explained
                                         in config/config.example.yml and the README

Commands:
  put KEY VALUE     write VALUE (use - to read it from stdin) at KEY
  get KEY           print the value of KEY (--prefix: every key under KEY)
  del KEY           delete KEY
  txn [FILE]        one transaction: comparisons, then one branch of writes
                    and reads, atomically (JSON as POST /v1/txn takes it)
  lease grant TTL   grant a lease; also lease keepalive ID, lease revoke ID,
                    lease list, lease info ID
  lock NAME [-- COMMAND ...]
                    take a lock (run COMMAND holding it, or hold it until ^C)
  watch KEY         print every change of KEY (--prefix: of every key under it)
  snapshot save FILE
                    download a backup of the whole store to FILE
  snapshot restore FILE --data-dir D --id ID --peers A,B,C
                    build a fresh data directory from a backup
  status            a table of every member: role, term, leader, indexes
  member list       the configuration: every member, its role and addresses;
                    also member add ID, member promote ID, member remove ID
  leader transfer [ID]
                    hand leadership to ID (or the most up-to-date voter)
  auth new-token    make a bearer token and print the auth.tokens entry for it

Global flags:
  --endpoints a,b,c   member URLs (default ${DEFAULT_ENDPOINTS};
                      env KVSTORE_ENDPOINTS); https:// ones for TLS (a private
                      CA: NODE_EXTRA_CA_CERTS=ca.pem)
  --token T           bearer token when the cluster has authentication on
                      (env KVSTORE_TOKEN)
  --timeout MS        give up on a command after MS milliseconds (default 15000)
  -h, --help          this help; "kvstore <command> --help" describes a command

Exit codes: 0 ok, 1 failed or not found (nothing was applied), 2 usage error,
3 maybe applied (the outcome of a write is unknown; retry with the same
--idempotency-key to apply it at most once).
`;

const COMMAND_HELP: Readonly<Record<string, string>> = {
  put: `Usage: kvstore put KEY VALUE [--if-revision R | --if-absent] [--lease ID] [--idempotency-key K]

Writes VALUE at KEY through the leader and prints the new revision.
  --if-revision R       only if the key's current revision is R (compare-and-swap)
  --if-absent           only if the key does not exist (create)
  --lease ID            attach the key to lease ID (kvstore lease grant): it is
                        deleted when the lease ends
  --idempotency-key K   a retry with the same K is applied at most once
                        (default: a fresh random key, reused across retries)
VALUE "-" reads the value from stdin.
Exit: 0 written, 1 not written (e.g. precondition failed), 3 maybe written.
`,
  get: `Usage: kvstore get KEY [--consistency linearizable|lease|stale] [--print-revision]
       kvstore get PREFIX --prefix [--keys-only] [--limit N] [--print-revision] [--consistency C]

Prints the value of KEY (raw bytes, no newline added).
  --consistency C     linearizable (default, via the leader), lease (leader
                      lease, no round trip), stale (any node's local state)
  --print-revision    print "REVISION\\tVALUE" instead of the value alone
With --prefix: every key that starts with PREFIX ("" for all), in byte order,
one line each, "KEY\\tVALUE" (raw bytes); page by page, each page one
consistent read (a key written meanwhile shows only if it sorts after the page
it would be in).
  --keys-only         print the keys alone
  --limit N           stop after N keys
  --print-revision    print "REVISION\\tKEY\\tVALUE"
Exit: 0 found (with --prefix: even none), 1 not found or failed.
`,
  del: `Usage: kvstore del KEY [--if-revision R] [--idempotency-key K]

Deletes KEY and prints "deleted <revision>" (or "not found <revision>").
  --if-revision R       only if the key's current revision is R
  --idempotency-key K   a retry with the same K is applied at most once
Exit: 0 done (even if the key was absent), 1 not done, 3 maybe done.
`,
  txn: `Usage: kvstore txn [FILE] [--idempotency-key K]

Runs one transaction (etcd's Txn), read as JSON from FILE (or stdin, without
FILE or with -), in the form POST /v1/txn takes: keys as text (%XX for any byte),
values base64:
  {"compare": [{"key": "cfg/a", "target": "revision", "revision": 42},
               {"key": "cfg/b", "target": "value", "operator": "not_equal", "value": "b2Zm"}],
   "success": [{"op": "put", "key": "cfg/a", "value": "bmV3", "lease": 0},
               {"op": "delete", "key": "cfg/b"}, {"op": "get", "key": "cfg/c"}],
   "failure": [{"op": "get", "key": "cfg/a"}]}
If every comparison holds (operators equal, the default, not_equal, less,
greater; an absent key has revision 0) the success operations run, else the
failure ones, in order, as one write at one revision. Prints "SUCCESS revision
N" or "FAILURE revision N", then a line per operation: "put", "delete deleted",
"delete not-found", "get REVISION\tVALUE" or "get not-found".
  --idempotency-key K   a retry with the same K is applied at most once
Exit: 0 ran (either branch), 1 refused (a bad transaction, a missing lease),
2 usage, 3 maybe applied.
`,
  lease: `Usage: kvstore lease grant TTL
       kvstore lease keepalive ID [--once]
       kvstore lease revoke ID
       kvstore lease list
       kvstore lease info ID

A lease ends when it is revoked, or when it goes TTL seconds without a
keep-alive on the leader's clock; every key put with --lease ID is deleted then,
at one revision. grant prints "lease ID granted with TTL Ns" (a TTL below 1.5
election timeouts is raised to that); revoke prints the revision the keys were
deleted at; list prints "ID\tTTL" per lease; info prints "lease ID ttl Ns
remaining Nms" (the time left on the leader's clock) and then its keys, one a
line. keepalive keeps the lease alive (every third of its TTL, through the
leader) until interrupted, printing each renewal; --once renews it once.
Exit: 0 done, 1 not done (e.g. no such lease, or it expired), 3 maybe done.
`,
  lock: `Usage: kvstore lock NAME [--ttl S] [-- COMMAND [ARGS...]]

Takes the lock NAME (a create-only put of the key NAME on a lease of S seconds,
default 10, kept alive meanwhile), waiting while another holds it. With a
COMMAND, runs it holding the lock, with KVSTORE_LOCK_KEY and KVSTORE_LOCK_TOKEN
in its environment, then releases the lock and exits with its code. Without,
prints "locked NAME token T lease ID" and holds the lock until SIGINT or
SIGTERM. The token (the revision of that put, larger for every later holder)
fences: hand it to what the lock protects, so a holder that paused past its
lease is refused. If the lock is lost while held (its lease ended), COMMAND gets
SIGTERM. A holder that dies lets the lock go after at most S seconds.
Exit: COMMAND's code, or 0 released; 1 not taken or lost; 2 usage.
`,
  watch: `Usage: kvstore watch KEY [--prefix] [--from-revision R]

Prints every change of KEY (with --prefix: of every key starting with KEY, ""
for all), from revision R on (default: from now), one line per key changed:
"REVISION\\tput\\tKEY\\tVALUE" or "REVISION\\tdelete\\tKEY", until interrupted. If
the node it watches goes away, it goes on at another without missing or
repeating a revision.
Exit: 1 when the watch cannot go on (its start was compacted, or it fell
behind): list again and watch from the listing's revision + 1.
`,
  snapshot: `Usage: kvstore snapshot save FILE
       kvstore snapshot restore FILE --data-dir D --id ID --peers A,B,C

save downloads a backup of the whole store from the leader (the state at a
linearizable read, role admin when authentication is on) to FILE, checks its
SHA-256 and that it restores, and prints its revision, size and key count.
restore builds a fresh data directory D for member ID of a new cluster of the
members A,B,C (ids, as in raft.peers) from FILE; it needs no cluster. Restore
every member from the same file with the same --peers, then start them with
their configs: the cluster goes on from the backup's revision.
Exit: 0 done, 1 failed (a damaged file, a non-empty data directory), 2 usage.
`,
  status: `Usage: kvstore status

Asks the first answering endpoint for the member list, then every member's
/v1/status, and prints a table: id, endpoint, role, term, leader, commit,
applied and last log index. Unreachable members are listed as such.
Exit: 0 if any member answered, 1 if none did.
`,
  member: `Usage: kvstore member list [--stale]
       kvstore member add ID --raft-addr A --http-addr H --grpc-addr G [--learner]
       kvstore member promote ID
       kvstore member remove ID

Changes the cluster one member at a time, through the leader, and prints the
configuration once the change is committed (role admin when auth is on).
  list        the leader's configuration (--stale: the answering node's)
  add         a new voter, or with --learner a member that receives the log but
              does not vote until promoted (start the node with raft.join
              instead to have it added, caught up and promoted by itself)
  promote     make a learner that has caught up a voter
  remove      take a member out; a removed leader hands over first
Errors: change_in_flight (409) while another change is not committed yet,
last_voter (400), member_exists (409), member_not_found (404),
learner_behind (409), not_learner (409).
Exit: 0 done, 1 refused, 3 maybe applied.
`,
  leader: `Usage: kvstore leader transfer [ID]

Hands leadership to member ID, or without ID to the most up-to-date voter: the
leader stops taking writes for at most an election timeout, brings the target up
to date and tells it to campaign at once. Prints the new leader and its term.
Errors: not_voter (400) for a learner, transfer_timed_out (503).
Exit: 0 done, 1 refused or timed out.
`,
  auth: `Usage: kvstore auth new-token --name NAME --role read|write|admin

Makes a random bearer token and prints it with the auth.tokens entry that
admits it (its SHA-256: the node's config never holds the token itself).
Give the token to the client (--token, KVSTORE_TOKEN) and add the entry to
auth.tokens on every node. Needs no cluster.
Exit: 0, or 2 on a bad flag.
`,
};

/** Whether argv asks to run a node rather than a client command. */
export function isNodeInvocation(argv: readonly string[]): boolean {
  return argv.some((a) => a === '-cfg_path' || a === '--cfg_path' || a.startsWith('-cfg_path=') || a.startsWith('--cfg_path='));
}

class UsageError extends Error {}

interface Parsed {
  readonly positionals: string[];
  readonly flags: Map<string, string | true>;
}

const VALUE_FLAGS = new Set(['endpoints', 'timeout', 'token', 'consistency', 'if-revision', 'idempotency-key', 'name', 'role', 'lease', 'limit', 'data-dir', 'id', 'peers', 'from-revision', 'ttl', 'raft-addr', 'http-addr', 'grpc-addr']);
const BOOL_FLAGS = new Set(['help', 'if-absent', 'print-revision', 'prefix', 'keys-only', 'once', 'stale', 'learner']);

function parse(argv: readonly string[]): Parsed {
  const positionals: string[] = [];
  const flags = new Map<string, string | true>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (arg === '-h') {
      flags.set('help', true);
      continue;
    }
    if (!arg.startsWith('--') || arg === '-') {
      if (arg.startsWith('-') && arg !== '-') throw new UsageError(`unknown flag ${arg}`);
      positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    if (BOOL_FLAGS.has(name)) {
      if (eq >= 0) throw new UsageError(`--${name} takes no value`);
      flags.set(name, true);
    } else if (VALUE_FLAGS.has(name)) {
      const value = eq >= 0 ? arg.slice(eq + 1) : argv[++i];
      if (value === undefined) throw new UsageError(`--${name} needs a value`);
      flags.set(name, value);
    } else {
      throw new UsageError(`unknown flag --${name}`);
    }
  }
  return { positionals, flags };
}

function stringFlag(p: Parsed, name: string): string | undefined {
  const v = p.flags.get(name);
  return typeof v === 'string' ? v : undefined;
}

function intFlag(p: Parsed, name: string): number | undefined {
  const v = stringFlag(p, name);
  if (v === undefined) return undefined;
  if (!/^\d{1,15}$/.test(v)) throw new UsageError(`--${name} must be a non-negative integer, got ${JSON.stringify(v)}`);
  return Number(v);
}

/** Flags allowed per command (global ones are allowed everywhere). */
const COMMAND_FLAGS: Readonly<Record<string, readonly string[]>> = {
  put: ['if-revision', 'if-absent', 'idempotency-key', 'lease'],
  get: ['consistency', 'print-revision', 'prefix', 'keys-only', 'limit'],
  del: ['if-revision', 'idempotency-key'],
  status: [],
  auth: ['name', 'role'],
  lease: ['idempotency-key', 'once'],
  snapshot: ['data-dir', 'id', 'peers'],
  watch: ['prefix', 'from-revision'],
  txn: ['idempotency-key'],
  lock: ['ttl'],
  member: ['stale', 'raft-addr', 'http-addr', 'grpc-addr', 'learner'],
  leader: [],
};
const GLOBAL_FLAGS = ['endpoints', 'timeout', 'token', 'help'];
/** The positional arguments each command takes, at least and at most. */
const ARITY: Readonly<Record<string, readonly [number, number]>> = { put: [2, 2], get: [1, 1], del: [1, 1], status: [0, 0], auth: [1, 1], lease: [1, 2], snapshot: [2, 2], watch: [1, 1], txn: [0, 1], lock: [1, Infinity], member: [1, 2], leader: [1, 2] };

async function readStdin(): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin as AsyncIterable<Buffer>) chunks.push(c);
  return Buffer.concat(chunks);
}


function httpUrl(addr: string, scheme = 'http'): string {
  return /^https?:\/\//.test(addr) ? addr : `${scheme}://${addr}`;
}

/** `kvstore auth new-token`: a token and the auth.tokens entry that admits it. */
function newTokenCommand(p: Parsed, sub: string, io: CliIo, usageError: (m: string) => number): number {
  if (sub !== 'new-token') return usageError(`auth knows one subcommand, new-token, got ${JSON.stringify(sub)}`);
  const name = stringFlag(p, 'name');
  const role = stringFlag(p, 'role');
  if (name === undefined || !/^[A-Za-z0-9_.-]{1,64}$/.test(name)) return usageError('--name is 1 to 64 characters from A-Z a-z 0-9 _ . -');
  if (role === undefined || !(roles as readonly string[]).includes(role)) return usageError(`--role is one of ${roles.join(', ')}`);
  const token = newToken();
  io.stdout.write(`token: ${token}\n`);
  io.stdout.write(`auth.tokens entry: { name: ${name}, role: ${role}, sha256: ${tokenHash(token)} }\n`);
  return EXIT_OK;
}

async function status(client: KvClient, endpoints: readonly string[], io: CliIo): Promise<number> {
  const first = await client.status();
  if (!first.ok) {
    io.stderr.write(`Error: no endpoint answered (${endpoints.join(', ')}): ${first.message}\n`);
    return EXIT_FAILED;
  }
  const members = first.status.members.length > 0 ? first.status.members : [{ id: first.status.id, http_addr: first.endpoint, raft_addr: '', grpc_addr: '' }];
  // Members are listed as host:port; they speak what the endpoint that answered speaks.
  const scheme = first.endpoint.startsWith('https:') ? 'https' : 'http';
  const memberUrl = (addr: string): string => httpUrl(addr, scheme);
  const results = await Promise.all(members.map(async (m) => ({ m, r: await client.status(memberUrl(m.http_addr)) })));
  const rows: string[][] = [['ID', 'ENDPOINT', 'ROLE', 'TERM', 'LEADER', 'COMMIT', 'APPLIED', 'LAST INDEX']];
  for (const { m, r } of results) {
    if (r.ok) {
      const s: NodeStatus = r.status;
      rows.push([s.id, memberUrl(m.http_addr), s.role, String(s.term), s.leader_id ?? '-', String(s.commit_index), String(s.applied_index), String(s.last_log_index)]);
    } else {
      rows.push([m.id, memberUrl(m.http_addr), 'unreachable', '-', '-', '-', '-', '-']);
    }
  }
  io.stdout.write(table(rows));
  return EXIT_OK;
}

/**
 * Runs a client command and resolves to its exit code, or returns null when argv asks
 * to run a node (`-cfg_path` / `--cfg_path`). argv excludes the node and script paths.
 */
export function runCli(argv: readonly string[], io: CliIo = { stdout: process.stdout, stderr: process.stderr }): Promise<number> | null {
  if (isNodeInvocation(argv)) return null;
  return run(argv, io);
}

async function run(argv: readonly string[], io: CliIo): Promise<number> {
  let p: Parsed;
  try {
    p = parse(argv);
  } catch (e) {
    io.stderr.write(`Error: ${(e as Error).message}\n\n${GLOBAL_HELP}`);
    return EXIT_USAGE;
  }
  const [command, ...args] = p.positionals;
  if (command === undefined || command === 'help') {
    const topic = command === 'help' ? args[0] : undefined;
    if (topic !== undefined && COMMAND_HELP[topic] !== undefined) {
      io.stdout.write(COMMAND_HELP[topic]);
      return EXIT_OK;
    }
    if (p.flags.has('help') || command === 'help') {
      io.stdout.write(GLOBAL_HELP);
      return EXIT_OK;
    }
    io.stderr.write(`Error: no command given\n\n${GLOBAL_HELP}`);
    return EXIT_USAGE;
  }
  const help = COMMAND_HELP[command];
  if (help === undefined) {
    io.stderr.write(`Error: unknown command ${JSON.stringify(command)}\n\n${GLOBAL_HELP}`);
    return EXIT_USAGE;
  }
  if (p.flags.has('help')) {
    io.stdout.write(help);
    return EXIT_OK;
  }
  const usageError = (message: string): number => {
    io.stderr.write(`Error: ${message}\n\n${help}`);
    return EXIT_USAGE;
  };
  const allowed = new Set([...GLOBAL_FLAGS, ...(COMMAND_FLAGS[command] ?? [])]);
  for (const f of p.flags.keys()) if (!allowed.has(f)) return usageError(`${command} does not take --${f}`);
  const [fewest, most] = ARITY[command]!;
  if (args.length < fewest || args.length > most) return usageError(`${command} takes ${fewest === most ? fewest : most === Infinity ? `at least ${fewest}` : `${fewest} to ${most}`} argument(s), got ${args.length}`);

  if (command === 'auth') return newTokenCommand(p, args[0]!, io, usageError);
  if (command === 'snapshot' && args[0] === 'restore') {
    return snapshotRestoreCommand(io, args[1]!, { dataDir: stringFlag(p, 'data-dir'), id: stringFlag(p, 'id'), peers: stringFlag(p, 'peers') }, usageError);
  }

  let client: KvClient;
  let endpoints: string[];
  let ifRevision: number | undefined;
  let lease: number | undefined;
  let limit: number | undefined;
  let fromRevision: number | undefined;
  let ttl: number | undefined;
  try {
    endpoints = (stringFlag(p, 'endpoints') ?? process.env['KVSTORE_ENDPOINTS'] ?? DEFAULT_ENDPOINTS)
      .split(',')
      .map((e) => e.trim())
      .filter((e) => e !== '')
      .map((e) => httpUrl(e));
    const timeout = intFlag(p, 'timeout');
    ifRevision = intFlag(p, 'if-revision');
    lease = intFlag(p, 'lease');
    limit = intFlag(p, 'limit');
    fromRevision = intFlag(p, 'from-revision');
    ttl = intFlag(p, 'ttl');
    const token = stringFlag(p, 'token') ?? process.env['KVSTORE_TOKEN'];
    client = new KvClient({
      endpoints,
      ...(timeout !== undefined ? { callTimeoutMs: timeout, requestTimeoutMs: timeout } : {}),
      ...(token !== undefined && token !== '' ? { token } : {}),
    });
  } catch (e) {
    return usageError((e as Error).message);
  }

  switch (command) {
    case 'put': {
      if (ifRevision !== undefined && p.flags.has('if-absent')) return usageError('use --if-revision or --if-absent, not both');
      const [key, rawValue] = args as [string, string];
      const value = rawValue === '-' ? await readStdin() : rawValue;
      const idempotencyKey = stringFlag(p, 'idempotency-key');
      const r = await client.put(key, value, {
        ...(ifRevision !== undefined ? { ifRevision } : {}),
        ...(p.flags.has('if-absent') ? { ifAbsent: true } : {}),
        ...(idempotencyKey !== undefined ? { idempotencyKey } : {}),
        ...(lease !== undefined ? { lease } : {}),
      });
      if (!r.ok) return reportError(io, r);
      io.stdout.write(`OK revision ${r.revision}\n`);
      return EXIT_OK;
    }
    case 'get': {
      const consistency = stringFlag(p, 'consistency') ?? 'linearizable';
      if (consistency !== 'linearizable' && consistency !== 'lease' && consistency !== 'stale') {
        return usageError(`--consistency is linearizable, lease or stale, got ${JSON.stringify(consistency)}`);
      }
      if (p.flags.has('prefix')) {
        if (limit === 0) return usageError('--limit is at least 1');
        return listCommand(client, io, args[0]!, { consistency: consistency as Consistency, keysOnly: p.flags.has('keys-only'), printRevision: p.flags.has('print-revision'), limit });
      }
      if (p.flags.has('keys-only') || p.flags.has('limit')) return usageError('--keys-only and --limit go with --prefix');
      const r = await client.get(args[0]!, { consistency: consistency as Consistency });
      if (!r.ok) {
        if (r.status === 404 && r.error === 'key_not_found') {
          io.stderr.write(`Error: key not found: ${args[0]}\n`);
          return EXIT_FAILED;
        }
        return reportError(io, r);
      }
      if (p.flags.has('print-revision')) io.stdout.write(`${r.revision}\t`);
      io.stdout.write(r.value);
      return EXIT_OK;
    }
    case 'del': {
      const idempotencyKey = stringFlag(p, 'idempotency-key');
      const r = await client.delete(args[0]!, {
        ...(ifRevision !== undefined ? { ifRevision } : {}),
        ...(idempotencyKey !== undefined ? { idempotencyKey } : {}),
      });
      if (!r.ok) return reportError(io, r);
      io.stdout.write(`${r.deleted ? 'deleted' : 'not found'} revision ${r.revision}\n`);
      return EXIT_OK;
    }
    case 'lease':
      return leaseCommand(client, io, args, { idempotencyKey: stringFlag(p, 'idempotency-key'), once: p.flags.has('once') }, usageError);
    case 'txn':
      return txnCommand(client, io, args[0], stringFlag(p, 'idempotency-key'), readStdin, usageError);
    case 'lock':
      if (ttl === 0) return usageError('--ttl is at least 1 (seconds)');
      return lockCommand(client, io, args[0]!, args.slice(1), ttl ?? 10);
    case 'watch':
      return watchCommand(client, io, args[0]!, { prefix: p.flags.has('prefix'), fromRevision });
    case 'snapshot':
      if (args[0] !== 'save') return usageError(`snapshot save FILE or snapshot restore FILE, got ${JSON.stringify(args[0])}`);
      if (['data-dir', 'id', 'peers'].some((f) => p.flags.has(f))) return usageError('--data-dir, --id and --peers go with snapshot restore');
      return snapshotSaveCommand(client, io, args[1]!);
    case 'member':
      return memberCommand(
        client,
        io,
        args,
        p.flags.has('stale'),
        { raftAddr: stringFlag(p, 'raft-addr'), httpAddr: stringFlag(p, 'http-addr'), grpcAddr: stringFlag(p, 'grpc-addr'), learner: p.flags.has('learner') },
        usageError,
      );
    case 'leader':
      return leaderCommand(client, io, args, usageError);
    default:
      return status(client, endpoints, io);
  }
}
