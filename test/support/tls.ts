/**
 * Test certificates made with openssl: a CA, a server certificate it signs (for `localhost` only, no IP address), and
 * a second, unrelated CA that must not be trusted.
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

export interface TestCertificates {
  readonly dir: string;
  readonly caFile: string;
  readonly otherCaFile: string;
  readonly certFile: string;
  readonly keyFile: string;
}

export async function createTestCertificates(): Promise<TestCertificates> {
  const dir = await mkdtemp(path.join(tmpdir(), 'customer-service-tls-'));
  const file = (name: string) => path.join(dir, name);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  for (const ca of ['ca', 'other-ca']) {
    openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', `/CN=customer-service test ${ca}`, '-keyout', file(`${ca}.key`), '-out', file(`${ca}.pem`));
  }
  openssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-keyout', file('server.key'), '-out', file('server.csr'));
  const extensions = file('server.ext');
  execFileSync('sh', ['-c', `printf 'subjectAltName=DNS:localhost\\nextendedKeyUsage=serverAuth\\n' > '${extensions}'`]);
  openssl('x509', '-req', '-in', file('server.csr'), '-CA', file('ca.pem'), '-CAkey', file('ca.key'), '-CAcreateserial', '-days', '2', '-extfile', extensions, '-out', file('server.pem'));
  return { dir, caFile: file('ca.pem'), otherCaFile: file('other-ca.pem'), certFile: file('server.pem'), keyFile: file('server.key') };
}
