import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { PlatformError } from '../../common/errors.ts';

const execFileAsync = promisify(execFile);

/**
 * Owner-only modes of the state folder and of every credential in it, set with chmod rather than
 * left to the umask: mkdir's and open's modes are masked by it (a umask of 0 would not widen them,
 * but a file that already exists keeps its old mode whatever mode the write asks for).
 */
export const PRIVATE_DIR_MODE = 0o700;
export const PRIVATE_FILE_MODE = 0o600;

/** Creates `dir` (and its parents) and makes it owner-only, whatever the umask or its old mode. */
export function ensurePrivateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  chmodSync(dir, PRIVATE_DIR_MODE);
}

/**
 * Writes a credential owner-only. The old file is removed first and the new one created
 * exclusively, so its content never sits in a file with a wider mode, not even for a moment.
 */
export function writePrivateFile(file: string, data: string | Uint8Array): void {
  rmSync(file, { force: true });
  writeFileSync(file, data, { mode: PRIVATE_FILE_MODE, flag: 'wx' });
  chmodSync(file, PRIVATE_FILE_MODE);
}

/**
 * Makes the state folder owner-only. A folder that already exists must be the cluster's own: the
 * chmod would otherwise strip access to a user's folder (think `--state-dir ~` or `/tmp`), and
 * start-up deletes subfolders by name. It may hold only the names the cluster itself writes there.
 */
export function prepareStateDir(stateDir: string, ownNames: ReadonlySet<string>): void {
  if (existsSync(stateDir)) {
    if (!statSync(stateDir).isDirectory()) {
      throw new PlatformError(
        `local cluster: ${stateDir} is not a folder; name a new or empty folder as the state dir`,
      );
    }
    const foreign = readdirSync(stateDir).filter((entry) => !ownNames.has(entry) && !entry.endsWith('.tmp'));
    if (foreign.length > 0) {
      throw new PlatformError(
        `local cluster: ${stateDir} holds files the cluster did not write (${foreign.slice(0, 3).join(', ')}${foreign.length > 3 ? ', …' : ''}); ` +
          'name a new or empty folder as the state dir',
      );
    }
  }
  ensurePrivateDir(stateDir);
}

/** Where the cluster's PKI lives inside `<stateDir>/certs`. */
export function pkiPaths(certsDir: string) {
  const pair = (name: string) => ({
    cert: path.join(certsDir, `${name}.crt`),
    key: path.join(certsDir, `${name}.key`),
  });
  return {
    ca: pair('ca'),
    /** kube-apiserver's serving certificate. */
    apiServer: pair('apiserver'),
    /** etcd's serving certificate, for clients and for its (single) peer. */
    etcd: pair('etcd'),
    /** The client certificate kube-apiserver (and the readiness probe) present to etcd. */
    etcdClient: pair('apiserver-etcd-client'),
  };
}
export type PkiPaths = ReturnType<typeof pkiPaths>;

type Pair = { cert: string; key: string };

const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
/** Long enough for a cluster left running for weeks; every start makes a new PKI anyway. */
const VALIDITY_DAYS = '365';

async function openssl(args: string[]): Promise<void> {
  try {
    await execFileAsync('openssl', args, { timeout: 30_000 });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    const why =
      e.code === 'ENOENT'
        ? 'openssl is not installed (apt-get install openssl)'
        : (e.stderr?.trim().split('\n').at(-1) ?? e.message);
    throw new PlatformError(`local cluster: making the cluster's certificates failed: ${why}`);
  }
}

async function issue(ca: Pair, leaf: Pair, subject: string, extensions: string[]): Promise<void> {
  const csr = `${leaf.cert}.csr`;
  const ext = `${leaf.cert}.ext`;
  await openssl(['req', '-new', ...EC_KEY, '-keyout', leaf.key, '-subj', subject, '-out', csr]);
  chmodSync(leaf.key, PRIVATE_FILE_MODE);
  writeFileSync(ext, `${extensions.join('\n')}\n`);
  const serial = `0x${randomBytes(16).toString('hex')}`;
  await openssl([
    'x509',
    '-req',
    '-in',
    csr,
    '-CA',
    ca.cert,
    '-CAkey',
    ca.key,
    '-set_serial',
    serial,
    '-days',
    VALIDITY_DAYS,
    '-sha256',
    '-extfile',
    ext,
    '-out',
    leaf.cert,
  ]);
  rmSync(csr);
  rmSync(ext);
}

/**
 * A fresh certificate authority for one cluster and the certificates it signs: kube-apiserver's
 * serving certificate (so the readiness probe and every client verify they talk to the apiserver
 * we started, not to whatever took a released port), etcd's serving certificate and the client
 * certificate etcd demands of kube-apiserver. Keys are EC P-256, owner-only; the CA's key never
 * leaves `certsDir`. Needs the openssl command.
 */
export async function createClusterPki(certsDir: string, clusterName: string): Promise<PkiPaths> {
  ensurePrivateDir(certsDir);
  const pki = pkiPaths(certsDir);
  await openssl([
    'req',
    '-x509',
    '-new',
    ...EC_KEY,
    '-keyout',
    pki.ca.key,
    '-out',
    pki.ca.cert,
    '-days',
    VALIDITY_DAYS,
    '-sha256',
    '-subj',
    `/CN=canary-mttr ${clusterName} CA`,
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  chmodSync(pki.ca.key, PRIVATE_FILE_MODE);
  const serving = ['basicConstraints=critical,CA:FALSE', 'keyUsage=critical,digitalSignature'];
  await Promise.all([
    issue(pki.ca, pki.apiServer, '/CN=kube-apiserver', [
      ...serving,
      'extendedKeyUsage=serverAuth',
      // 10.96.0.1: the `kubernetes` Service's address in --service-cluster-ip-range.
      'subjectAltName=IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,' +
        'DNS:kubernetes.default.svc.cluster.local',
    ]),
    issue(pki.ca, pki.etcd, '/CN=etcd', [
      ...serving,
      'extendedKeyUsage=serverAuth,clientAuth',
      'subjectAltName=IP:127.0.0.1,DNS:localhost',
    ]),
    issue(pki.ca, pki.etcdClient, '/CN=kube-apiserver-etcd-client', [...serving, 'extendedKeyUsage=clientAuth']),
  ]);
  return pki;
}
