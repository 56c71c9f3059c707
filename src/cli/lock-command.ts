// `kvstore lock NAME [-- COMMAND ...]`: etcdctl's lock, on client.lock.
import { spawn } from 'node:child_process';
import type { KvClient } from '../client/rest-client.js';
import type { Lock } from '../client/lease-lock.js';
import { EXIT_FAILED, EXIT_OK, reportError, type CliIo } from './cli-io.js';

/**
 * Takes the lock NAME (waiting while another holds it). With a command, runs it
 * holding the lock, with KVSTORE_LOCK_KEY and KVSTORE_LOCK_TOKEN (the fencing
 * token) in its environment, releases the lock when it exits and exits with its
 * code. Without, prints "locked NAME token T lease ID" and holds the lock until
 * SIGINT or SIGTERM. If the lock is lost meanwhile (its lease ended), the command
 * gets SIGTERM and this exits 1.
 */
export async function lockCommand(client: KvClient, io: CliIo, name: string, command: readonly string[], ttlSeconds: number): Promise<number> {
  const taken = await client.lock(name, { ttlSeconds });
  if (!taken.ok) return reportError(io, taken);
  const lock = taken.lock;
  const code = command.length === 0 ? await holdUntilSignalled(io, name, lock) : await runHolding(io, lock, command);
  // Only unlock revokes the lease: any loss before it means the lock ended under its holder.
  const loss = lock.lease.loss;
  if (loss !== null && loss.kind !== 'revoked') {
    io.stderr.write(`Error: lost the lock ${name} (token ${lock.token}): ${loss.message}\n`);
    return EXIT_FAILED;
  }
  await lock.unlock();
  return code;
}

/** Holds the lock until SIGINT or SIGTERM, or until it is lost. */
function holdUntilSignalled(io: CliIo, name: string, lock: Lock): Promise<number> {
  io.stdout.write(`locked ${name} token ${lock.token} lease ${lock.lease.id}\n`);
  return new Promise((resolve) => {
    const done = (): void => {
      process.off('SIGINT', done);
      process.off('SIGTERM', done);
      lock.lease.signal.removeEventListener('abort', done);
      resolve(EXIT_OK);
    };
    process.once('SIGINT', done);
    process.once('SIGTERM', done);
    lock.lease.signal.addEventListener('abort', done, { once: true });
  });
}

/** Runs the command holding the lock (SIGTERM to it if the lock is lost): its exit code, 1 if it could not start or died of a signal. */
function runHolding(io: CliIo, lock: Lock, command: readonly string[]): Promise<number> {
  const child = spawn(command[0]!, command.slice(1), {
    stdio: ['inherit', 'pipe', 'pipe'],
    env: { ...process.env, KVSTORE_LOCK_KEY: Buffer.from(lock.key).toString(), KVSTORE_LOCK_TOKEN: String(lock.token) },
  });
  child.stdout.on('data', (b: Buffer) => io.stdout.write(b));
  child.stderr.on('data', (b: Buffer) => io.stderr.write(b));
  const stop = (): void => void child.kill('SIGTERM');
  lock.lease.signal.addEventListener('abort', stop, { once: true });
  return new Promise((resolve) => {
    const finish = (code: number): void => {
      lock.lease.signal.removeEventListener('abort', stop);
      resolve(code);
    };
    child.once('error', (e) => {
      io.stderr.write(`Error: cannot run ${command[0]}: ${e.message}\n`);
      finish(EXIT_FAILED);
    });
    child.once('close', (code) => finish(code ?? EXIT_FAILED));
  });
}
