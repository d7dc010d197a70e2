/**
 * The server's metrics: after a known sequence of calls, the rendered Prometheus text (parsed here) holds
 * exactly the expected Triton counters, gauge and histogram, and `statistics()` Triton's JSON.
 */
import { register as globalRegistry } from 'prom-client';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ServerMetrics } from '../../lib/server/metrics.js';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses the Prometheus text exposition format (samples only; label values without escapes). */
function parseExposition(text: string): { samples: Sample[]; types: Map<string, string> } {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (type) types.set(type[1]!, type[2]!);
    if (line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match) throw new Error(`unparsed line: ${line}`);
    const labels: Record<string, string> = {};
    for (const pair of (match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="([^"]*)"/g)) labels[pair[1]!] = pair[2]!;
    samples.push({ name: match[1]!, labels, value: Number(match[3]) });
  }
  return { samples, types };
}

/** The one sample of `name` whose labels are exactly `labels`; undefined when there is none. */
function valueOf(samples: Sample[], name: string, labels: Record<string, string>): number | undefined {
  const found = samples.filter((s) => s.name === name && JSON.stringify(Object.entries(s.labels).sort()) === JSON.stringify(Object.entries(labels).sort()));
  expect(found.length).toBeLessThanOrEqual(1);
  return found[0]?.value;
}

const r20 = { model: 'resnet20', version: '1' };
const r18 = { model: 'resnet18', version: '2' };

/** A known sequence: two successes, three failures and two batches on resnet20; one success on resnet18. */
function recordSequence(metrics: ServerMetrics): void {
  metrics.requestSucceeded('resnet20', '1', {
    requestMicroseconds: 3000, queueMicroseconds: 1000, computeInputMicroseconds: 200,
    computeInferMicroseconds: 1500, computeOutputMicroseconds: 100, inferenceCount: 2,
  });
  metrics.requestSucceeded('resnet20', '1', {
    requestMicroseconds: 20_000, queueMicroseconds: 4000, computeInputMicroseconds: 300,
    computeInferMicroseconds: 1500, computeOutputMicroseconds: 150, inferenceCount: 1,
  });
  metrics.requestFailed('resnet20', '1', 'REJECTED', 50);
  metrics.requestFailed('resnet20', '1', 'REJECTED', 70);
  metrics.requestFailed('resnet20', '1', 'CANCELED', 900);
  metrics.batchExecuted('resnet20', '1', 3, 1500);
  metrics.batchExecuted('resnet20', '1', 1, 400);
  metrics.requestSucceeded('resnet18', '2', {
    requestMicroseconds: 7000, queueMicroseconds: 10, computeInputMicroseconds: 20,
    computeInferMicroseconds: 6000, computeOutputMicroseconds: 30, inferenceCount: 4,
  });
  metrics.batchExecuted('resnet18', '2', 4, 6000);
  // Client-supplied names of models never registered are not counted.
  metrics.requestFailed('nosuchmodel', '1', 'OTHER', 10);
  metrics.requestSucceeded('resnet20', '9', {
    requestMicroseconds: 1, queueMicroseconds: 1, computeInputMicroseconds: 1,
    computeInferMicroseconds: 1, computeOutputMicroseconds: 1, inferenceCount: 1,
  });
}

afterEach(() => {
  vi.useRealTimers();
});

describe('ServerMetrics', () => {
  it('renders Triton counters with exact cumulative values after a known sequence', async () => {
    const metrics = new ServerMetrics();
    metrics.registerModel('resnet20', '1', () => 0);
    metrics.registerModel('resnet18', '2', () => 0);
    recordSequence(metrics);
    const rendered = await metrics.render();
    expect(rendered.contentType).toMatch(/^text\/plain; version=0\.0\.4/);
    const { samples, types } = parseExposition(rendered.body);
    const expected: [string, Record<string, string>, number][] = [
      ['nv_inference_request_success', r20, 2],
      ['nv_inference_request_failure', { ...r20, reason: 'REJECTED' }, 2],
      ['nv_inference_request_failure', { ...r20, reason: 'CANCELED' }, 1],
      ['nv_inference_request_failure', { ...r20, reason: 'BACKEND' }, 0],
      ['nv_inference_request_failure', { ...r20, reason: 'OTHER' }, 0],
      ['nv_inference_count', r20, 3],
      ['nv_inference_exec_count', r20, 2],
      ['nv_inference_request_duration_us', r20, 23_000],
      ['nv_inference_queue_duration_us', r20, 5000],
      ['nv_inference_compute_input_duration_us', r20, 500],
      ['nv_inference_compute_infer_duration_us', r20, 3000],
      ['nv_inference_compute_output_duration_us', r20, 250],
      ['nv_inference_request_success', r18, 1],
      ['nv_inference_request_failure', { ...r18, reason: 'REJECTED' }, 0],
      ['nv_inference_count', r18, 4],
      ['nv_inference_exec_count', r18, 1],
      ['nv_inference_request_duration_us', r18, 7000],
      ['nv_inference_compute_infer_duration_us', r18, 6000],
    ];
    for (const [name, labels, value] of expected) {
      expect([name, labels, valueOf(samples, name, labels)]).toEqual([name, labels, value]);
    }
    for (const name of ['nv_inference_request_success', 'nv_inference_count', 'nv_inference_queue_duration_us']) {
      expect(types.get(name)).toBe('counter');
    }
    expect(samples.filter((s) => s.labels.model === 'nosuchmodel' || s.labels.version === '9')).toEqual([]);
  });

  it('shows a registered model at zero before any request', async () => {
    const metrics = new ServerMetrics();
    metrics.registerModel('resnet20', '1', () => 0);
    const { samples } = parseExposition((await metrics.render()).body);
    expect(valueOf(samples, 'nv_inference_request_success', r20)).toBe(0);
    expect(valueOf(samples, 'nv_inference_request_failure', { ...r20, reason: 'CANCELED' })).toBe(0);
    expect(valueOf(samples, 'resnet_inference_request_duration_seconds_count', r20)).toBe(0);
  });

  it('reads the pending gauge from the model at each scrape', async () => {
    const metrics = new ServerMetrics();
    let pending = 5;
    metrics.registerModel('resnet20', '1', () => pending);
    const first = parseExposition((await metrics.render()).body);
    expect(first.types.get('nv_inference_pending_request_count')).toBe('gauge');
    expect(valueOf(first.samples, 'nv_inference_pending_request_count', r20)).toBe(5);
    pending = 0;
    expect(valueOf(parseExposition((await metrics.render()).body).samples, 'nv_inference_pending_request_count', r20)).toBe(0);
    // Registering again (a reload) replaces the source and keeps the counts.
    metrics.requestSucceeded('resnet20', '1', {
      requestMicroseconds: 10, queueMicroseconds: 1, computeInputMicroseconds: 1,
      computeInferMicroseconds: 1, computeOutputMicroseconds: 1, inferenceCount: 1,
    });
    metrics.registerModel('resnet20', '1', () => 3);
    const after = parseExposition((await metrics.render()).body).samples;
    expect(valueOf(after, 'nv_inference_pending_request_count', r20)).toBe(3);
    expect(valueOf(after, 'nv_inference_request_success', r20)).toBe(1);
  });

  it('keeps a request-duration histogram in seconds of successful requests', async () => {
    const metrics = new ServerMetrics();
    metrics.registerModel('resnet20', '1', () => 0);
    metrics.registerModel('resnet18', '2', () => 0);
    recordSequence(metrics);
    const { samples, types } = parseExposition((await metrics.render()).body);
    const name = 'resnet_inference_request_duration_seconds';
    expect(types.get(name)).toBe('histogram');
    expect(valueOf(samples, `${name}_count`, r20)).toBe(2);
    expect(valueOf(samples, `${name}_sum`, r20)).toBeCloseTo(0.023, 12);
    expect(valueOf(samples, `${name}_bucket`, { ...r20, le: '0.001' })).toBe(0);
    expect(valueOf(samples, `${name}_bucket`, { ...r20, le: '0.005' })).toBe(1);
    expect(valueOf(samples, `${name}_bucket`, { ...r20, le: '0.025' })).toBe(2);
    expect(valueOf(samples, `${name}_bucket`, { ...r20, le: '+Inf' })).toBe(2);
    expect(valueOf(samples, `${name}_bucket`, { ...r18, le: '0.01' })).toBe(1);
  });

  it('includes process memory and CPU, in its own registry rather than the global one', async () => {
    const metrics = new ServerMetrics();
    const other = new ServerMetrics();
    metrics.registerModel('resnet20', '1', () => 0);
    other.registerModel('resnet18', '2', () => 0);
    metrics.batchExecuted('resnet20', '1', 1, 10);
    other.batchExecuted('resnet18', '2', 1, 10);
    const { samples } = parseExposition((await metrics.render()).body);
    for (const name of ['process_resident_memory_bytes', 'nodejs_heap_size_used_bytes', 'process_cpu_seconds_total']) {
      expect(samples.find((s) => s.name === name)?.value, name).toBeGreaterThan(0);
    }
    expect(valueOf(samples, 'nv_inference_exec_count', r20)).toBe(1);
    expect(samples.some((s) => s.labels.model === 'resnet18')).toBe(false);
    expect(globalRegistry.getSingleMetric('nv_inference_count')).toBeUndefined();
  });

  it("answers Triton's statistics JSON, filtered by model and version", () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(1_700_000_000_123);
    const metrics = new ServerMetrics();
    metrics.registerModel('resnet20', '1', () => 0);
    metrics.registerModel('resnet18', '2', () => 0);
    recordSequence(metrics);
    const resnet20 = {
      name: 'resnet20',
      version: '1',
      last_inference: 1_700_000_000_123,
      inference_count: 3,
      execution_count: 2,
      inference_stats: {
        success: { count: 2, ns: 23_000_000 },
        fail: { count: 3, ns: 1_020_000 },
        queue: { count: 2, ns: 5_000_000 },
        compute_input: { count: 2, ns: 500_000 },
        compute_infer: { count: 2, ns: 3_000_000 },
        compute_output: { count: 2, ns: 250_000 },
        cache_hit: { count: 0, ns: 0 },
        cache_miss: { count: 0, ns: 0 },
      },
      batch_stats: [
        { batch_size: 1, compute_infer: { count: 1, ns: 400_000 } },
        { batch_size: 3, compute_infer: { count: 1, ns: 1_500_000 } },
      ],
    };
    expect(metrics.statistics('resnet20')).toEqual({ model_stats: [resnet20] });
    expect(metrics.statistics('resnet20', '1')).toEqual({ model_stats: [resnet20] });
    expect(metrics.statistics('resnet20', '2')).toEqual({ model_stats: [] });
    const all = metrics.statistics();
    expect(all.model_stats.map((s) => [s.name, s.version, s.inference_count, s.execution_count])).toEqual([
      ['resnet20', '1', 3, 2],
      ['resnet18', '2', 4, 1],
    ]);
    expect(all.model_stats[1]!.batch_stats).toEqual([{ batch_size: 4, compute_infer: { count: 1, ns: 6_000_000 } }]);
    // A model never asked anything reports last_inference 0, as Triton.
    const idle = new ServerMetrics();
    idle.registerModel('resnet20', '1', () => 0);
    expect(idle.statistics().model_stats[0]!.last_inference).toBe(0);
  });
});
