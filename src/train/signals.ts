/**
 * Ctrl-C (SIGINT) and SIGTERM during training: the first one asks the loop to stop after the current
 * step and write a checkpoint; a second one quits at once (checkpoints are atomic, so that is safe too).
 */
export class StopSignal {
  requested = false;
  private count = 0;
  private readonly handler = (signal: NodeJS.Signals): void => {
    this.count++;
    if (this.count === 1) {
      this.requested = true;
      this.say(`\n${signal}: stopping after this step and writing a checkpoint (again to quit at once)`);
    } else {
      process.exit(130);
    }
  };
  constructor(
    private readonly install: boolean,
    private readonly say: (msg: string) => void,
  ) {
    if (install) {
      process.on('SIGINT', this.handler);
      process.on('SIGTERM', this.handler);
    }
  }
  dispose(): void {
    if (!this.install) return;
    process.off('SIGINT', this.handler);
    process.off('SIGTERM', this.handler);
  }
}
