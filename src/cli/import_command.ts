import { parseArgs } from "node:util";
import { recordProblem } from "../collector/record_shape.ts";
import { dataDir } from "../app/main_job.ts";
import { newSid } from "../record/sid.ts";
import { MAX_HAR_ENTRIES, recordsFromHar } from "../store/har.ts";
import { RecordStore } from "../store/record_store.ts";

/** The largest HAR file read. */
const MAX_FILE_BYTES = 512 << 20;
const MAX_FILE_TEXT = `${MAX_FILE_BYTES >> 20} MiB`;

export const IMPORT_USAGE = `snoop import — put the requests of a HAR file into a store

Usage:
  snoop import FILE.har [--store FILE]

Reads a HAR 1.2 file (saved from browser devtools, mitmproxy, HTTP Toolkit or snoop) and
stores each entry as a record of service "import" (bodies base64, timings kept) in the
store, by default the main job's (<data>/records.db), where the web UI searches it.
Entries that do not fit are skipped and named. At most ${MAX_HAR_ENTRIES} entries and
${MAX_FILE_TEXT} per file.`;

export async function importCommand(args: string[]): Promise<number> {
  let v;
  try {
    v = parseArgs({
      args,
      allowPositionals: true,
      options: { store: { type: "string" }, help: { type: "boolean", short: "h" } },
    });
  } catch (e) {
    console.error(`snoop import: ${(e as Error).message}\n\n${IMPORT_USAGE}`);
    return 2;
  }
  if (v.values.help) {
    console.log(IMPORT_USAGE);
    return 0;
  }
  if (v.positionals.length !== 1) {
    console.error(`snoop import: name one HAR file\n\n${IMPORT_USAGE}`);
    return 2;
  }
  const file = v.positionals[0];
  let text: string;
  try {
    const size = (await Deno.stat(file)).size;
    if (size > MAX_FILE_BYTES) {
      console.error(`snoop import: ${file} is over ${MAX_FILE_TEXT}`);
      return 1;
    }
    text = await Deno.readTextFile(file);
  } catch (e) {
    console.error(`snoop import: ${file}: ${(e as Error).message}`);
    return 1;
  }
  let parsed;
  try {
    parsed = recordsFromHar(JSON.parse(text), () => newSid());
  } catch (e) {
    console.error(`snoop import: ${file}: ${(e as Error).message}`);
    return 1;
  }
  const { records, errors } = parsed;
  // The records are made here, but checked as the collector checks what peers send.
  const good = records.filter((r, i) => {
    const problem = recordProblem(JSON.parse(r), `records[${i}]`);
    if (problem) errors.push(problem);
    return !problem;
  });
  const path = v.values.store ?? `${dataDir()}/records.db`;
  const store = new RecordStore(path);
  let stored = 0;
  try {
    for (let i = 0; i < good.length; i += 500) stored += store.insertBatch(good.slice(i, i + 500));
  } finally {
    store.close();
  }
  for (const e of errors.slice(0, 20)) console.error(`snoop import: skipped ${e}`);
  if (errors.length > 20) console.error(`snoop import: … and ${errors.length - 20} more skipped`);
  console.log(`imported ${stored} records from ${file} into ${path}`);
  return stored > 0 || good.length === 0 && errors.length === 0 ? 0 : 1;
}
