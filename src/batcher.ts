/**
 * Collects items pushed during one turn of the event loop and hands them to `sink` together
 * (one round trip for many writes). Flushes run one at a time; a failing sink is reported to
 * `onError` and the batch is dropped (the writes it makes are best-effort records).
 *
 * @internal
 */
export class Batcher<T> {
  private items: T[] = [];
  private flushing: Promise<void> | undefined;

  constructor(
    private readonly sink: (items: T[]) => Promise<void>,
    private readonly onError: (err: unknown, count: number) => void,
  ) {}

  /** Queues an item for the next flush. */
  push(item: T): void {
    this.items.push(item);
    this.flushing ??= new Promise<void>((resolve) => setImmediate(resolve)).then(() => this.drain());
  }

  /** Writes everything queued so far. */
  async flush(): Promise<void> {
    await this.flushing;
    await this.drain();
  }

  private async drain(): Promise<void> {
    while (this.items.length > 0) {
      const batch = this.items;
      this.items = [];
      try {
        await this.sink(batch);
      } catch (err) {
        this.onError(err, batch.length);
      }
    }
    this.flushing = undefined;
  }
}
