// Test certificates, made at test time with the machine's openssl into a temporary
// directory (no private key is ever committed): a CA and certificates it signs.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Issued {
  readonly certFile: string;
  readonly keyFile: string;
  readonly cert: Buffer;
  readonly key: Buffer;
}

export interface Pki {
  readonly dir: string;
  readonly caFile: string;
  readonly ca: Buffer;
  /** A certificate for `cn` signed by this CA, valid for both server and client use. */
  issue(cn: string, names?: { readonly dns?: readonly string[]; readonly ip?: readonly string[] }): Issued;
  remove(): void;
}

function openssl(args: readonly string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

const KEY_ARGS = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];

/** A new CA in a fresh temporary directory; `remove()` deletes it with every key. */
export function createPki(caName = 'kvstore-test-ca'): Pki {
  const dir = mkdtempSync(join(tmpdir(), 'kvstore-pki-'));
  const caFile = join(dir, 'ca.crt');
  openssl(
    ['req', '-x509', ...KEY_ARGS, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', `/CN=${caName}`, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'],
    dir,
  );
  let serial = 0;
  return {
    dir,
    caFile,
    ca: readFileSync(caFile),
    issue(cn, names = {}) {
      const base = `cert-${++serial}-${cn.replace(/[^A-Za-z0-9_.-]/g, '_')}`;
      const alt = [...(names.dns ?? []).map((d) => `DNS:${d}`), ...(names.ip ?? []).map((i) => `IP:${i}`)];
      const ext = [`extendedKeyUsage=serverAuth,clientAuth`, ...(alt.length > 0 ? [`subjectAltName=${alt.join(',')}`] : [])].join('\n');
      writeFileSync(join(dir, `${base}.ext`), `${ext}\n`);
      openssl(['req', ...KEY_ARGS, '-keyout', `${base}.key`, '-out', `${base}.csr`, '-subj', `/CN=${cn}`], dir);
      openssl(['x509', '-req', '-in', `${base}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-set_serial', String(serial + 1000), '-out', `${base}.crt`, '-days', '2', '-extfile', `${base}.ext`], dir);
      const certFile = join(dir, `${base}.crt`);
      const keyFile = join(dir, `${base}.key`);
      return { certFile, keyFile, cert: readFileSync(certFile), key: readFileSync(keyFile) };
    },
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
