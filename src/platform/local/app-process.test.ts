import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { smokeRequest, smokeTestCommand } from './app-process.ts';

const servers: http.Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
});

/** A real loopback server answering POST /sms with `status`; its port. */
async function answering(status: number): Promise<number> {
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(status).end());
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

describe('the smoke test', () => {
  const command = smokeTestCommand('sms-checker', 'canary-mttr');

  it("is the flagger chart's curl command against the canary Service", () => {
    expect(command).toBe(
      `curl -sf -X POST -d '{"sms":"smoke test"}' -H 'content-type: application/json' http://sms-checker-canary.canary-mttr:8080/sms`,
    );
  });

  it("fails as flagger-loadtester reports curl -sf's exit: 22 on an error answer, 7 when it cannot connect", async () => {
    expect(await smokeRequest(await answering(200), 5_000, command)).toBeUndefined();
    expect(await smokeRequest(await answering(500), 5_000, command)).toBe(
      `command ${command} failed: : exit status 22`,
    );
    // A port nobody listens on any more: connection refused.
    const closed = await answering(200);
    await new Promise((resolve) => servers.pop()!.close(resolve));
    expect(await smokeRequest(closed, 5_000, command)).toBe(`command ${command} failed: : exit status 7`);
  });
});
