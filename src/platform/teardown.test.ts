import { describe, expect, it } from 'vitest';
import { createTeardown, orTearDown } from './teardown.js';

describe('teardown', () => {
  it('stops what started in reverse order, once', async () => {
    const stopped: string[] = [];
    const teardown = createTeardown();
    for (const name of ['tracing', 'database', 'read model']) teardown.defer(() => void stopped.push(name));
    await Promise.all([teardown.run(), teardown.run()]);
    expect(stopped).toEqual(['read model', 'database', 'tracing']);
  });

  it('runs every step when one fails, and throws the first failure at the end', async () => {
    const stopped: string[] = [];
    const teardown = createTeardown();
    teardown.defer(() => void stopped.push('database'));
    teardown.defer(() => Promise.reject(new Error('broker gone')));
    teardown.defer(() => void stopped.push('listener'));
    await expect(teardown.run()).rejects.toThrow('broker gone');
    expect(stopped).toEqual(['listener', 'database']);
  });

  it('tears down what started before a start that failed, and rethrows its error', async () => {
    const stopped: string[] = [];
    const teardown = createTeardown();
    teardown.defer(() => void stopped.push('database'));
    await expect(orTearDown(teardown, () => Promise.reject(new Error('port in use')))).rejects.toThrow('port in use');
    expect(stopped).toEqual(['database']);
  });
});
