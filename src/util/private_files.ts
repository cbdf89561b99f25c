/**
 * Files that hold recorded traffic or keys are the user's alone: directories 0700, files
 * 0600, whatever the umask. The mode given at creation is masked by the umask (which can only
 * take bits away), so each is also set with chmod, which is not. Directories that existed
 * before are left as they are (a store in /tmp must not make /tmp private); files are
 * snoop's own, and made private even when they already existed.
 *
 * Windows has no modes: there, nothing is changed.
 */

const posix = Deno.build.os !== "windows";

/** The directories from `dir` up that do not exist yet, outermost first. */
function missingDirs(dir: string): string[] {
  const missing: string[] = [];
  for (let d = dir; d && d !== "/" && d !== "."; d = d.replace(/\/+[^/]*$/, "")) {
    try {
      Deno.statSync(d);
      break;
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
      missing.unshift(d);
    }
    if (!d.includes("/")) break;
  }
  return missing;
}

/** Creates `dir` and its missing parents, each 0700. */
export function makePrivateDirSync(dir: string): void {
  const missing = missingDirs(dir);
  Deno.mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (posix) { for (const d of missing) Deno.chmodSync(d, 0o700); }
}

/** Creates `dir` and its missing parents, each 0700. */
export async function makePrivateDir(dir: string): Promise<void> {
  const missing = missingDirs(dir);
  await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  if (posix) { for (const d of missing) await Deno.chmod(d, 0o700); }
}

/** The directory part of a path, or "" when it has none. */
export function dirOf(path: string): string {
  const i = path.lastIndexOf("/");
  return i > 0 ? path.slice(0, i) : "";
}

/**
 * Creates `path` (empty) if missing, and makes it 0600 either way; a file of another user's,
 * which only its owner can chmod, is left as it is.
 */
export function makePrivateFileSync(path: string): void {
  Deno.openSync(path, { create: true, write: true, mode: 0o600 }).close();
  // A device or a FIFO (/dev/null) is the system's, and a symlink may point at anything:
  // chmod as root would close them to others.
  if (!posix || !Deno.lstatSync(path).isFile) return;
  try {
    Deno.chmodSync(path, 0o600);
  } catch (e) {
    if (!(e instanceof Deno.errors.PermissionDenied)) throw e;
  }
}

/** Makes `path` 0600 if it exists (and is not another user's). */
export function makePrivateIfExistsSync(path: string): void {
  if (!posix) return;
  try {
    if (!Deno.lstatSync(path).isFile) return;
    Deno.chmodSync(path, 0o600);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound || e instanceof Deno.errors.PermissionDenied)) throw e;
  }
}

/**
 * snoop's own data directory (the main job's, `snoop collect`'s): created 0700 when missing,
 * and made 0700 when it exists with wider modes and belongs to this user (an older snoop
 * made it 0755). Returns the mode it had when it was tightened, else null.
 */
export async function makeDataDirPrivate(dir: string): Promise<number | null> {
  await makePrivateDir(dir);
  if (!posix) return null;
  const info = await Deno.stat(dir);
  const mode = (info.mode ?? 0) & 0o777;
  if ((mode & 0o077) === 0 || info.uid !== Deno.uid()) return null;
  await Deno.chmod(dir, 0o700);
  return mode;
}
