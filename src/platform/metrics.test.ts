import { describe, expect, it } from 'vitest';
import { createMetrics } from './metrics.js';

describe('build_info', () => {
  it('is 1, labelled with the version, the source revision and the Node.js version', async () => {
    const metrics = createMetrics({ defaultMetrics: false, build: { version: '1.2.3', revision: '0123abc' } });
    expect(await metrics.registry.getSingleMetricAsString('build_info')).toContain(
      `build_info{version="1.2.3",revision="0123abc",nodejs="${process.version}"} 1`,
    );
  });
});
