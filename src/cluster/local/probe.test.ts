import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect, it } from 'vitest';
import { httpGet } from './probe.ts';

it('a request with an Authorization header and no CA is refused before any connection is made', async () => {
  let connections = 0;
  const server = http.createServer((_req, res) => res.end('ok'));
  server.on('connection', () => connections++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  try {
    const auth = { headers: { Authorization: 'Bearer secret' } };
    expect(() => httpGet(`http://127.0.0.1:${port}/readyz`, auth)).toThrow(
      `httpGet http://127.0.0.1:${port}/readyz: a credential is sent only over TLS checked against a CA`,
    );
    expect(() => httpGet(`https://127.0.0.1:${port}/readyz`, { headers: { authorization: 'Bearer secret' } })).toThrow(
      /only over TLS checked against a CA/,
    );
    expect(() => httpGet(`http://127.0.0.1:${port}/readyz`, { ...auth, ca: 'PEM' })).toThrow(
      /only over TLS checked against a CA/,
    );
    // The same probe without the header goes through: the server was there to be reached.
    expect(await httpGet(`http://127.0.0.1:${port}/readyz`)).toEqual({ status: 200, body: 'ok' });
    expect(connections).toBe(1);
  } finally {
    server.close();
  }
});
