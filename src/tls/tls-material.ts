// TLS key material read from the files the config names, checked before use: at
// start (a bad file refuses to start, naming its key) and on every reload (SIGHUP;
// a bad file keeps the material in use and says why).
import { readFileSync } from 'node:fs';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { createSecureContext } from 'node:tls';

/** The files of one listener, as the config names them. */
export interface TlsFiles {
  readonly certFile: string;
  readonly keyFile: string;
  /** The CA that signs the certificates the other side must present; null when none is asked for. */
  readonly caFile: string | null;
}

/** PEM contents of TlsFiles. */
export interface TlsMaterial {
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly ca: Buffer | null;
}

export type TlsRead = { readonly ok: true; readonly material: TlsMaterial } | { readonly ok: false; readonly file: 'cert' | 'key' | 'ca'; readonly error: string };

function messageOf(e: unknown): string {
  return e instanceof Error ? e.message.split('\n')[0]! : String(e);
}

function read(path: string): Buffer | string {
  try {
    return readFileSync(path);
  } catch (e) {
    const code = typeof e === 'object' && e !== null && 'code' in e ? String(e.code) : '';
    return code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : messageOf(e);
  }
}

/** Reads and checks the files: each parses, the key is the certificate's, and the CA bundle loads. */
export function readTlsMaterial(files: TlsFiles): TlsRead {
  const cert = read(files.certFile);
  if (typeof cert === 'string') return { ok: false, file: 'cert', error: `cannot read ${files.certFile}: ${cert}` };
  const key = read(files.keyFile);
  if (typeof key === 'string') return { ok: false, file: 'key', error: `cannot read ${files.keyFile}: ${key}` };
  const ca = files.caFile === null ? null : read(files.caFile);
  if (typeof ca === 'string') return { ok: false, file: 'ca', error: `cannot read ${files.caFile}: ${ca}` };
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch (e) {
    return { ok: false, file: 'cert', error: `${files.certFile} is not a PEM certificate (${messageOf(e)})` };
  }
  try {
    if (!x509.checkPrivateKey(createPrivateKey(key))) return { ok: false, file: 'key', error: `${files.keyFile} is not the key of the certificate in ${files.certFile}` };
  } catch (e) {
    return { ok: false, file: 'key', error: `${files.keyFile} is not a PEM private key (${messageOf(e)})` };
  }
  if (ca !== null) {
    try {
      new X509Certificate(ca);
      createSecureContext({ ca });
    } catch (e) {
      return { ok: false, file: 'ca', error: `${files.caFile} is not a PEM CA certificate bundle (${messageOf(e)})` };
    }
  }
  return { ok: true, material: { cert, key, ca } };
}

/** A listener's TLS files from its config section, or null when its TLS is off. */
export function tlsFilesOf(c: { readonly tlsCertFile: string | null; readonly tlsKeyFile: string | null; readonly tlsCaFile: string | null }): TlsFiles | null {
  return c.tlsCertFile === null || c.tlsKeyFile === null ? null : { certFile: c.tlsCertFile, keyFile: c.tlsKeyFile, caFile: c.tlsCaFile };
}
