import { execFileSync, spawnSync } from 'node:child_process';
import net from 'node:net';
import { expect, it } from 'vitest';
import { listeningPorts, listeningSockets, pidNamespaceKey, socketInodesOf } from './procfs.ts';

async function listen(host: string): Promise<net.Server> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  return server;
}

it('listeningSockets gives the address, port and inode of each listener; socketInodesOf ties it to its owner', async () => {
  const loopback = await listen('127.0.0.1');
  const other = await listen('127.0.0.2');
  try {
    const portOf = (s: net.Server) => (s.address() as net.AddressInfo).port;
    const sockets = listeningSockets();
    const mine = socketInodesOf(process.pid);
    const a = sockets.find((s) => s.port === portOf(loopback));
    const b = sockets.find((s) => s.port === portOf(other));
    expect(a?.address).toBe('127.0.0.1');
    expect(b?.address).toBe('127.0.0.2');
    expect(mine.has(a!.inode) && mine.has(b!.inode)).toBe(true);
    expect(listeningPorts().has(portOf(loopback))).toBe(true);
  } finally {
    loopback.close();
    other.close();
  }
  expect(socketInodesOf(2 ** 22 + 1).size).toBe(0);
});

it('pidNamespaceKey is the same for a child process, and differs in a pid namespace of its own', () => {
  const script = `import(${JSON.stringify(new URL('./procfs.ts', import.meta.url).href)}).then((m) => console.log(m.pidNamespaceKey()))`;
  const node = [process.execPath, '--import', 'tsx', '--input-type=module', '-e', script];
  const key = pidNamespaceKey();
  expect(key).toMatch(/^[0-9a-f]{12}$/);
  expect(execFileSync(node[0]!, node.slice(1), { encoding: 'utf8' }).trim()).toBe(key);
  // Where this machine allows a user and pid namespace: the same boot, other pids, another key.
  const unshare = spawnSync('unshare', ['--user', '--map-root-user', '--pid', '--fork', ...node], {
    encoding: 'utf8',
    timeout: 30_000,
  });
  if (unshare.status === 0) expect(unshare.stdout.trim()).toMatch(/^[0-9a-f]{12}$/);
  if (unshare.status === 0) expect(unshare.stdout.trim()).not.toBe(key);
});
