export interface UploaderElements {
  box: HTMLElement;
  name: HTMLElement;
  bar: HTMLProgressElement;
  percent: HTMLElement;
}

type Progress = (sent: number, total: number) => void;

/** The upload progress bar: one upload at a time, 100% only once the server confirmed. */
export class Uploader {
  private busy = false;
  private hideTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(private readonly el: UploaderElements) {}

  async run<T>(file: File, start: (progress: Progress) => Promise<T>): Promise<T> {
    if (this.busy) throw new Error("an upload is already running; wait for it to finish");
    this.busy = true;
    clearTimeout(this.hideTimer);
    this.el.name.textContent = file.name;
    this.el.box.hidden = false;
    this.set("uploading", 0);
    try {
      // The last percent waits for the server's answer: bytes handed over are not bytes stored.
      const result = await start((sent, total) =>
        this.set("uploading", total > 0 ? Math.min(99, Math.floor((sent / total) * 100)) : 99),
      );
      this.set("done", 100);
      this.hideLater(3_000);
      return result;
    } catch (err) {
      this.set("error", Number(this.el.bar.value));
      this.hideLater(0);
      throw err;
    } finally {
      this.busy = false;
    }
  }

  reset(): void {
    this.hideLater(0);
  }

  private set(state: "uploading" | "done" | "error", percent: number): void {
    this.el.box.dataset["state"] = state;
    this.el.bar.value = percent;
    this.el.percent.textContent = state === "done" ? "Done" : `${percent}%`;
  }

  private hideLater(ms: number): void {
    clearTimeout(this.hideTimer);
    this.hideTimer = setTimeout(() => {
      this.el.box.hidden = true;
    }, ms);
  }
}
