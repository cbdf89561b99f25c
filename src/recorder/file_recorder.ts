import type { RecorderConfig } from "../config/types.ts";
import type { Logger } from "../util/log.ts";
import { dirOf, makePrivateDir } from "../util/private_files.ts";
import { QueuedRecorder } from "./queued_recorder.ts";

const encoder = new TextEncoder();

/** A regular file (not a link, a device or a FIFO) of this user's (`uid`: its owner, if known). */
function ownRegularFile(link: Deno.FileInfo, uid = link.uid): boolean {
  const me = Deno.uid();
  return link.isFile && !link.isSymlink && (me === null || uid === me);
}

/**
 * GOST's `file` recorder: each record followed by `sep` (nothing when unset, as GOST),
 * appended to `path`. With `rotation.maxSize` (MB) the file is renamed to `path.1` (older
 * ones shifted up to `maxBackups`, 0 or unset keeps up to 100) when it would grow past it.
 */
export class FileRecorder extends QueuedRecorder {
  readonly kind = "file";
  #file: Deno.FsFile | null = null;
  #size = 0;
  /** Whether the path is a regular file (else it is neither chmodded nor rotated). */
  #regular = true;

  constructor(readonly config: Extract<RecorderConfig, { kind: "file" }>, log: Logger) {
    super(config.name, config.queueSize, log);
  }

  async #open(): Promise<Deno.FsFile> {
    if (this.#file) return this.#file;
    const path = this.config.file.path;
    // Records hold decrypted traffic: the file is 0600 (a file from before is made so too;
    // the rotated ones keep its mode), a directory snoop makes for it 0700.
    const dir = dirOf(path);
    if (dir) await makePrivateDir(dir);
    this.#file = await Deno.open(path, { append: true, create: true, mode: 0o600 });
    const info = await this.#file.stat();
    // Only a regular file of this user's, named by the path itself, is snoop's to make
    // private or to rotate: a path such as /dev/null or a FIFO is the system's, a symlink
    // may point at anything, and chmod as root would close them to everyone else.
    this.#regular = info.isFile && ownRegularFile(await Deno.lstat(path), info.uid);
    if (this.#regular && Deno.build.os !== "windows") await Deno.chmod(path, 0o600);
    this.#size = info.size;
    return this.#file;
  }

  async #rotate(): Promise<void> {
    const { path } = this.config.file;
    const keep = Math.min(this.config.file.rotation?.maxBackups || 100, 100);
    this.#file?.close();
    this.#file = null;
    const windows = Deno.build.os === "windows";
    for (let i = keep - 1; i >= 1; i--) {
      // Backups an older snoop rotated may not be private yet.
      await Deno.rename(`${path}.${i}`, `${path}.${i + 1}`).then(async () => {
        const backup = `${path}.${i + 1}`;
        if (!windows && ownRegularFile(await Deno.lstat(backup))) await Deno.chmod(backup, 0o600);
      }).catch(() => {});
    }
    await Deno.rename(path, `${path}.1`);
  }

  protected async deliver(batch: string[]): Promise<number> {
    const sep = this.config.file.sep;
    const bytes = encoder.encode(batch.map((r) => r + sep).join(""));
    const max = (this.config.file.rotation?.maxSizeMB ?? 0) * 1024 * 1024;
    let file = await this.#open();
    if (this.#regular && max > 0 && this.#size > 0 && this.#size + bytes.length > max) {
      await this.#rotate();
      file = await this.#open();
    }
    let off = 0;
    while (off < bytes.length) off += await file.write(bytes.subarray(off));
    this.#size += bytes.length;
    return 0;
  }

  protected shutdown(): void {
    this.#file?.close();
    this.#file = null;
  }
}
