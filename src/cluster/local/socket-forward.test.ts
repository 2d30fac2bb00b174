import { mkdtempSync, rmSync, statSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { closedPort } from '../../test-support/ports.ts';
import { forward } from './socket-forward.ts';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'canary-mttr-forward-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** An echo server on 127.0.0.1 that prefixes every chunk, so the test sees it passed through. */
async function echoServer(): Promise<{ port: number; server: net.Server }> {
  const server = net.createServer((s) =>
    s.on('data', (d) => s.write(`echo:${d.toString()}`)).on('error', () => undefined),
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as net.AddressInfo).port, server };
}

function roundTrip(connect: () => net.Socket, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect();
    s.once('error', reject);
    s.once('data', (d) => {
      resolve(d.toString());
      s.destroy();
    });
    s.write(text);
  });
}

it('bytes go socket file → TCP port → back, and TCP port → socket file → TCP port; the socket file is 0600', async () => {
  const echo = await echoServer();
  const socket = path.join(dir, 'echo.sock');
  const toPort = await forward({ socket }, { port: echo.port });
  const relayPort = await closedPort();
  const toSocket = await forward({ port: relayPort }, { socket });
  try {
    expect(statSync(socket).mode & 0o777).toBe(0o600);
    expect(await roundTrip(() => net.connect(socket), 'one')).toBe('echo:one');
    expect(await roundTrip(() => net.connect(relayPort, '127.0.0.1'), 'two')).toBe('echo:two');
  } finally {
    await toSocket.close();
    await toPort.close();
    echo.server.close();
  }
});

it('close() returns while a connection is still open (a watch never ends by itself), and cuts it', async () => {
  const echo = await echoServer();
  const socket = path.join(dir, 'echo.sock');
  const f = await forward({ socket }, { port: echo.port });
  const held = net.connect(socket);
  const reply = new Promise((resolve) => held.once('data', (d) => resolve(d.toString())));
  held.write('watch');
  expect(await reply).toBe('echo:watch');
  const closed = new Promise((resolve) => held.once('close', resolve));
  await f.close();
  await closed;
  echo.server.close();
});
