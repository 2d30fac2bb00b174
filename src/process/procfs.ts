import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

/**
 * What /proc says about processes and sockets. `cluster:down` runs in another process than the one
 * that started the cluster, so it can only find what to stop here, and must check a pid's command
 * line before signalling it: a recorded pid may have been reused by an unrelated process.
 */

export function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // A zombie has exited; it only waits for its parent to reap it.
    return !/^\d+ \(.*\) [ZX] /s.test(stat);
  } catch {
    return false;
  }
}

/**
 * When the process started, in clock ticks since boot (field 22 of /proc/<pid>/stat). With the
 * pid it names one process for the machine's uptime: a reused pid has a later start. An exec
 * keeps it, so it is the same before and after `setpriv` execs the real program.
 */
export function startTicksOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The fields after the command name, which is in parentheses and may hold spaces and ')'.
    const ticks = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
    return Number.isInteger(ticks) ? ticks : undefined;
  } catch {
    return undefined;
  }
}

/**
 * This boot of this machine and this process's pid namespace, hashed: two processes see each
 * other's pids exactly when their keys are equal. A hostname is not enough (containers on two
 * machines often share one), and the boot id alone is not either (containers on one kernel each
 * have pids of their own). Undefined where /proc does not say.
 */
export function pidNamespaceKey(): string | undefined {
  try {
    const boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    const pidNamespace = readlinkSync('/proc/self/ns/pid');
    return createHash('sha256').update(`${boot} ${pidNamespace}`).digest('hex').slice(0, 12);
  } catch {
    return undefined;
  }
}

/** The file the process runs (the kernel's resolved path of /proc/<pid>/exe). */
export function executableOf(pid: number): string | undefined {
  try {
    return readlinkSync(`/proc/${pid}/exe`);
  } catch {
    return undefined;
  }
}

/** Who a recorded pid was: enough to tell it from an unrelated process that got the pid later. */
export interface ProcessIdentity {
  pid: number;
  startTicks: number;
  /** Real path of the executable. */
  exe: string;
}

/** True while `identity.pid` is alive and is still that process: same start time and executable. */
export function isSameProcess(identity: ProcessIdentity): boolean {
  return (
    isAlive(identity.pid) &&
    startTicksOf(identity.pid) === identity.startTicks &&
    executableOf(identity.pid) === identity.exe
  );
}

export function cmdlineOf(pid: number): string[] | undefined {
  try {
    const parts = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    if (parts.at(-1) === '') parts.pop();
    return parts;
  } catch {
    return undefined;
  }
}

export function environOf(pid: number): string[] | undefined {
  try {
    return readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
  } catch {
    return undefined;
  }
}

/** Live (non-zombie) pids for which `match` holds. */
export function findProcesses(
  match: (info: { pid: number; cmdline: string[]; environ: () => string[] | undefined }) => boolean,
): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (pid === process.pid) continue;
    const cmdline = cmdlineOf(pid);
    if (!cmdline || cmdline.length === 0) continue;
    if (match({ pid, cmdline, environ: () => environOf(pid) }) && isAlive(pid)) out.push(pid);
  }
  return out;
}

/** Processes carrying the label env var CANARY_MTTR_EXPERIMENT=<label> (see ProcessRegistry). */
export function processesWithLabel(label: string): number[] {
  const wanted = `CANARY_MTTR_EXPERIMENT=${label}`;
  return findProcesses(({ environ }) => environ()?.includes(wanted) ?? false);
}

/** TCP ports in LISTEN state on any address, from /proc/net/tcp and tcp6. */
export function listeningPorts(): Set<number> {
  return new Set(listeningSockets().map((s) => s.port));
}

export interface ListeningSocket {
  /** Dotted IPv4, or the eight groups of IPv6 in hex (e.g. 0:0:0:0:0:ffff:7f00:1). */
  address: string;
  port: number;
  /** The socket's inode: /proc/<pid>/fd/<n> of its owner links to socket:[inode]. */
  inode: number;
}

/**
 * TCP sockets in LISTEN state, from /proc/net/tcp and tcp6: those of this process's network
 * namespace, or of the namespace `pid` runs in (a process in another namespace listens where the
 * first list cannot see).
 */
export function listeningSockets(pid?: number): ListeningSocket[] {
  const out: ListeningSocket[] = [];
  const base = pid === undefined ? '/proc/net' : `/proc/${pid}/net`;
  for (const file of [`${base}/tcp`, `${base}/tcp6`]) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      if (fields.length < 10 || fields[3] !== '0A') continue;
      const [hexAddress, hexPort] = fields[1]!.split(':') as [string, string];
      const port = Number.parseInt(hexPort, 16);
      if (Number.isFinite(port)) out.push({ address: decodeAddress(hexAddress), port, inode: Number(fields[9]) });
    }
  }
  return out;
}

/** The kernel prints an address as 32-bit words, each in host (little-endian) byte order. */
function decodeAddress(hex: string): string {
  const words = hex.match(/.{8}/g) ?? [];
  const bytes = words.flatMap((w) => (w.match(/../g) ?? []).reverse().map((b) => Number.parseInt(b, 16)));
  if (bytes.length === 4) return bytes.join('.');
  const groups: string[] = [];
  for (let i = 0; i < bytes.length; i += 2) groups.push(((bytes[i]! << 8) | bytes[i + 1]!).toString(16));
  return groups.join(':');
}

/** Inodes of the sockets a process holds open (empty when it is gone or not ours to read). */
export function socketInodesOf(pid: number): Set<number> {
  const inodes = new Set<number>();
  let fds: string[];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return inodes;
  }
  for (const fd of fds) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(Number(m[1]));
    } catch {
      // Closed between readdir and readlink.
    }
  }
  return inodes;
}

/** Resident memory of a process in bytes (VmRSS), 0 when it is gone. */
export function rssBytes(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

export function signal(pid: number, sig: NodeJS.Signals): boolean {
  try {
    process.kill(pid, sig);
    return true;
  } catch {
    return false;
  }
}
