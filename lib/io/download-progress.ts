/**
 * The download's progress bar on stderr. cli-progress is imported only when a bar is shown, so that
 * importing the library costs nothing for it, and a missing cli-progress costs only the bar.
 * @module
 */

/** What the downloader tells the bar. */
export interface DownloadProgress {
  update(done: number, total: number | undefined): void;
  stop(): void;
}

/** A bar labelled `label`, or null when `enabled` is false or cli-progress cannot be loaded. */
export async function startDownloadProgress(enabled: boolean, label: string): Promise<DownloadProgress | null> {
  if (!enabled) return null;
  let cliProgress: typeof import('cli-progress');
  try {
    cliProgress = (await import('cli-progress')).default;
  } catch {
    return null;
  }
  const bar = new cliProgress.SingleBar(
    {
      format: `{bar} {percentage}% | {done}/{size} MB | ${label}`,
      stream: process.stderr,
      hideCursor: true,
      clearOnComplete: true,
      noTTYOutput: !process.stderr.isTTY,
      notTTYSchedule: 2000,
    },
    cliProgress.Presets.shades_classic,
  );
  const mb = (n: number) => (n / 2 ** 20).toFixed(1);
  let started = false;
  return {
    update(done, total) {
      if (total === undefined) return;
      if (!started) {
        bar.start(total, done, { done: mb(done), size: mb(total) });
        started = true;
      } else {
        bar.setTotal(total);
        bar.update(done, { done: mb(done), size: mb(total) });
      }
    },
    stop() {
      if (started) bar.stop();
    },
  };
}
