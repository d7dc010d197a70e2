/**
 * A progress indicator on stderr (so stdout stays clean for tables and JSON), silent when stderr
 * is not a terminal unless forced.
 * @module
 */
import cliProgress from 'cli-progress';

/** A progress bar with a label that can change as the work moves on. */
export interface Progress {
  update(done: number, label?: string): void;
  stop(): void;
}

/** Starts a progress bar of `total` steps. */
export function startProgress(total: number, label: string): Progress {
  if (!process.stderr.isTTY) {
    // Not a terminal (CI logs, pipes): one line per label change instead of a redrawn bar.
    let last = '';
    return {
      update(_done, next) {
        if (next && next !== last) {
          last = next;
          process.stderr.write(`… ${next}\n`);
        }
      },
      stop() {},
    };
  }
  const bar = new cliProgress.SingleBar(
    { format: '{bar} {percentage}% | {value}/{total} | {label}', stream: process.stderr, hideCursor: true, clearOnComplete: true },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total, 0, { label });
  return {
    update(done, next) {
      bar.update(done, next ? { label: next } : {});
    },
    stop() {
      bar.stop();
    },
  };
}
